"""Fleet settings: one typed model, read once at the composition root (CLI, flow entry points)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloud.models import Analyzer
from cloud.naming import validate_fleet_name
from cloud.policies import INFRA_DIR

LOOPBACK = "127.0.0.1"
# moto's server accepts any credentials; these are never used against AWS.
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
# The local IoT CA's certificate, under `stack_dir`: the local broker's CA and what cameras trust.
LOCAL_BROKER_CA = Path("aws", "ca", "ca.pem")
AMAZON_ROOT_CA = INFRA_DIR / "certs" / "AmazonRootCA1.pem"


class Target(StrEnum):
    LOCAL = "local"
    AWS = "aws"


class FleetSettings(BaseSettings):
    """Everything configurable about the control plane, from `FLEET_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="FLEET_", extra="forbid", frozen=True)

    name: str = Field(
        "camfleet", description="Fleet name: prefix and ownership marker of every resource."
    )
    target: Target = Target.LOCAL
    region: str = "us-east-1"
    aws_profile: str | None = None
    home: Path = Field(default_factory=lambda: Path.home() / ".camera-fleet")
    results_bucket: str | None = Field(None, description="Override the results bucket name.")
    aws_port: int = 5055
    mqtt_port: int = 8883
    prefect_port: int = 4200
    processor_quota: int = Field(10, ge=1, description="Local stack only: stream processor quota.")
    streaming_video: bool = Field(
        True,
        description="Local stack only: the account may create stream processors (false: as AWS "
        "treats a new customer since 2026-04-30).",
    )
    registration_concurrency: int = Field(8, ge=1, le=64)
    notification_cooldown_seconds: float = Field(
        60.0, ge=0, le=86400, description="At most one detection notification per camera per this."
    )
    analysis_preroll_ms: int = Field(
        2000, ge=0, le=30_000, description="Analysis starts this long before the motion."
    )
    analysis_cooldown_seconds: int = Field(
        10, ge=0, le=3600, description="Per camera: quiet time after a session before a new one."
    )
    analysis_daily_budget_minutes: int = Field(
        30, ge=1, le=1440, description="Per camera: analysed minutes a day (sessions cost money)."
    )
    analyzer: Analyzer | None = Field(
        None,
        description="The analyzer `fleet init` records with the fleet (default: the recorded one; "
        "stream-processor for a new fleet). Every part follows the recorded one.",
    )
    frames_search_ms: int = Field(
        3000,
        ge=200,
        le=10_000,
        description="Frames analyzer: while nothing is seen, one image per this (first at the "
        "motion's moment). A visit of this plus the confirmations' span is always seen.",
    )
    frames_confirm_ms: int = Field(
        1000,
        ge=200,
        le=10_000,
        description="Frames analyzer: once a class is seen, one image per this until it is "
        "confirmed or gone.",
    )
    frames_confirmations: int = Field(
        2,
        ge=1,
        le=10,
        description="Frames analyzer: a class counts once seen in this many "
        "sampled images in a row.",
    )
    frames_image_width: int = Field(
        1280,
        ge=80,
        le=3840,
        description="Frames analyzer: width of the JPEGs sent to DetectLabels.",
    )
    frames_detect_rate: float = Field(
        5.0,
        gt=0,
        le=100,
        description="Frames analyzer: DetectLabels calls a second, all workers "
        "together (the account's quota is shared with everything else that calls it).",
    )
    frames_ingest_grace_seconds: float = Field(
        10.0,
        ge=0,
        le=120,
        description="Frames analyzer: how long past a window's end images "
        "not yet ingested are waited for.",
    )
    analyzer_sessions: int = Field(
        8, ge=1, le=64, description="Frames analyzer: sessions one worker analyses at once."
    )
    health_event_interval_seconds: float = Field(
        300.0,
        ge=1,
        le=86400,
        description="Per camera: at most one unchanged camera.health Prefect event per this.",
    )
    face_match_threshold: float = Field(
        95.0,
        ge=80,
        le=100,
        description="Percent: a face is named only when its similarity to a known face is at "
        "least this (SearchFacesByImage's FaceMatchThreshold; AWS's default is 80). A stranger "
        "named as family is the costly error, a miss only says `unknown person`; AWS recommends "
        "99 where a wrong match is costly, which misses more of the household (bench/faces.py: "
        "the same face as a door camera sees it 90 to 99.8, different people 25 to 54).",
    )
    snapshot_link_seconds: int = Field(
        86_400,
        ge=60,
        le=604_800,
        description="How long a notification's link to its frame (a presigned S3 URL) works: a "
        "day, so a notification read the next morning still opens, while a forwarded link stops "
        "working soon after (SigV4 allows at most 7 days; a link signed with temporary "
        "credentials ends when they do).",
    )
    media_retention_days: int = Field(
        30,
        ge=1,
        le=3650,
        description="Frames and clips under the results prefix expire after this many days (an S3 "
        "lifecycle rule set by `fleet init`); detection records stay and say so.",
    )
    webhook_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="POST each detection notification here as JSON (optional; may hold a token).",
    )
    status_interval_seconds: int = Field(
        60, ge=10, le=86_400, description="The served fleet-status flow runs this often."
    )
    automations_file: Path | None = Field(
        None, description="The automations declaration (default infra/prefect/automations.toml)."
    )

    @field_validator("name")
    @classmethod
    def _fleet_name(cls, value: str) -> str:
        return validate_fleet_name(value)

    @model_validator(mode="after")
    def _confirm_within_search(self) -> FleetSettings:
        if self.frames_confirm_ms > self.frames_search_ms:
            raise ValueError(
                f"FLEET_FRAMES_CONFIRM_MS ({self.frames_confirm_ms}) must not exceed "
                f"FLEET_FRAMES_SEARCH_MS ({self.frames_search_ms}): a sighting is confirmed at "
                "least as often as the video is searched"
            )
        return self

    @property
    def is_local(self) -> bool:
        return self.target is Target.LOCAL

    @property
    def endpoint_url(self) -> str | None:
        """The AWS endpoint: the local stack's, or None for the real AWS endpoints."""
        return f"http://{LOOPBACK}:{self.aws_port}" if self.is_local else None

    @property
    def stack_dir(self) -> Path:
        return self.home / "stack"

    @property
    def broker_ca_file(self) -> Path:
        """The CA a camera must trust for its broker: the local stack's, or Amazon Root CA 1."""
        return self.stack_dir / LOCAL_BROKER_CA if self.is_local else AMAZON_ROOT_CA

    @property
    def bundles_dir(self) -> Path:
        """Device bundles: the local stack's die with its CA (`fleet down --wipe`)."""
        if self.is_local:
            return self.stack_dir / "bundles"
        return self.home / "bundles" / self.region

    @property
    def bridge_dir(self) -> Path:
        """The MQTT bridge's own bundle (key, certificate, CA): never a camera's."""
        if self.is_local:
            return self.stack_dir / "bridge"
        return self.home / "bridge" / self.region
