"""The catalogue of every Prefect event the product emits: name, payload model and resource.

Every event is about one camera: resource `camera.<id>`, related to `fleet.<fleet>` (role
`fleet`). Emitters, automations and readers take names from here; the names, resource ids and
payload keys are the wire format the Prefect UI, the automations and the tests read. No Prefect
import: emitting is the emitters' job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from cloud.faces.models import FaceStatus
from cloud.rekognition_messages import NotificationState
from device.messages import PipelineState

CAMERA_RESOURCE_PREFIX = "camera."
ANY_CAMERA = CAMERA_RESOURCE_PREFIX + "*"
FLEET_RESOURCE_PREFIX = "fleet."
FLEET_ROLE = "fleet"


def camera_resource_id(camera_id: str) -> str:
    return f"{CAMERA_RESOURCE_PREFIX}{camera_id}"


def fleet_resource_id(fleet: str) -> str:
    return f"{FLEET_RESOURCE_PREFIX}{fleet}"


def camera_resource(camera_id: str) -> dict[str, str]:
    return {
        "prefect.resource.id": camera_resource_id(camera_id),
        "prefect.resource.name": camera_id,
    }


def fleet_related(fleet: str) -> list[dict[str, str]]:
    return [
        {
            "prefect.resource.id": fleet_resource_id(fleet),
            "prefect.resource.role": FLEET_ROLE,
            "prefect.resource.name": fleet,
        }
    ]


class EventPayload(BaseModel):
    """A payload carries the fields its emitter set: an optional field left unset stays off the
    wire, one set to None is sent as null."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class PresencePayload(EventPayload):
    reason: str | None = None


class PipelineFailedPayload(EventPayload):
    error: str


class HealthPayload(EventPayload):
    """A camera's health report without its bulky parts (versions, last fragment)."""

    pipeline: PipelineState
    pipeline_error: str | None = None
    uptime_seconds: float
    restarts: int
    fps: float
    bitrate_kbps: float
    dropped_frames: int
    motion_count: int
    agent_cpu_percent: float
    agent_rss_mb: float
    temperature_c: float | None = None


class AnalysisStartedPayload(EventPayload):
    session_id: str
    start_ms: int
    duration_s: int
    follow_up: bool
    attempt: int
    started_at_ms: int | None = None  # when the session was started (the event may come later)


class AnalysisRequestedPayload(EventPayload):
    """A session the bridge started for a motion (or a follow-up), as soon as it is started."""

    session_id: str
    start_ms: int
    duration_s: int
    started_at_ms: int  # when the start returned (wall clock)
    sequence: int | None = None  # the motion's; None for a follow-up
    producer_timestamp_ms: int | None = None


class AnalysisFailedPayload(EventPayload):
    session_id: str | None = None  # unset when the session could not even start
    message: str | None
    attempt: int | None = None


class MotionVerdictPayload(EventPayload):
    """Why a motion started no session (the motion gate's verdict, or a session running)."""

    reason: str
    sequence: int | None = None
    producer_timestamp_ms: int | None = None


class FaceSeen(BaseModel):
    """One face in a detection's frame: who (None: unknown) and how similar, in percent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None
    similarity: float | None


class DetectionPayload(EventPayload):
    label: str
    labels: list[str]
    confidence: float | None
    session_id: str
    detected_at: str  # `iso_ms`: fixed-width UTC, sorts as text
    frame_uri: str
    crop_uri: str | None
    notification: NotificationState
    # Unset when the camera's faces are not searched (not a person, or not asked for).
    faces: list[FaceSeen] | None = None
    face_status: FaceStatus | None = None


P = TypeVar("P", bound=EventPayload)


@dataclass(frozen=True)
class CameraEventKind(Generic[P]):
    """One kind of event about a camera: its name on the wire and the model of its payload."""

    name: str
    payload: type[P]
    summary: str


CAMERA_ONLINE = CameraEventKind(
    "camera.online",
    PresencePayload,
    "The camera is heard from (a status `online`, or a health while not known online).",
)
CAMERA_OFFLINE = CameraEventKind(
    "camera.offline", PresencePayload, "The camera went offline (a clean stop or its Last Will)."
)
CAMERA_HEALTH = CameraEventKind(
    "camera.health",
    HealthPayload,
    "The camera's health: when its pipeline state or error changes, else at most periodically.",
)
PIPELINE_FAILED = CameraEventKind(
    "camera.pipeline.failed", PipelineFailedPayload, "The camera's pipeline entered `failed`."
)
ANALYSIS_STARTED = CameraEventKind(
    "camera.analysis.started",
    AnalysisStartedPayload,
    "An analysis session (one attempt of an `analyze-motion` run) started.",
)
ANALYSIS_REQUESTED = CameraEventKind(
    "camera.analysis.requested",
    AnalysisRequestedPayload,
    "A motion started an analysis session (from the bridge at once; `camera.analysis.started` "
    "follows with the session's `analyze-motion` run).",
)
ANALYSIS_FAILED = CameraEventKind(
    "camera.analysis.failed",
    AnalysisFailedPayload,
    "An analysis session failed, or could not start.",
)
ANALYSIS_COALESCED = CameraEventKind(
    "camera.analysis.coalesced",
    MotionVerdictPayload,
    "A motion joined the camera's running or follow-up session.",
)
ANALYSIS_SKIPPED = CameraEventKind(
    "camera.analysis.skipped",
    MotionVerdictPayload,
    "A motion started no session: cooldown, budget or stale.",
)
DETECTION = CameraEventKind(
    "camera.detection", DetectionPayload, "A label detected in an analysis session."
)

CATALOGUE: tuple[CameraEventKind[Any], ...] = (
    CAMERA_ONLINE,
    CAMERA_OFFLINE,
    CAMERA_HEALTH,
    PIPELINE_FAILED,
    ANALYSIS_REQUESTED,
    ANALYSIS_STARTED,
    ANALYSIS_FAILED,
    ANALYSIS_COALESCED,
    ANALYSIS_SKIPPED,
    DETECTION,
)
