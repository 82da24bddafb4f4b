"""The pure parts of `bench/ingest.py`: the message stream, nearest-rank percentiles and how a
table shows them (`bench/motion.py` uses both), and the books of a step (what was published
against what the bridge replicas handled or coalesced, wrote to shadows and emitted as Prefect
events). No I/O, no clock: times are passed in (wall-clock milliseconds).

The stream: camera `c`'s messages are numbered `n` = 0, 1, 2, ... Message 0 is a status
`online`, 1 a health with the pipeline `running` (the warm-up: every camera known, every shadow
written). From 2 on, with `k = (n + c) % cycle`: `k == 0` a status `offline`, `k == 1` a status
`online` (a flap), `k == cycle // 4` a motion, `k == cycle // 2` a health `restarting`,
`k == cycle // 2 + 1` a health `running` (a pipeline restart), and every other message a health
`running`. The offsets spread the state changes and the motion evenly over the cameras and over
time: 4 messages in `cycle` change a camera's state, which the bridge must write to its shadow at
once and report as a Prefect event, and 1 is a motion, which the bridge must never drop; the rest
only refresh its last-seen time and health, written at most every flush interval, and are what a
bridge behind may coalesce. A message is named by (camera, sent_at_ms), unique per camera
(`Stream.stamp`); a status carries `bench <n>` as its reason, a health `n` as its uptime and a
motion `n` as its sequence, so an event names its message too.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from device.messages import (
    HealthEvent,
    MotionEvent,
    PipelineState,
    Presence,
    StatusEvent,
    TopicKind,
    encode,
)
from flows.events import CAMERA_HEALTH, CAMERA_OFFLINE, CAMERA_ONLINE

Key = tuple[str, int]  # (camera, sent_at_ms)
# What the bridge emits.
EVENT_ONLINE, EVENT_OFFLINE, EVENT_HEALTH = (
    CAMERA_ONLINE.name,
    CAMERA_OFFLINE.name,
    CAMERA_HEALTH.name,
)
REASON_PREFIX = "bench "
MIN_CYCLE = 8  # room for the flap, the motion and the restart apart
KINDS = (TopicKind.MOTION, TopicKind.STATUS, TopicKind.HEALTH)


@dataclass(frozen=True)
class Planned:
    camera: str
    n: int
    kind: TopicKind
    presence: Presence | None = None
    pipeline: PipelineState | None = None
    change: bool = False  # a presence or pipeline change: an urgent shadow write and an event

    def payload(self, sent_at_ms: int) -> bytes:
        if self.kind is TopicKind.MOTION:
            return encode(
                MotionEvent(
                    camera_id=self.camera,
                    sent_at_ms=sent_at_ms,
                    sequence=self.n,
                    producer_timestamp_ms=sent_at_ms,
                    score=0.9,
                )
            )
        if self.kind is TopicKind.STATUS:
            assert self.presence is not None
            return encode(
                StatusEvent(
                    camera_id=self.camera,
                    sent_at_ms=sent_at_ms,
                    presence=self.presence,
                    reason=f"{REASON_PREFIX}{self.n}",
                )
            )
        assert self.pipeline is not None
        return encode(
            HealthEvent(
                camera_id=self.camera,
                sent_at_ms=sent_at_ms,
                pipeline=self.pipeline,
                uptime_seconds=float(self.n),
                restarts=0,
                fps=15.0,
                bitrate_kbps=980.0,
                dropped_frames=0,
                motion_count=0,
                agent_cpu_percent=3.5,
                agent_rss_mb=48.0,
                versions={"agent": "0.1.0", "gstreamer": "1.22"},
            )
        )


def plan(
    camera_index: int, n: int, cycle: int
) -> tuple[TopicKind, Presence | None, PipelineState | None]:
    """What camera `camera_index` sends as its message `n` (see the module's docstring)."""
    if n == 0:
        return TopicKind.STATUS, Presence.ONLINE, None
    if n == 1:
        return TopicKind.HEALTH, None, PipelineState.RUNNING
    k = (n + camera_index) % cycle
    if k in (0, 1):
        return TopicKind.STATUS, Presence.OFFLINE if k == 0 else Presence.ONLINE, None
    if k == cycle // 4:
        return TopicKind.MOTION, None, None
    restarting = k == cycle // 2
    return TopicKind.HEALTH, None, PipelineState.RESTARTING if restarting else PipelineState.RUNNING


@dataclass
class Stream:
    """Round robin over the cameras, each with its own numbering; marks the changes."""

    cameras: Sequence[str]
    cycle: int = 100
    _next: int = 0
    _n: list[int] = field(default_factory=list)
    _presence: list[Presence | None] = field(default_factory=list)
    _pipeline: list[PipelineState | None] = field(default_factory=list)
    _last_ms: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.cycle < MIN_CYCLE:
            raise ValueError(f"a cycle of at least {MIN_CYCLE} messages keeps the changes apart")
        count = len(self.cameras)
        self._n, self._last_ms = [0] * count, [0] * count
        self._presence, self._pipeline = [None] * count, [None] * count

    def next(self) -> tuple[int, Planned]:
        """The next message: (camera index, message)."""
        c = self._next
        self._next = (c + 1) % len(self.cameras)
        n = self._n[c]
        self._n[c] += 1
        kind, presence, pipeline = plan(c, n, self.cycle)
        change = False
        if presence is not None:
            change = self._presence[c] is not None and presence is not self._presence[c]
            self._presence[c] = presence
        if pipeline is not None:
            change = self._pipeline[c] is not None and pipeline is not self._pipeline[c]
            self._pipeline[c] = pipeline
        return c, Planned(self.cameras[c], n, kind, presence, pipeline, change)

    def stamp(self, camera_index: int, now_ms: int) -> int:
        """The message's sent_at_ms: the wall clock, but always later than the camera's last."""
        at = max(now_ms, self._last_ms[camera_index] + 1)
        self._last_ms[camera_index] = at
        return at


# Statistics.


@dataclass(frozen=True)
class Lag:
    ms: float
    at_least: bool = False  # not there when the step was read: a lower bound


def percentiles(lags: Sequence[Lag], qs: Iterable[int] = (50, 99)) -> dict[str, Any]:
    """Nearest-rank percentiles and the maximum. With lower bounds among the values, an order
    statistic is a lower bound as soon as one of the values up to its rank is."""
    ordered = sorted(lags, key=lambda lag: lag.ms)
    out: dict[str, Any] = {"samples": len(ordered), "late": sum(lag.at_least for lag in ordered)}
    ranks = [(f"p{q}", max(1, math.ceil(q / 100 * len(ordered)))) for q in qs]
    for name, rank in [*ranks, ("max", len(ordered))]:
        chosen = ordered[:rank]
        out[f"{name}_ms"] = round(chosen[-1].ms, 1) if ordered else None
        out[f"{name}_at_least"] = any(lag.at_least for lag in chosen)
    return out


def shown_ms(stats: Mapping[str, Any], name: str) -> str:
    """A percentile of `percentiles` for a table: "-" without samples, "≥" for a lower bound."""
    value = stats.get(f"{name}_ms")
    if value is None:
        return "-"
    shown = f"{value / 1000:.1f} s" if value >= 10_000 else f"{value:.0f} ms"
    return f"≥ {shown}" if stats.get(f"{name}_at_least") else shown


def under(stats: Mapping[str, Any], name: str, limit_ms: float) -> bool:
    """The percentile exists, is known (not a lower bound) and is under the limit."""
    value = stats.get(f"{name}_ms")
    return value is not None and not stats.get(f"{name}_at_least") and value < limit_ms


# What the bridge under test recorded (bench/ingest_bridge.py).


@dataclass(frozen=True)
class Processed:
    camera: str
    sent_at_ms: int
    received_ms: int  # when the bridge took it off the connection
    done_ms: int  # when every handler of its kind had run (the naive: shadow and event done)

    @property
    def key(self) -> Key:
        return self.camera, self.sent_at_ms


@dataclass(frozen=True)
class Coalesced:
    """A health the bridge replaced, before handling it, by the camera's newer one."""

    camera: str
    sent_at_ms: int
    received_ms: int

    @property
    def key(self) -> Key:
        return self.camera, self.sent_at_ms


@dataclass(frozen=True)
class Written:
    camera: str
    written_ms: int  # the shadow update returned: durable at the endpoint
    status_received_ms: int | None  # the presence it wrote (its status_at_ms), if any
    presence: str | None  # that presence's value
    health_sent_at_ms: int | None  # the health it wrote, if any
    pipeline: str | None  # that health's pipeline state


@dataclass(frozen=True)
class Sent:
    camera_index: int
    planned: Planned
    sent_at_ms: int
    acked: bool

    @property
    def key(self) -> Key:
        return self.planned.camera, self.sent_at_ms


@dataclass(frozen=True)
class StoredEvent:
    camera: str
    name: str
    n: int  # the message it names (its reason or uptime)
    received_ms: int  # when the Prefect server received it


def event_message_number(name: str, payload: Mapping[str, Any]) -> int | None:
    """Which message of its camera a `camera.*` event was emitted for (None: not the bench's)."""
    if name in (EVENT_ONLINE, EVENT_OFFLINE):
        reason = payload.get("reason")
        if isinstance(reason, str) and reason.startswith(REASON_PREFIX):
            return int(reason.removeprefix(REASON_PREFIX))
        return None
    if name == EVENT_HEALTH and isinstance(payload.get("uptime_seconds"), int | float):
        return int(payload["uptime_seconds"])
    return None


@dataclass
class Books:
    published: int = 0
    acked: int = 0
    processed: int = 0  # distinct messages of the step the bridge processed
    duplicates: int = 0  # deliveries beyond the first (QoS 1 may redeliver)
    # Acknowledged by the broker, neither processed nor coalesced; per kind (TopicKind values).
    lost: list[Key] = field(default_factory=list)
    lost_by_kind: Counter[str] = field(default_factory=Counter)
    coalesced_by_kind: Counter[str] = field(default_factory=Counter)  # replaced, never processed
    changes: int = 0
    changes_coalesced: int = 0  # a pipeline change replaced by a newer health before handling
    changes_never_shown: int = 0  # the camera moved on before the shadow showed it
    changes_unwritten: int = 0  # shadow and camera never agreed again by the time of reading
    routine_written: int = 0  # routine healths written themselves (the rest: a newer one)
    intake: dict[str, Any] = field(default_factory=dict)
    change_to_shadow: dict[str, Any] = field(default_factory=dict)
    routine_to_shadow: dict[str, Any] = field(default_factory=dict)
    handled_per_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "published": self.published,
            "acked": self.acked,
            "processed": self.processed,
            "duplicates": self.duplicates,
            "lost": len(self.lost),
            "lost_by_kind": {kind.value: self.lost_by_kind[kind.value] for kind in KINDS},
            "coalesced_by_kind": {kind.value: self.coalesced_by_kind[kind.value] for kind in KINDS},
            "lost_messages": [f"{c}@{ms}" for c, ms in self.lost[:20]],
            "changes": self.changes,
            "changes_coalesced": self.changes_coalesced,
            "changes_never_shown": self.changes_never_shown,
            "changes_unwritten": self.changes_unwritten,
            "routine_written": self.routine_written,
            "handled_per_s": self.handled_per_s,
            "intake": self.intake,
            "change_to_shadow": self.change_to_shadow,
            "routine_to_shadow": self.routine_to_shadow,
        }


Part = tuple[str, TopicKind]  # (camera, STATUS for the presence or HEALTH for the pipeline)


def _value(planned: Planned) -> str | None:
    state = planned.presence if planned.kind is TopicKind.STATUS else planned.pipeline
    return None if state is None else state.value


def _at(timeline: list[tuple[int, str | None]], t: int) -> str | None:
    """The value in force at `t`: the last one set at or before it."""
    i = bisect.bisect_right(timeline, t, key=lambda e: e[0])
    return timeline[i - 1][1] if i else None


@dataclass
class _Timelines:
    """Per camera and part, when its value changed on the camera's side (as the bridge processed
    each message) and in the shadow (as each write returned)."""

    camera: dict[Part, list[tuple[int, str | None]]] = field(default_factory=dict)
    shadow: dict[Part, list[tuple[int, str | None]]] = field(default_factory=dict)
    healths: dict[str, list[Written]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        history: Iterable[Sent],
        processed: Mapping[Key, Sequence[Processed]],
        writes: Iterable[Written],
    ) -> _Timelines:
        timelines = cls()
        for s in history:
            deliveries = processed.get(s.key)
            if deliveries and s.planned.kind is not TopicKind.MOTION:
                done = min(p.done_ms for p in deliveries)
                part = (s.planned.camera, s.planned.kind)
                timelines.camera.setdefault(part, []).append((done, _value(s.planned)))
        for w in writes:
            if w.presence is not None:
                timelines.shadow.setdefault((w.camera, TopicKind.STATUS), []).append(
                    (w.written_ms, w.presence)
                )
            if w.health_sent_at_ms is not None:
                timelines.shadow.setdefault((w.camera, TopicKind.HEALTH), []).append(
                    (w.written_ms, w.pipeline)
                )
                timelines.healths.setdefault(w.camera, []).append(w)
        for line in (*timelines.camera.values(), *timelines.shadow.values()):
            line.sort(key=lambda e: e[0])
        for healths in timelines.healths.values():
            healths.sort(key=lambda w: w.written_ms)
        return timelines

    def agreed(self, part: Part, since: int) -> tuple[int, str | None] | None:
        """The first moment from `since` on when the shadow shows the camera's value of the
        time, and that value; None if they never agree again."""
        camera, shadow = self.camera.get(part, []), self.shadow.get(part, [])
        after = sorted(
            {since}
            | {t for t, _ in camera[bisect.bisect_right(camera, since, key=lambda e: e[0]) :]}
            | {t for t, _ in shadow[bisect.bisect_right(shadow, since, key=lambda e: e[0]) :]}
        )
        for t in after:
            value = _at(camera, t)
            if value == _at(shadow, t):
                return t, value
        return None

    def routine_written(self, s: Sent) -> tuple[Written | None, bool]:
        """The first write of this health or a newer one, and whether it was this one."""
        for w in self.healths.get(s.planned.camera, ()):
            assert w.health_sent_at_ms is not None
            if w.health_sent_at_ms >= s.sent_at_ms:
                return w, w.health_sent_at_ms == s.sent_at_ms
        return None, False


def step_books(
    sent: Sequence[Sent],
    processed: Mapping[Key, Sequence[Processed]],
    writes: Sequence[Written],
    read_at_ms: int,
    history: Sequence[Sent] | None = None,
    coalesced: Collection[Key] = frozenset(),
) -> Books:
    """A step's messages against the bridge's records (of the whole run; `history`: every message
    of the run, default the step's; `coalesced`: the healths replaced by a newer one): loss and
    coalescing per kind, duplicates, intake lag (publish to processed), and:

    - for a state change (presence or pipeline), publish to the first moment the camera's shadow
      shows the camera's state again: when the write carrying it returned, or, if the camera
      moved on first (a flap faster than a write), when the shadow caught up with that (at once
      if the camera came back to what the shadow shows; counted as never shown). None by
      `read_at_ms`: at least the time until then;
    - for a routine health, publish to the first write of it or a newer health: the flush
      interval, by design."""
    books = Books(published=len(sent), acked=sum(s.acked for s in sent))
    timelines = _Timelines.of(history if history is not None else sent, processed, writes)
    intake: list[Lag] = []
    changes: list[Lag] = []
    routine: list[Lag] = []
    last_done = 0
    for s in sent:
        deliveries = processed.get(s.key, ())
        if not deliveries:
            if s.key in coalesced:
                books.coalesced_by_kind[s.planned.kind.value] += 1
                books.changes_coalesced += s.planned.change
            elif s.acked:
                books.lost.append(s.key)
                books.lost_by_kind[s.planned.kind.value] += 1
            continue
        done = min(p.done_ms for p in deliveries)
        books.processed += 1
        books.duplicates += len(deliveries) - 1
        last_done = max(last_done, done)
        intake.append(Lag(done - s.sent_at_ms))
        if s.planned.change:
            books.changes += 1
            agreed = timelines.agreed((s.planned.camera, s.planned.kind), done)
            if agreed is None:
                books.changes_unwritten += 1
                changes.append(Lag(read_at_ms - s.sent_at_ms, at_least=True))
                continue
            at, value = agreed
            books.changes_never_shown += value != _value(s.planned)
            changes.append(Lag(at - s.sent_at_ms))
        elif s.planned.kind is TopicKind.HEALTH:
            write, itself = timelines.routine_written(s)
            books.routine_written += itself
            routine.append(
                Lag(read_at_ms - s.sent_at_ms, at_least=True)
                if write is None
                else Lag(write.written_ms - s.sent_at_ms)
            )
    books.intake = percentiles(intake)
    books.change_to_shadow = percentiles(changes)
    books.routine_to_shadow = percentiles(routine)
    if sent and last_done:
        span_s = (last_done - min(s.sent_at_ms for s in sent)) / 1000
        books.handled_per_s = round(books.processed / span_s, 1) if span_s > 0 else 0.0
    return books


def sustained(books: Mapping[str, Any], limit_ms: float) -> bool:
    """A step the bridge kept up with: something processed, nothing lost or coalesced, and the
    p99 intake lag known and under `limit_ms`."""
    return (
        books["processed"] > 0
        and books["lost"] == 0
        and not any(books["coalesced_by_kind"].values())
        and under(books["intake"], "p99", limit_ms)
    )


def offered_rate(asked: int, published: int, publish_s: float) -> int:
    """The rate a step offered: the one asked, or what the publishers made if they fell short of
    it by more than 5 %."""
    made = published / publish_s if publish_s > 0 else float(asked)
    return asked if made >= 0.95 * asked else int(made)


def overload_rate(steps: Iterable[tuple[int, bool]]) -> int | None:
    """Twice the highest sustained rate of (rate, sustained) steps; None if none was."""
    best = max((rate for rate, ok in steps if ok), default=None)
    return None if best is None else 2 * best


def replica_cpus(replicas: int, cpus: int) -> list[int]:
    """A CPU of its own per replica, leaving the first to the stack and the publishers; with too
    few CPUs for that, the replicas share the last one."""
    return list(range(cpus - replicas, cpus)) if cpus > replicas else [cpus - 1]


def event_lags(
    sent: Sequence[Sent],
    events: Sequence[StoredEvent],
    sample: set[str],
    every_message: bool,
    read_at_ms: int,
) -> tuple[dict[str, Any], int]:
    """Publish to the Prefect server's receipt of the event, for the step's messages of the
    sampled cameras: every change must have one (`every_message`: every message, the naive
    way); a missing one counts as at least the time until `read_at_ms`. Returns the statistics
    and how many were missing. Events for other messages (a health after a flap) are timed
    too."""
    by_message = {(e.camera, e.n): e for e in events}
    lags: list[Lag] = []
    missing = 0
    for s in sent:
        if s.planned.camera not in sample:
            continue
        event = by_message.get((s.planned.camera, s.planned.n))
        if event is not None:
            lags.append(Lag(event.received_ms - s.sent_at_ms))
        elif (every_message or s.planned.change) and s.acked:
            missing += 1
            lags.append(Lag(read_at_ms - s.sent_at_ms, at_least=True))
    return percentiles(lags), missing


def index_processed(records: Iterable[Processed]) -> dict[Key, list[Processed]]:
    out: dict[Key, list[Processed]] = {}
    for record in records:
        out.setdefault(record.key, []).append(record)
    return out
