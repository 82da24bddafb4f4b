"""The served deployments: what the Prefect UI offers to run, with forms from pydantic models,
and a run started the way the UI starts one."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun

from cloud.registry import show_camera
from cloud.settings import FleetSettings
from flows import runtime
from stack.supervisor.models import StackStatus
from tests.support.endpoint_admin import last_seq, requests_since

Stack = tuple[FleetSettings, StackStatus]
pytestmark = pytest.mark.processors(1)
CAMERA = "from-the-ui"
_SERVED = {
    "register-camera",
    "register-cameras",
    "analyze-motion",
    "teardown-fleet",
    "fleet-report",
}
_READ = ("Describe", "List", "Get", "Head")
_BACKGROUND = {"iot-data", "sqs"}  # the bridge writes shadows, the results consumer polls


async def _deployment_schemas() -> dict[str, dict[str, object]]:
    async with get_client() as client:
        deadline = time.monotonic() + 60
        while True:
            found = {d.name: d for d in await client.read_deployments()}
            if found.keys() >= _SERVED or time.monotonic() > deadline:
                return {name: d.parameter_openapi_schema or {} for name, d in found.items()}
            await asyncio.sleep(1)


async def _run(name: str, parameters: dict[str, object]) -> FlowRun:
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(name)
        run = await client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            run = await client.read_flow_run(run.id)
            if run.state is not None and run.state.is_final():
                return run
            await asyncio.sleep(1)
    raise AssertionError(f"{name} run {run.id} did not finish: {run.state}")


def test_the_ui_offers_forms_built_from_the_models(local_stack: Stack) -> None:
    schemas = asyncio.run(_deployment_schemas())
    assert schemas.keys() >= _SERVED
    camera = schemas["register-camera"]["definitions"]["CameraSpec"]["properties"]  # type: ignore[index]
    assert camera["camera_id"]["pattern"] == "^[a-z0-9][a-z0-9_-]{0,31}$"
    assert camera["min_confidence"]["minimum"] == 0 and camera["min_confidence"]["maximum"] == 100
    labels = schemas["register-camera"]["definitions"]["Label"]  # type: ignore[index]
    assert labels["enum"] == ["PERSON", "PET", "PACKAGE", "ALL"]
    request = schemas["analyze-motion"]["definitions"]["AnalysisRequest"]  # type: ignore[index]
    assert request["properties"]["duration_s"]["maximum"] == 120
    teardown: Any = schemas["teardown-fleet"]["properties"]
    assert teardown["dry_run"]["default"] is True
    assert teardown["keep_results"]["default"] is False
    camera_ids = teardown["cameras"]["anyOf"][0]["items"]
    assert camera_ids["pattern"] == "^[a-z0-9][a-z0-9_-]{0,31}$"
    report: Any = schemas["fleet-report"]["properties"]
    assert report["since"]["default"] == "7d"


def test_a_run_from_the_register_camera_deployment_registers_the_camera(
    local_stack: Stack,
) -> None:
    settings, _ = local_stack
    parameters: dict[str, object] = {
        "camera": {"camera_id": CAMERA, "labels": ["PERSON"], "min_confidence": 80}
    }
    run = asyncio.run(_run("register-camera/register-camera", parameters))
    assert run.state is not None and run.state.is_completed(), run.state
    rt = runtime.configure(settings)
    record = show_camera(rt.clients, rt.names, CAMERA)
    assert record.settings.sorted_labels == ["PERSON"] and record.settings.min_confidence == 80


def test_parameters_the_form_refuses_are_refused_before_a_run_exists(local_stack: Stack) -> None:
    """The server checks parameters against the deployment's schema, as the UI's form does."""

    async def create() -> None:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name("register-camera/register-camera")
            await client.create_flow_run_from_deployment(
                deployment.id, parameters={"camera": {"camera_id": "Bad Name"}}
            )

    with pytest.raises(Exception, match="does not match"):
        asyncio.run(create())


def test_a_run_from_the_teardown_deployment_is_a_dry_run(local_stack: Stack) -> None:
    """Started from the UI with the form as it comes, the teardown only plans."""
    _, status = local_stack
    before = last_seq(status.aws_endpoint)
    run = asyncio.run(_run("teardown-fleet/teardown-fleet", {}))
    assert run.state is not None and run.state.is_completed(), run.state
    assert run.parameters.get("dry_run", True) is True
    writes = [
        f"{r['service']}:{r['operation']}"
        for r in requests_since(status.aws_endpoint, before)
        if r["service"] not in _BACKGROUND and not str(r["operation"]).startswith(_READ)
    ]
    assert writes == []
