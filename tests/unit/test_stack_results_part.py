"""The local stack's `results` part: its command, environment and probe."""

from __future__ import annotations

from pathlib import Path

from stack.health import HeartbeatProbe
from stack.layout import PartName, StackLayout
from stack.models import StackRecord
from stack.parts import probes, process_specs

ROOT = Path("/srv/fleet/stack")
LAYOUT = StackLayout(ROOT)
RECORD = StackRecord(
    host="127.0.0.1",
    aws_port=15055,
    mqtt_port=18883,
    prefect_port=14200,
    processor_quota=3,
    stack_dir=ROOT,
    ca_file=LAYOUT.ca_cert,
)


def test_the_results_consumer_runs_with_the_fleet_and_the_stacks_prefect() -> None:
    caller = {"PATH": "/usr/bin", "PREFECT_API_URL": "https://cloud.example/api"}
    fleet = {"FLEET_NAME": "camfleet", "FLEET_NOTIFICATION_COOLDOWN_SECONDS": "30.0"}
    spec = process_specs(RECORD, LAYOUT, caller, mosquitto="mosquitto", fleet_env=fleet)[
        PartName.RESULTS
    ]
    assert spec.argv[1:] == (
        "-m",
        "flows.results_consumer",
        "--heartbeat-file",
        str(ROOT / "run/results.heartbeat.json"),
    )
    assert spec.env["PREFECT_API_URL"] == "http://127.0.0.1:14200/api"  # its events go there
    assert spec.env["FLEET_NAME"] == "camfleet"
    assert spec.env["FLEET_NOTIFICATION_COOLDOWN_SECONDS"] == "30.0"
    assert spec.log_file == ROOT / "logs/results.log"


def test_the_results_consumer_is_probed_by_its_heartbeat() -> None:
    probe = probes(RECORD, LAYOUT)[PartName.RESULTS]
    assert probe == HeartbeatProbe(ROOT / "run/results.heartbeat.json")
