"""Registration end to end: the `fleet` command, the Prefect server, the local AWS endpoint."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from awscrt import mqtt5
from awsiot import mqtt5_client_builder
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

from cloud.clients import AwsClients
from cloud.settings import FleetSettings
from device.config import load_agent_config
from stack.supervisor.models import StackStatus
from tests.e2e.cli import fleet, fleet_json, start_fleet
from tests.e2e.stacks import make_room
from tests.support.endpoint_admin import (
    clear_faults,
    inject_fault,
    last_seq,
    requests_since,
    wait_broker_in_step,
)

Stack = tuple[FleetSettings, StackStatus]
# porch, carport and side-gate; the quota test makes the room it fills itself.
pytestmark = pytest.mark.processors(3)
# The cameras the quota test registers before the quota refuses the next one.
FILL = 2


async def _flow_run_states(name: str) -> list[str]:
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        )
    return [run.state.type.value for run in runs if run.state is not None]


_CLI_APP_ID = "register-cli-test"


def _cli_requests(endpoint: str, since: int) -> list[dict[str, Any]]:
    """The requests since `since` of a `fleet` run with `app_id=_CLI_APP_ID`, not the stack's
    background traffic meanwhile (shadow writes, queue polls, settings and status reads)."""
    return [r for r in requests_since(endpoint, since) if r["app_id"] == _CLI_APP_ID]


def _camera_footprint(settings: FleetSettings, camera: str) -> dict[str, int]:
    clients = AwsClients(settings)
    streams = clients.kvs.list_streams()["StreamInfoList"]
    processors = clients.rekognition.list_stream_processors()["StreamProcessors"]
    things = clients.iot.list_things()["things"]
    principals = (
        clients.iot.list_thing_principals(thingName=camera)["principals"]
        if any(t["thingName"] == camera for t in things)
        else []
    )
    return {
        "streams": sum(s["StreamName"] == camera for s in streams),
        "processors": sum(p["Name"] == f"{settings.name}-{camera}" for p in processors),
        "things": sum(t["thingName"] == camera for t in things),
        "certificates": len(principals),
    }


ONE_OF_EACH = {"streams": 1, "processors": 1, "things": 1, "certificates": 1}


def test_register_show_update_and_rerun(local_stack: Stack) -> None:
    settings, _ = local_stack
    created = fleet_json(settings, "camera", "register", "porch", "--labels", "PERSON,PACKAGE")
    for key in (
        "camera_id",
        "stream_arn",
        "processor_arn",
        "role_arn",
        "thing_name",
        "certificate_arn",
        "bundle_dir",
    ):
        assert created[key], key
    assert Path(created["bundle_dir"], "agent.toml").exists()
    assert asyncio.run(_flow_run_states("register porch")) == ["COMPLETED"]

    shown = fleet_json(settings, "camera", "show", "porch")
    assert set(shown["settings"]["labels"]) == {"PACKAGE", "PERSON"}
    assert shown["processor_arn"] == created["processor_arn"]
    assert [c["camera_id"] for c in fleet_json(settings, "camera", "list")].count("porch") == 1

    again = fleet_json(settings, "camera", "register", "porch", "--labels", "PERSON,PACKAGE")
    assert again["changed"] == []
    updated = fleet_json(
        settings, "camera", "register", "porch", "--labels", "PET", "--min-confidence", "75"
    )
    assert "updated stream processor settings" in updated["changed"]
    assert fleet_json(settings, "camera", "show", "porch")["settings"]["min_confidence"] == 75
    assert _camera_footprint(settings, "porch") == ONE_OF_EACH


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad Id"], "camera id 'Bad Id' is not valid"),
        (["cam-x", "--labels", "PERSON,CAR"], "labels"),
        (["cam-x", "--min-confidence", "101"], "min_confidence"),
        (["cam-x", "--max-duration", "121"], "max_duration_seconds"),
        (["cam-x", "--retention-hours", "0"], "retention_hours"),
        (["cam-x", "--region-of-interest", "box:0.9,0.9,0.5,0.5"], "beyond the frame"),
    ],
)
def test_bad_input_is_refused_before_any_aws_call(
    local_stack: Stack, args: list[str], message: str
) -> None:
    settings, status = local_stack
    before = last_seq(status.aws_endpoint)
    done = fleet(settings, "camera", "register", *args, app_id=_CLI_APP_ID)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert _cli_requests(status.aws_endpoint, before) == []


def test_a_killed_registration_resumes_without_duplicates(local_stack: Stack) -> None:
    settings, status = local_stack
    start = last_seq(status.aws_endpoint)
    inject_fault(status.aws_endpoint, "rekognition", "CreateStreamProcessor", delay_seconds=60)
    try:
        process = start_fleet(settings, "camera", "register", "carport")
        deadline = time.monotonic() + 60
        while not any(
            r["operation"] == "PutRolePolicy" and r["status"] == 200
            for r in requests_since(status.aws_endpoint, start)
        ):
            assert time.monotonic() < deadline, "registration never reached the processor step"
            assert process.poll() is None, process.communicate()
            time.sleep(0.1)
        time.sleep(0.5)  # now hanging in CreateStreamProcessor
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        clear_faults(status.aws_endpoint)
    half = _camera_footprint(settings, "carport")
    assert half["things"] == 1 and half["streams"] == 1  # the crash left the first half

    resumed = fleet_json(settings, "camera", "register", "carport")
    assert "created stream processor" in resumed["changed"]
    assert "created KVS stream" not in resumed["changed"]
    assert _camera_footprint(settings, "carport") == ONE_OF_EACH


def test_a_registered_bundle_connects_and_is_confined_to_its_own_topics(local_stack: Stack) -> None:
    """The bundle's certificate chains to the broker's CA; the ACL generated from the IoT policy
    lets the camera publish on its own topics and refuses another camera's."""
    settings, status = local_stack
    created = fleet_json(settings, "camera", "register", "side-gate")
    wait_broker_in_step(status.aws_endpoint)  # the ACL follows the attachment asynchronously
    config = load_agent_config(Path(created["bundle_dir"]) / "agent.toml")
    connected = threading.Event()
    client = mqtt5_client_builder.mtls_from_path(
        endpoint=config.mqtt.endpoint,
        port=config.mqtt.port,
        cert_filepath=str(config.mqtt.cert),
        pri_key_filepath=str(config.mqtt.key),
        ca_filepath=str(config.mqtt.ca),
        client_id=config.mqtt.client_id,
        enable_metrics_collection=False,
        on_lifecycle_connection_success=lambda _data: connected.set(),
    )
    client.start()
    try:
        assert connected.wait(20), "the broker refused the bundle's certificate"

        def publish(topic: str) -> mqtt5.PubackReasonCode:
            packet = mqtt5.PublishPacket(topic=topic, payload=b"{}", qos=mqtt5.QoS.AT_LEAST_ONCE)
            result = client.publish(packet).result(20)
            return result.puback.reason_code

        allowed = {mqtt5.PubackReasonCode.SUCCESS, mqtt5.PubackReasonCode.NO_MATCHING_SUBSCRIBERS}
        assert publish("fleet/side-gate/motion") in allowed
        assert publish("fleet/side-gate/health") in allowed
        assert publish("fleet/porch/motion") == mqtt5.PubackReasonCode.NOT_AUTHORIZED
        assert publish("fleet/side-gate/commands/x") == mqtt5.PubackReasonCode.NOT_AUTHORIZED
    finally:
        client.stop()


def test_many_then_the_quota_refuses_the_next_camera(local_stack: Stack, tmp_path: Path) -> None:
    """The quota leaves room for `FILL` cameras: one `--many` registers them, the next is refused
    (which leaves the quota full)."""
    settings, status = local_stack
    make_room(local_stack, FILL)
    listing = tmp_path / "cameras.json"
    listing.write_text(
        json.dumps([{"camera_id": f"bulk-{i}", "labels": ["PERSON"]} for i in range(FILL)])
    )
    outcomes = fleet_json(settings, "camera", "register", "--many", str(listing))
    assert sorted(o["camera_id"] for o in outcomes) == sorted(f"bulk-{i}" for i in range(FILL))
    assert all(o["error"] is None for o in outcomes)

    before = last_seq(status.aws_endpoint)
    refused = fleet(settings, "camera", "register", "one-too-many", app_id=_CLI_APP_ID)
    assert refused.returncode == 5
    assert "stream processor quota" in refused.stderr and "--processor-quota" in refused.stderr
    requests = _cli_requests(status.aws_endpoint, before)
    assert requests, "the command's quota reads are in the log under its app id"
    writes = [
        r["operation"]
        for r in requests
        if not str(r["operation"]).startswith(("Describe", "List", "Get", "Head"))
    ]
    assert writes == []
    assert _camera_footprint(settings, "one-too-many")["things"] == 0
