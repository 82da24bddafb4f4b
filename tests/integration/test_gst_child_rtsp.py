"""gst_child.py against a real RTSP server with basic auth (GstRtspServer, tests/support).

The password reaches rtspsrc over the child's stdin: never its command line, its environment
or its output.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from device.gst_output import (
    Buffer,
    EndOfStream,
    FragmentClosed,
    MissingElement,
    MotionBegan,
    PipelineError,
    Playing,
)
from device.pipeline import GST_CHILD, build_pipeline
from device.rtsp_credentials import RtspCredentials
from tests.integration.test_gst_pipeline import (
    GI_PYTHON,
    Child,
    agent_config,
    check_buffers,
    check_fragments,
)
from tests.support.ports import free_ports

SERVER = Path(__file__).parents[1] / "support" / "rtsp_server.py"
USER = "viewer"
PASSWORD = 'c0rrect "horse" battery:staple'


@pytest.fixture
def camera_uri() -> Iterator[str]:
    """An RTSP camera: a moving ball, 320x240 at 15 fps, a keyframe every second."""
    (port,) = free_ports(1)
    server = subprocess.Popen(
        [GI_PYTHON, str(SERVER), "--port", str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write(f"{USER}:{PASSWORD}\n")
    server.stdin.close()
    try:
        ready = server.stdout.readline().split()
        assert ready[:1] == ["READY"], f"the RTSP server did not start: {ready}"
        yield ready[1]
    finally:
        server.terminate()
        server.wait(10)


def credentials(password: str) -> RtspCredentials:
    return RtspCredentials(user=USER, password=SecretStr(password))


def test_the_child_records_and_detects_motion_without_showing_the_password(
    camera_uri: str, tmp_path: Path
) -> None:
    config = agent_config(
        tmp_path,
        source={"kind": "rtsp", "uri": camera_uri},
        sink={
            "kind": "local",
            "stream_name": "porch",
            "fragment_dir": str(tmp_path),
            "fragment_seconds": 1,
        },
    )
    plan = build_pipeline(config, tmp_path, credentials(PASSWORD))
    assert plan.argv == (GI_PYTHON, str(GST_CHILD))
    # The agent's environment holds the password (FLEET_AGENT_SOURCE__PASSWORD); the child's
    # must not.
    agent_env = {
        **os.environ,
        "FLEET_AGENT_SOURCE__USERNAME": USER,
        "FLEET_AGENT_SOURCE__PASSWORD": PASSWORD,
    }
    child = Child(plan, agent_env)
    child.wait_for(Buffer, count=15)
    secret = PASSWORD.encode()
    proc = Path("/proc", str(child.proc.pid))
    assert secret not in (proc / "cmdline").read_bytes()
    assert secret not in (proc / "environ").read_bytes()
    assert b"FLEET_AGENT_" not in (proc / "environ").read_bytes()

    child.wait_for(FragmentClosed, count=3, timeout=10)
    assert child.interrupt() == 0, child.output()

    assert isinstance(child.events[0], Playing)
    assert isinstance(child.events[-1], EndOfStream)
    assert child.of(MotionBegan), child.output()  # the motion branch decodes the camera's H.264
    assert not child.of(PipelineError)
    check_buffers(child.of(Buffer), fps=15, keyframe_interval=15)
    check_fragments(child, tmp_path, fps=15, seconds=1)
    assert not any(PASSWORD in line or "user-pw" in line for line in child.lines)


def test_a_wrong_password_is_unauthorized(camera_uri: str, tmp_path: Path) -> None:
    wrong = "not the password"
    config = agent_config(tmp_path, source={"kind": "rtsp", "uri": camera_uri})
    started = time.monotonic()
    child = Child(build_pipeline(config, tmp_path, credentials(wrong)))
    assert child.wait() == 1
    assert time.monotonic() - started < 10
    errors = child.of(PipelineError)
    assert errors == [PipelineError("src", "Unauthorized")], child.output()
    assert not child.of(Buffer)
    assert not any(wrong in line for line in child.lines)


def test_the_child_reports_a_missing_element_as_gst_launch_does(tmp_path: Path) -> None:
    config = agent_config(
        tmp_path,
        source={"kind": "rtsp", "uri": "rtsp://127.0.0.1:9/cam"},
        sink={"kind": "kvssink", "stream_name": "porch"},
    )
    if subprocess.run(["gst-inspect-1.0", "--exists", "kvssink"], check=False).returncode == 0:
        pytest.skip("kvssink is installed here")
    child = Child(build_pipeline(config, tmp_path, credentials(PASSWORD)))
    assert child.wait() == 1
    assert child.events == [MissingElement("kvssink")], child.output()


@pytest.mark.skipif(
    importlib.util.find_spec("gi") is not None, reason="this Python has GStreamer's bindings"
)
def test_a_python_without_gstreamer_bindings_is_reported_as_missing_python3_gi(
    tmp_path: Path,
) -> None:
    config = agent_config(
        tmp_path,
        source={"kind": "rtsp", "uri": "rtsp://127.0.0.1:9/cam"},
        pipeline={"gi_python": sys.executable},  # the project's virtualenv: no gi
    )
    child = Child(build_pipeline(config, tmp_path, credentials(PASSWORD)))
    assert child.wait() == 1
    assert child.events == [MissingElement("python3-gi")], child.output()
