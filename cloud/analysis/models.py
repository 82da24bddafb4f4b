"""The frames analyzer's contract: the session the bridge queues, and the camera's session state
that the bridge, the workers and the `analyze-motion` flow share. Pure: no I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from cloud.models import CameraId, Model, ProcessorStatus, RegionOfInterest
from device.messages import MIN_MILLISECONDS

SessionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]
MAX_SESSION_S = 120


class FramesSessionRequest(Model):
    """The analysis queue's message: analyse the camera's video over this window."""

    camera_id: CameraId
    session_id: SessionId
    start_ms: int = Field(ge=MIN_MILLISECONDS, description="Producer timestamp, milliseconds.")
    duration_s: int = Field(ge=1, le=MAX_SESSION_S)
    requested_at_ms: int = Field(ge=MIN_MILLISECONDS)
    motion_ms: int | None = Field(
        None,
        ge=MIN_MILLISECONDS,
        description="Producer timestamp of the motion that started the session (none for a "
        "follow-up): the worker looks there first.",
    )

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_s * 1000


class SessionState(Model):
    """A camera's current (or last) analysis session, as either analyzer reports it."""

    camera_id: CameraId
    session_id: SessionId | None = None
    status: ProcessorStatus
    message: str | None = None
    updated_at: datetime | None = Field(
        None, description="When the session last changed state: a later one is a later session."
    )


class FramesCamera(Model):
    """The frames analyzer's item for one camera: its regions of interest (a stream processor
    keeps them itself), its current session and the detections the session already published."""

    camera_id: CameraId
    regions_of_interest: tuple[RegionOfInterest, ...] = ()
    session: FramesSessionRequest | None = None
    status: ProcessorStatus = ProcessorStatus.STOPPED
    message: str | None = None
    updated_at: datetime | None = None
    lease_until_ms: int = 0
    processed_ms: int = 0
    confirmed: dict[str, str] = Field(
        default_factory=dict,
        description="Label class -> the LABEL_DETECTED message published for it (JSON), so that "
        "a redelivered session publishes the same message again, never another one.",
    )

    def state(self) -> SessionState:
        return SessionState(
            camera_id=self.camera_id,
            session_id=self.session.session_id if self.session else None,
            status=self.status,
            message=self.message,
            updated_at=self.updated_at,
        )
