"""A bug in the agent's main loop ends the agent as a stop does, before the error ends it."""

from __future__ import annotations

import threading
from pathlib import Path

import psutil
import pytest

from cloud.bundle import CA_FILE, Bundle
from device.agent import Agent, AgentEvent
from device.config import AgentConfig
from device.messages import PipelineState
from device.supervisor import StateChanged
from stack.endpoint.ca import LocalCA
from tests.support.ports import free_ports


def _config(tmp_path: Path) -> AgentConfig:
    """A camera's identity made as registration makes it: its own key, signed by the local CA."""
    ca = LocalCA.load_or_create(tmp_path / "ca")
    bundle = Bundle(tmp_path / "bundle")
    bundle.ensure_dir()
    bundle.write_certificate(ca.sign_csr(bundle.csr("porch")), "arn:aws:iot:::cert/porch")
    bundle.write_ca(ca.cert_pem)
    fragments = tmp_path / "fragments"
    fragments.mkdir()
    return AgentConfig.model_validate(
        {
            "camera_id": "porch",
            "mqtt": {
                # Nobody listens: the link keeps retrying, which the failure must not wait for.
                "endpoint": "127.0.0.1",
                "port": free_ports(1)[0],
                "client_id": "porch",
                "cert": str(bundle.cert_path),
                "key": str(bundle.key_path),
                "ca": str(bundle.dir / CA_FILE),
            },
            "aws": {"region": "eu-west-1", "credentials_endpoint": "c.local", "role_alias": "r"},
            "source": {"width": 160, "height": 120, "fps": 10},
            "sink": {"kind": "local", "stream_name": "porch", "fragment_dir": str(fragments)},
            "state_dir": str(tmp_path / "state"),
        }
    )


def test_a_failing_main_loop_stops_the_pipeline_before_the_error_ends_the_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path)
    agent = Agent(config)
    children: list[int] = []

    def handle(event: AgentEvent) -> bool:
        if isinstance(event, StateChanged) and event.state is PipelineState.RUNNING:
            pid = agent.supervisor.child_pid
            assert pid is not None
            children.append(pid)
            raise RuntimeError("a bug in the main loop")
        return False

    monkeypatch.setattr(agent, "_handle", handle)
    with pytest.raises(RuntimeError, match="a bug in the main loop"):
        agent.run()

    assert len(children) == 1
    assert not psutil.pid_exists(children[0])  # ended by EOS and reaped, not left streaming
    assert agent.supervisor.state is PipelineState.STOPPED
    fragments = config.sink.fragment_dir
    assert fragments is not None
    assert list(fragments.glob("*.mkv"))  # the last one finished by EOS, not cut short
    assert list(fragments.rglob("*.partial")) == []
    # Nothing left that would keep the process alive after the error.
    assert [t.name for t in threading.enumerate() if t.name.startswith("pipeline")] == []
