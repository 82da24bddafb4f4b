"""The local stack tells its AWS endpoint where the agents write their fragments."""

from __future__ import annotations

from pathlib import Path

from cloud.settings import FleetSettings
from flows.runtime import Runtime
from stack.endpoint.__main__ import parse_args
from stack.supervisor.layout import StackLayout
from stack.supervisor.models import StackRecord
from stack.supervisor.parts import aws_argv


def test_the_endpoint_reads_the_fragment_store_the_agents_write(tmp_path: Path) -> None:
    settings = FleetSettings(home=tmp_path, target="local")
    layout = StackLayout(settings.stack_dir)
    record = StackRecord(
        host="127.0.0.1",
        aws_port=5055,
        mqtt_port=8883,
        prefect_port=4200,
        processor_quota=10,
        stack_dir=layout.root,
        ca_file=layout.ca_cert,
    )
    argv = aws_argv(record, layout)
    assert argv[1:3] == ["-m", "stack.endpoint"]
    config = parse_args(argv[3:])
    assert config.fragment_root == Runtime(settings).fragment_root == layout.root / "fragments"


def test_without_a_fragment_store_sessions_only_last(tmp_path: Path) -> None:
    config = parse_args(["--port", "0", "--state-dir", str(tmp_path)])
    assert config.fragment_root is None
