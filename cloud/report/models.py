"""What a fleet report is made of: the window, what was read per camera, and the report itself."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import Field, computed_field, model_validator

from cloud.models import Analyzer, CameraId, Model
from cloud.rekognition_messages import DailyUsage


class ReportWindow(Model):
    """`[start, end)`, UTC; `start` is a UTC midnight."""

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> ReportWindow:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a report window's times carry their time zone")
        if self.end <= self.start:
            raise ValueError(f"a report window ends after it starts ({self.start}, {self.end})")
        return self

    @property
    def days(self) -> tuple[date, ...]:
        """Every UTC day the window touches, in order."""
        first, last = self.start.date(), (self.end - timedelta(microseconds=1)).date()
        return tuple(first + timedelta(days=n) for n in range((last - first).days + 1))

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


class DetectionFact(Model):
    """The part of a detection item the report counts."""

    label: str
    session_id: str
    detected_at: datetime


class CameraReadings(Model):
    """What was read about one camera for the window."""

    camera_id: CameraId
    detections: tuple[DetectionFact, ...] = ()
    usage: tuple[DailyUsage, ...] = Field((), description="Only the days with usage stored.")


class Prices(Model):
    """Prices (USD) the cost is estimated at, and which of them are assumptions."""

    stream_processor_per_minute: float = Field(ge=0)
    detect_labels_per_image: float = Field(ge=0)
    assumed: tuple[str, ...] = Field(
        (), description="The names of the prices above that no public source confirmed."
    )


class HourCount(Model):
    hour: int = Field(ge=0, le=23, description="UTC hour of day.")
    detections: int = Field(ge=0)


class CameraDay(Model):
    """One camera's UTC day."""

    camera_id: CameraId
    day: date
    detections_by_label: dict[str, int] = Field(default_factory=dict)
    sessions: int = Field(0, ge=0)
    processed_ms: int = Field(0, ge=0, description="Video the sessions analysed.")
    images: int | None = Field(
        None, ge=0, description="Frames analyzer: images analysed (estimated); else None."
    )
    cost_usd: float = Field(0, ge=0, description="Estimated.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def detections(self) -> int:
        return sum(self.detections_by_label.values())

    @computed_field  # type: ignore[prop-decorator]
    @property
    def minutes(self) -> float:
        return self.processed_ms / 60_000


class CameraReport(Model):
    camera_id: CameraId
    days: tuple[CameraDay, ...] = Field(description="Every day of the window, in order.")
    busiest_hours: tuple[HourCount, ...] = Field(description="Top 3, busiest first.")
    unread: str | None = Field(None, description="Why the camera could not be read, if not.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def detections(self) -> int:
        return sum(d.detections for d in self.days)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sessions(self) -> int:
        return sum(d.sessions for d in self.days)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def minutes(self) -> float:
        return sum(d.minutes for d in self.days)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def images(self) -> int | None:
        counted = [d.images for d in self.days if d.images is not None]
        return sum(counted) if counted else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost_usd(self) -> float:
        return sum(d.cost_usd for d in self.days)


class FleetDay(Model):
    """The whole fleet's detections of one UTC day, by label (what the chart draws)."""

    day: date
    detections_by_label: dict[str, int] = Field(default_factory=dict)


class ChartRef(Model):
    """Where the chart is stored, and a presigned link that opens it until `expires_at`."""

    uri: str
    url: str
    expires_at: datetime


class FleetReport(Model):
    fleet: str
    analyzer: Analyzer
    window: ReportWindow
    generated_at: datetime
    prices: Prices
    labels: tuple[str, ...] = Field(description="Every label counted, in the report's order.")
    cameras: tuple[CameraReport, ...]
    fleet_days: tuple[FleetDay, ...]
    busiest_hours: tuple[HourCount, ...] = Field(description="Fleet-wide top 3, busiest first.")
    chart: ChartRef | None = None
    chart_error: str | None = Field(None, description="Why the chart could not be stored.")

    @property
    def report_date(self) -> date:
        return self.window.end.date()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def detections(self) -> int:
        return sum(c.detections for c in self.cameras)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sessions(self) -> int:
        return sum(c.sessions for c in self.cameras)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def minutes(self) -> float:
        return sum(c.minutes for c in self.cameras)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost_usd(self) -> float:
        return sum(c.cost_usd for c in self.cameras)
