"""Models at the cloud boundary: `*Spec` is desired state, `*Record` is observed state."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from cloud.naming import CAMERA_ID_PATTERN, validate_camera_id

Arn = Annotated[str, StringConstraints(pattern=r"^arn:aws[a-z-]*:[a-z0-9-]+:")]
CameraId = Annotated[
    str,
    AfterValidator(validate_camera_id),
    # For forms (the Prefect UI renders parameters from the JSON schema): checked as they type.
    Field(
        description="Lowercase letters, digits, - and _, at most 32: the thing and stream name.",
        json_schema_extra={"pattern": CAMERA_ID_PATTERN},
    ),
]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(StrEnum):
    PERSON = "PERSON"
    PET = "PET"
    PACKAGE = "PACKAGE"
    ALL = "ALL"


class Analyzer(StrEnum):
    """What analyses a camera's video after motion, fleet-wide."""

    STREAM_PROCESSOR = "stream-processor"  # Rekognition ConnectedHome stream processors
    FRAMES = "frames"  # analysis workers: KVS GetImages + Rekognition DetectLabels


class Point(Model):
    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)


class BoundingBox(Model):
    """A box as ratios of the frame, as Rekognition takes it."""

    left: float = Field(ge=0, le=1)
    top: float = Field(ge=0, le=1)
    width: float = Field(gt=0, le=1)
    height: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _inside_frame(self) -> BoundingBox:
        if self.left + self.width > 1.0 + 1e-9 or self.top + self.height > 1.0 + 1e-9:
            raise ValueError("box extends beyond the frame: left+width and top+height must be <= 1")
        return self


class RegionOfInterest(Model):
    box: BoundingBox | None = None
    polygon: tuple[Point, ...] | None = Field(None, min_length=3, max_length=10)

    @model_validator(mode="after")
    def _one_shape(self) -> RegionOfInterest:
        if (self.box is None) == (self.polygon is None):
            raise ValueError("a region of interest is either a box or a polygon")
        return self


MAX_REGIONS = 10


class CameraSpec(Model):
    """What a user asks for when registering a camera. Validated before any AWS call."""

    camera_id: CameraId
    labels: frozenset[Label] = Field(
        frozenset({Label.PERSON, Label.PET, Label.PACKAGE}),
        description="What the stream processor looks for (ALL alone, or any of the others).",
    )
    min_confidence: float = Field(
        50.0, ge=0, le=100, description="Percent: weaker detections are not reported."
    )
    retention_hours: int = Field(24, ge=1, le=87600, description="How long KVS keeps video.")
    max_duration_seconds: int = Field(
        30, ge=1, le=120, description="Length of one analysis session, in seconds."
    )
    regions_of_interest: tuple[RegionOfInterest, ...] = Field(
        (), max_length=MAX_REGIONS, description="Only report what is inside these (ratios)."
    )
    recognize_faces: bool = Field(
        False,
        description="Search each PERSON detection's faces in the fleet's known faces (biometric "
        "data: off unless asked for).",
    )

    @model_validator(mode="after")
    def _labels(self) -> CameraSpec:
        if not self.labels:
            raise ValueError("labels: at least one of PERSON, PET, PACKAGE or ALL")
        if Label.ALL in self.labels and len(self.labels) > 1:
            raise ValueError("labels: ALL already includes every label; give it alone")
        return self

    @property
    def sorted_labels(self) -> list[str]:
        return sorted(label.value for label in self.labels)


class ProcessorStatus(StrEnum):
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    FAILED = "FAILED"
    STOPPING = "STOPPING"
    UPDATING = "UPDATING"


class ProcessorSettings(Model):
    """The mutable part of a ConnectedHome processor."""

    labels: frozenset[Label]
    min_confidence: float
    regions_of_interest: tuple[RegionOfInterest, ...] = ()


class ProcessorWiring(Model):
    """The immutable part: changing any of it means re-creating the processor."""

    stream_arn: Arn
    bucket: str
    key_prefix: str
    sns_topic_arn: Arn
    role_arn: Arn


class StreamRecord(Model):
    name: str
    arn: Arn
    retention_hours: int
    status: str


class RoleRecord(Model):
    name: str
    arn: Arn


class ProcessorRecord(Model):
    name: str
    arn: Arn
    status: ProcessorStatus
    settings: ProcessorSettings
    wiring: ProcessorWiring
    status_message: str | None = None
    # Changes when a session starts or ends: tells one session from the next, both STARTING.
    last_update: datetime | None = None


class CertificateRecord(Model):
    certificate_id: str
    arn: Arn
    status: Literal["ACTIVE", "INACTIVE", "REVOKED", "PENDING_TRANSFER", "PENDING_ACTIVATION"]


class ThingRecord(Model):
    name: str
    arn: Arn
    attributes: dict[str, str]
    version: int
    principals: tuple[Arn, ...] = ()


class ResultsRecord(Model):
    """The fleet's results pipeline: Rekognition's topic -> queue -> consumer -> detections."""

    queue_url: str
    queue_arn: Arn
    dlq_url: str
    dlq_arn: Arn
    subscription_arn: Arn
    detections_table: str
    detections_table_arn: Arn
    notifications_topic_arn: Arn


class FramesRecord(Model):
    """The frames analyzer's fleet-level resources."""

    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    table_arn: str


class FleetRecord(Model):
    """The fleet-level resources every camera shares."""

    fleet: str
    account_id: str
    region: str
    bucket: str
    topic_arn: Arn
    iot_policy: str
    thing_group_arn: Arn
    producer_role_arn: Arn
    role_alias: str
    role_alias_arn: Arn
    mqtt_host: str
    mqtt_port: int
    credentials_endpoint: str
    results: ResultsRecord | None = None
    analyzer: Analyzer = Analyzer.STREAM_PROCESSOR
    frames: FramesRecord | None = None


class CameraRecord(Model):
    """One camera as the registry (the IoT thing registry) and the services see it."""

    camera_id: str
    thing_name: str
    thing_arn: Arn
    settings: CameraSpec
    stream_arn: Arn | None = None
    processor_arn: Arn | None = None
    processor_status: ProcessorStatus | None = None
    role_arn: Arn | None = None
    certificate_arn: Arn | None = None


class RegistrationResult(Model):
    camera_id: str
    thing_name: str
    stream_arn: Arn
    processor_arn: Arn | None = Field(description="None on a frames fleet.")
    role_arn: Arn | None = Field(description="None on a frames fleet.")
    certificate_arn: Arn
    bundle_dir: Path
    changed: tuple[str, ...] = Field(description="What this registration created or updated.")


class Change(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
