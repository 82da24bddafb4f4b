"""`camera-offline` and `camera-failing`: the flows the fleet's automations run to tell the user.

A run publishes one short message to `<fleet>-notifications` with the attributes `fleet`,
`camera` and `alert` for subscribers' filter policies. `camera-offline` reads the camera's status
shadow first and does not report a camera seen back online since.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from prefect import flow, get_run_logger, task
from prefect.deployments.runner import RunnerDeployment
from pydantic import BaseModel, ConfigDict

from cloud import notify, shadow
from cloud.models import CameraId
from cloud.rekognition_messages import readable_utc
from cloud.shadow import CameraStatus
from flows.retry import AWS_RETRY
from flows.runtime import runtime

OFFLINE_DEPLOYMENT = "camera-offline/camera-offline"
FAILING_DEPLOYMENT = "camera-failing/camera-failing"


class AlertKind(StrEnum):
    OFFLINE = "camera-offline"
    PIPELINE_FAILED = "pipeline-failed"
    ANALYSES_FAILING = "analyses-failing"


class CameraProblem(StrEnum):
    """What `camera-failing` reports (the automation that fired it chooses)."""

    PIPELINE_FAILED = "pipeline-failed"
    ANALYSES_FAILING = "analyses-failing"


class Alert(BaseModel):
    model_config = ConfigDict(frozen=True)

    camera_id: str
    kind: AlertKind
    subject: str
    message: str


class AlertOutcome(BaseModel):
    camera_id: str
    kind: AlertKind
    sent: bool
    text: str
    message_id: str | None = None


def _when(moment: datetime) -> str:
    return readable_utc(moment.astimezone(UTC))


def duration_text(seconds: float) -> str:
    """`45 s`, `12 min`, `2 h 5 min`: how long, as a person says it."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def back_online(status: CameraStatus, offline_since: datetime) -> bool:
    """The bridge saw the camera online after it went offline."""
    return bool(
        status.online and status.status_since is not None and status.status_since >= offline_since
    )


def offline_alert(
    camera_id: str, offline_since: datetime, reason: str, status: CameraStatus, now: datetime
) -> Alert:
    """For example `garage offline for 12 min (connection lost), last seen 2024-06-22 ...`."""
    text = f"{camera_id} offline for {duration_text((now - offline_since).total_seconds())}"
    if reason:
        text += f" ({reason})"
    if status.last_seen is not None:
        text += f", last seen {_when(status.last_seen)}"
    return Alert(
        camera_id=camera_id, kind=AlertKind.OFFLINE, subject=f"{camera_id} offline", message=text
    )


def failing_alert(
    camera_id: str,
    problem: CameraProblem,
    occurred: datetime,
    detail: str,
    failures: int,
    within_seconds: int,
) -> Alert:
    """`porch: pipeline failed at <time>: <error>` or `porch: 3 analyses failed within 15 min
    (latest at <time>: <message>)`."""
    detail = detail.strip()
    if problem is CameraProblem.PIPELINE_FAILED:
        subject = f"{camera_id}: pipeline failed"
        text = f"{subject} at {_when(occurred)}" + (f": {detail}" if detail else "")
        kind = AlertKind.PIPELINE_FAILED
    else:
        subject = f"{camera_id}: analyses failing"
        many = f"{failures} analyses" if failures > 1 else "an analysis"
        window = f" within {duration_text(within_seconds)}" if within_seconds else ""
        latest = f"latest at {_when(occurred)}" + (f": {detail}" if detail else "")
        text = f"{camera_id}: {many} failed{window} ({latest})"
        kind = AlertKind.ANALYSES_FAILING
    return Alert(camera_id=camera_id, kind=kind, subject=subject[:100], message=text)


@task(name="read-camera-status", task_run_name="status of {camera_id}", **AWS_RETRY)
def read_camera_status(camera_id: str) -> CameraStatus:
    rt = runtime()
    return shadow.read_status(rt.clients, rt.names.thing(camera_id))


@task(name="publish-notification", task_run_name="notify {alert.camera_id}", **AWS_RETRY)
def publish_alert(alert: Alert) -> str:
    rt = runtime()
    return notify.publish(
        rt.clients,
        rt.names.user_notifications_topic_arn(),
        subject=alert.subject,
        message=alert.message,
        attributes={"fleet": rt.names.fleet, "camera": alert.camera_id, "alert": alert.kind},
    )


def _sent(alert: Alert) -> AlertOutcome:
    message_id = publish_alert(alert)
    get_run_logger().info("camera %s: notified: %s", alert.camera_id, alert.message)
    return AlertOutcome(
        camera_id=alert.camera_id,
        kind=alert.kind,
        sent=True,
        text=alert.message,
        message_id=message_id,
    )


@flow(name="camera-offline", flow_run_name="camera-offline {camera_id}", log_prints=False)
async def camera_offline(
    camera_id: CameraId, offline_since: datetime, reason: str = "", event_id: str | None = None
) -> AlertOutcome:
    """Notify that a camera went offline at `offline_since` and has not come back."""
    log = get_run_logger()
    log.info("camera %s: offline since %s (event %s)", camera_id, offline_since, event_id)
    status = read_camera_status(camera_id)
    now = datetime.now(UTC)
    alert = offline_alert(camera_id, offline_since, reason, status, now)
    if back_online(status, offline_since):
        log.info("camera %s: back online since %s, not notified", camera_id, status.status_since)
        return AlertOutcome(camera_id=camera_id, kind=alert.kind, sent=False, text=alert.message)
    return _sent(alert)


@flow(name="camera-failing", flow_run_name="{problem} {camera_id}", log_prints=False)
async def camera_failing(
    camera_id: CameraId,
    problem: CameraProblem,
    occurred: datetime,
    detail: str = "",
    failures: int = 1,
    within_seconds: int = 0,
    event_id: str | None = None,
) -> AlertOutcome:
    """Notify that a camera's pipeline failed, or that its analyses keep failing."""
    get_run_logger().info("camera %s: %s (event %s)", camera_id, problem.value, event_id)
    return _sent(failing_alert(camera_id, problem, occurred, detail, failures, within_seconds))


def deployments() -> list[RunnerDeployment]:
    """The served deployments the automations run (their forms are these flows' parameters)."""
    # An async flow's to_deployment is typed as maybe a coroutine; called from sync code it is not.
    return [
        camera_offline.to_deployment(  # type: ignore[list-item]
            name="camera-offline",
            description="Notify that a camera is offline (run by the `camera offline` automation).",
            tags=["camera-fleet"],
        ),
        camera_failing.to_deployment(  # type: ignore[list-item]
            name="camera-failing",
            description=(
                "Notify that a camera's pipeline failed or its analyses keep failing "
                "(run by the `pipeline failed` and `analyses failing` automations)."
            ),
            tags=["camera-fleet"],
        ),
    ]
