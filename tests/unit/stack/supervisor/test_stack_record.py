"""stack.json, the status model, and the part commands derived from them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cloud.settings import FleetSettings
from stack.endpoint.ca import CA_CERT_FILE
from stack.supervisor.health import HeartbeatProbe, ProbeFailedError, connect_packet, parse_connack
from stack.supervisor.layout import PartName, StackLayout
from stack.supervisor.models import MqttEndpoint, PartStatus, StackRecord, StackStatus
from stack.supervisor.parts import probes, process_specs

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


def test_record_round_trips_through_json() -> None:
    assert StackRecord.model_validate_json(RECORD.model_dump_json()) == RECORD


def test_record_derives_the_endpoints() -> None:
    assert RECORD.aws_endpoint == "http://127.0.0.1:15055"
    assert RECORD.prefect_ui_url == "http://127.0.0.1:14200"
    assert RECORD.prefect_api_url == "http://127.0.0.1:14200/api"
    assert RECORD.mqtt == MqttEndpoint(host="127.0.0.1", port=18883, ca_file=ROOT / "aws/ca/ca.pem")


def test_record_refuses_unknown_keys() -> None:
    data = RECORD.model_dump(mode="json") | {"mqtt_prot": 1883}
    with pytest.raises(ValidationError):
        StackRecord.model_validate(data)


def _part(name: PartName, healthy: bool, skipped: bool = False) -> PartStatus:
    return PartStatus(
        name=name, healthy=healthy, running=healthy, log_file=LAYOUT.log_file(name), skipped=skipped
    )


def test_stack_is_healthy_when_every_part_not_skipped_is() -> None:
    status = StackStatus(
        aws_endpoint=RECORD.aws_endpoint,
        mqtt=RECORD.mqtt,
        prefect_api_url=RECORD.prefect_api_url,
        prefect_ui_url=RECORD.prefect_ui_url,
        stack_dir=ROOT,
        parts=[_part(PartName.AWS, True), _part(PartName.FLOWS, False, skipped=True)],
    )
    assert status.healthy
    assert status.part(PartName.FLOWS).skipped
    unhealthy = status.model_copy(update={"parts": [_part(PartName.AWS, False)]})
    assert not unhealthy.healthy


def test_part_commands_carry_the_recorded_ports_and_paths() -> None:
    specs = process_specs(RECORD, LAYOUT, {"PATH": "/usr/bin"}, mosquitto="/usr/sbin/mosquitto")

    aws = specs[PartName.AWS].argv
    assert aws[1:3] == ("-m", "stack.endpoint")
    assert aws[aws.index("--port") + 1] == "15055"
    assert aws[aws.index("--processor-quota") + 1] == "3"
    assert "--no-streaming-video" not in aws
    assert aws[aws.index("--acl-file") + 1] == str(ROOT / "mosquitto/acl")
    assert aws[aws.index("--broker-pid-file") + 1] == str(ROOT / "run/mosquitto.pid")
    assert specs[PartName.MOSQUITTO].argv == (
        "/usr/sbin/mosquitto",
        "-c",
        str(ROOT / "mosquitto/mosquitto.conf"),
    )
    assert specs[PartName.PREFECT].argv[1:] == (
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        "14200",
    )
    assert specs[PartName.FLOWS].argv[1:] == ("-m", "flows.serve")
    for part, spec in specs.items():
        assert spec.log_file == ROOT / "logs" / f"{part.value}.log"
        assert spec.pid_file == ROOT / "run" / f"{part.value}.pid"


def test_prefect_parts_get_the_stack_settings_and_not_the_callers() -> None:
    caller = {"PATH": "/usr/bin", "PREFECT_API_KEY": "pnu_secret", "PREFECT_API_URL": "https://x"}
    specs = process_specs(RECORD, LAYOUT, caller, mosquitto="mosquitto")

    server = specs[PartName.PREFECT].env
    assert server["PREFECT_API_URL"] == "http://127.0.0.1:14200/api"
    assert server["PREFECT_HOME"] == str(ROOT / "prefect")
    assert server["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert "PREFECT_API_KEY" not in server
    assert specs[PartName.FLOWS].env["PREFECT_API_URL"] == "http://127.0.0.1:14200/api"
    assert not any(key.startswith("PREFECT_") for key in specs[PartName.AWS].env)
    assert specs[PartName.AWS].env["PATH"] == "/usr/bin"


def test_connect_packet_is_mqtt_311_with_clean_session() -> None:
    packet = connect_packet("probe-1")
    assert packet[0] == 0x10
    assert packet[1] == len(packet) - 2
    assert packet[2:10] == b"\x00\x04MQTT\x04\x02"
    assert packet.endswith(b"\x00\x07probe-1")


@pytest.mark.parametrize(("packet", "code"), [(b"\x20\x02\x00\x00", 0), (b"\x20\x02\x00\x05", 5)])
def test_parse_connack(packet: bytes, code: int) -> None:
    assert parse_connack(packet) == code


def test_parse_connack_refuses_other_packets() -> None:
    with pytest.raises(ProbeFailedError):
        parse_connack(b"\x30\x02\x00\x00")


def test_flows_get_the_fleet_settings_the_stack_was_started_with() -> None:
    fleet = {"FLEET_HOME": "/srv/fleet", "FLEET_AWS_PORT": "15055"}
    specs = process_specs(RECORD, LAYOUT, {"FLEET_HOME": "/elsewhere"}, "mosquitto", fleet)

    flows = specs[PartName.FLOWS].env
    assert flows["FLEET_HOME"] == "/srv/fleet"
    assert flows["FLEET_AWS_PORT"] == "15055"
    assert flows["PREFECT_API_URL"] == RECORD.prefect_api_url


def test_the_results_consumer_runs_with_the_fleet_and_the_stacks_prefect() -> None:
    caller = {"PATH": "/usr/bin", "PREFECT_API_URL": "https://cloud.example/api"}
    fleet = {"FLEET_NAME": "camfleet", "FLEET_NOTIFICATION_COOLDOWN_SECONDS": "30.0"}
    spec = process_specs(RECORD, LAYOUT, caller, mosquitto="mosquitto", fleet_env=fleet)[
        PartName.RESULTS
    ]
    assert spec.argv[1:] == (
        "-m",
        "services.results_consumer",
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


def test_the_broker_ca_that_settings_name_is_the_one_the_endpoint_writes() -> None:
    settings = FleetSettings(home=Path("/tmp/fleet-home"))
    layout = StackLayout(settings.stack_dir)
    assert settings.broker_ca_file == layout.ca_cert == layout.ca_dir / CA_CERT_FILE


def test_a_stack_acting_as_a_new_account_closes_its_endpoint_to_stream_processors() -> None:
    record = RECORD.model_copy(update={"streaming_video": False})
    specs = process_specs(record, LAYOUT, {"PATH": "/usr/bin"}, mosquitto="/usr/sbin/mosquitto")
    assert "--no-streaming-video" in specs[PartName.AWS].argv
