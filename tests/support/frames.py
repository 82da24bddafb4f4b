"""For end-to-end tests of analysis sessions on a local stack: simulated cameras run at once, the
user's notifications per camera, and waiting for what the stack's services write."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName

from cloud.clients import AwsClients
from cloud.settings import FleetSettings
from flows.analyze import AnalysisRequest, analyze_motion
from services.harness.heartbeat import Heartbeat
from stack.supervisor.layout import StackLayout
from tests.e2e.cli import FLEET, cli_env

T = TypeVar("T")


def wait_for(what: str, read: Callable[[], T | None], timeout: float, every: float = 0.5) -> T:
    """`read()` once it gives something (not None); an AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        found = read()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


class Agents:
    """`fleet camera simulate CAMERA ... --json` for several cameras at once: each command's
    report on its stdout, its agent's log in `<logs>/<camera>.log` (a pipe nobody reads while
    the others run could fill up and stall the agent)."""

    def __init__(self, settings: FleetSettings, logs: Path) -> None:
        self._settings = settings
        self._logs = logs
        self._running: dict[str, subprocess.Popen[str]] = {}

    def start(self, camera: str, scene: str, seconds: int, wait_seconds: int) -> None:
        with self._log(camera).open("w") as log:
            self._running[camera] = subprocess.Popen(
                [
                    *FLEET,
                    *("camera", "simulate", camera, "--scenario", scene),
                    *("--seconds", str(seconds), "--wait-seconds", str(wait_seconds), "--json"),
                ],
                env=cli_env(self._settings),
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )

    def reports(self, timeout: float = 240) -> dict[str, dict[str, Any]]:
        """Each command's report (`cli.simulate.SimulationReport`), once every one has ended."""
        reports: dict[str, dict[str, Any]] = {}
        for camera, process in self._running.items():
            out, _ = process.communicate(timeout=timeout)
            assert process.returncode == 0, self._log(camera).read_text()[-4000:]
            reports[camera] = json.loads(out)
        return reports

    def kill(self) -> None:
        """Those still running (after a failure)."""
        for process in self._running.values():
            if process.poll() is None:
                process.kill()
                process.wait()

    def _log(self, camera: str) -> Path:
        return self._logs / f"{camera}.log"


class Inbox:
    """The user's notifications: a queue per camera on the fleet's notification topic, each
    subscribed with a filter policy on the message attribute `camera`, as a user who wants
    each camera's news apart would subscribe."""

    def __init__(self, clients: AwsClients, topic_arn: str, cameras: list[str]) -> None:
        self._sqs = clients.sqs
        self._queues: dict[str, str] = {}
        self._received: dict[str, list[dict[str, Any]]] = {camera: [] for camera in cameras}
        for camera in cameras:
            url = str(self._sqs.create_queue(QueueName=f"e2e-inbox-{camera}")["QueueUrl"])
            arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            clients.sns.subscribe(
                TopicArn=topic_arn,
                Protocol="sqs",
                Endpoint=arn["Attributes"]["QueueArn"],
                Attributes={"FilterPolicy": json.dumps({"camera": [camera]})},
            )
            self._queues[camera] = url

    def settled(self, camera: str) -> list[dict[str, Any]]:
        """Every notification of the camera so far (SNS envelopes), oldest first: its queue is
        read until it stays empty for 2 s."""
        url = self._queues[camera]
        while True:
            answer = self._sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2
            )
            messages = answer.get("Messages", [])
            if not messages:
                return list(self._received[camera])
            for message in messages:
                self._received[camera].append(json.loads(message["Body"]))
                self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


async def analysis_requests(camera: str) -> list[AnalysisRequest]:
    """The requests of the camera's `analyze-motion` flow runs."""
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[analyze_motion.name]))
        )
    requests = [AnalysisRequest.model_validate(run.parameters["request"]) for run in runs]
    return [r for r in requests if r.camera_id == camera]


def _heartbeat(path: Path) -> Heartbeat | None:
    try:
        return Heartbeat.model_validate_json(path.read_bytes())
    except (OSError, ValueError):
        return None


def wait_until_the_bridge_follows(settings: FleetSettings, analyzer: str) -> None:
    """The bridge re-reads the fleet's analyzer every 30 s and says which in its heartbeat: it
    may have started before `fleet init` recorded it, or before a switch."""
    path = StackLayout(settings.stack_dir).bridge_heartbeat

    def following() -> bool | None:
        beat = _heartbeat(path)
        return True if beat is not None and beat.facts.get("analyzer") == analyzer else None

    wait_for(f"the bridge to follow the {analyzer} analyzer", following, 75)


def wait_until_the_worker_polls(settings: FleetSettings) -> None:
    """The worker looks for the analysis queue every 30 s: it may have started before the queue
    was made. A session queued before then would wait in the queue."""
    path = StackLayout(settings.stack_dir).analyzer_heartbeat

    def polling() -> bool | None:
        beat = _heartbeat(path)
        return True if beat is not None and beat.detail.startswith("polling") else None

    wait_for("the analysis worker to poll its queue", polling, 75)
