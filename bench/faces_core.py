"""The face benchmark, pure: searches and timings in, counts, percentiles and targets out. No
I/O; `bench/faces.py` makes the observations.

A probe is searched once at threshold 0, which gives each face's best match and its similarity;
what the fleet would answer at any threshold follows from that (a face is named when its best
similarity reaches the threshold), so one search per probe serves the whole sweep. The same probe
is searched again at the fleet's threshold, the product's own answer, which must agree.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

THRESHOLDS = (80.0, 90.0, 95.0, 99.0)
ADDED_P95_TARGET_MS = 500.0
FACE_OPERATIONS = ("DetectFaces", "SearchFacesByImage", "GetObject")


class Outcome(StrEnum):
    NAMED_RIGHT = "named right"  # the indexed person, named
    NAMED_WRONG = "named wrong"  # a name that is not the probe's person
    UNKNOWN = "unknown"  # faces seen, none named
    NO_FACE = "no face"  # no face found in the picture
    FAILED = "failed"  # the face APIs failed


@dataclass(frozen=True)
class SeenFace:
    """A face of a picture and its best match (None: nobody, or not at the threshold)."""

    name: str | None
    similarity: float | None


@dataclass(frozen=True)
class Search:
    """One probe searched in a round where `indexed` is the one known person."""

    person: str
    variant: str
    indexed: str
    known: bool  # the probe's person is the one indexed
    faces: tuple[SeenFace, ...] | None  # at threshold 0; None: the search failed
    at_fleet: Outcome  # the product's answer at the fleet's threshold

    @property
    def expected(self) -> str | None:
        return self.indexed if self.known else None

    @property
    def best(self) -> float | None:
        """The best similarity of any face to the indexed person (None: no face, or failed)."""
        found = [f.similarity for f in self.faces or () if f.similarity is not None]
        return max(found, default=None)


def outcome(faces: Sequence[SeenFace] | None, expected: str | None, threshold: float) -> Outcome:
    """What a search answers at `threshold` for a picture of the person `expected` is known as
    (None: a stranger). One wrong name makes the picture wrongly named."""
    if faces is None:
        return Outcome.FAILED
    if not faces:
        return Outcome.NO_FACE
    named = [
        f.name
        for f in faces
        if f.name is not None and f.similarity is not None and f.similarity >= threshold
    ]
    if any(name != expected for name in named):
        return Outcome.NAMED_WRONG
    if expected is not None and expected in named:
        return Outcome.NAMED_RIGHT
    return Outcome.UNKNOWN


def _counted(outcomes: Iterable[Outcome]) -> dict[str, int]:
    found = Counter(outcomes)
    return {o.value: found[o] for o in Outcome}


def sweep(searches: Sequence[Search], thresholds: Iterable[float]) -> list[dict[str, Any]]:
    """Per threshold: the known person's pictures and the strangers' pictures by outcome, and
    the wrong names among both."""
    rows = []
    for threshold in sorted(set(thresholds)):
        known = _counted(outcome(s.faces, s.expected, threshold) for s in searches if s.known)
        strangers = _counted(outcome(s.faces, None, threshold) for s in searches if not s.known)
        rows.append(
            {
                "threshold": threshold,
                "known": known,
                "strangers": strangers,
                "wrong_names": known[Outcome.NAMED_WRONG] + strangers[Outcome.NAMED_WRONG],
            }
        )
    return rows


def at_fleet(searches: Sequence[Search], threshold: float) -> dict[str, Any]:
    """The product's own answers at the fleet's threshold, and the pictures where they differ
    from what the search at 0 implies."""
    disagree = [
        f"{s.person} {s.variant} ({s.indexed} indexed): {s.at_fleet.value}"
        for s in searches
        if s.at_fleet is not outcome(s.faces, s.expected, threshold)
    ]
    return {
        "threshold": threshold,
        "known": _counted(s.at_fleet for s in searches if s.known),
        "strangers": _counted(s.at_fleet for s in searches if not s.known),
        "wrong_names": sum(s.at_fleet is Outcome.NAMED_WRONG for s in searches),
        "disagree": disagree,
    }


def similarities(searches: Sequence[Search]) -> list[dict[str, Any]]:
    """Per picture (person and variant, in the order first searched): its best similarity to
    each indexed person (None: no face found)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for s in searches:
        row = rows.setdefault((s.person, s.variant), {"person": s.person, "variant": s.variant})
        row[s.indexed] = None if s.best is None else round(s.best, 1)
    return list(rows.values())


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def stats(values: Sequence[float]) -> dict[str, Any]:
    def shown(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "samples": len(values),
        "p50_ms": shown(percentile(values, 50)),
        "p95_ms": shown(percentile(values, 95)),
        "max_ms": shown(max(values, default=None)),
    }


@dataclass(frozen=True)
class LatencySample:
    """One detection handled by the results consumer on a camera without recognition and the
    same detection on a camera with it, and `recognise_frame` alone on another frame."""

    person: str
    without_ms: float
    with_ms: float
    recognise_ms: float
    status: str  # what recognition made of the handled detection's frame
    endpoint_cpu_without_ms: float = 0.0  # CPU the local endpoint spent on each handling
    endpoint_cpu_with_ms: float = 0.0
    requests_without: Mapping[str, int] = field(default_factory=dict)  # by operation
    requests_with: Mapping[str, int] = field(default_factory=dict)
    calls_with_ms: Mapping[str, float] = field(default_factory=dict)  # client-side, by operation


def _per_detection(counts: Iterable[Mapping[str, int]], samples: int) -> dict[str, float]:
    total: Counter[str] = Counter()
    for found in counts:
        total.update(found)
    return {op: round(n / samples, 2) for op, n in sorted(total.items())} if samples else {}


def latency_figures(samples: Sequence[LatencySample]) -> dict[str, Any]:
    """The consumer's handling without and with recognition, the difference per detection (the
    latency recognition adds; also per person), `recognise_frame` alone, the endpoint's CPU time, and per
    detection with recognition the requests and the time of each operation's calls (an
    operation a detection did not call counts 0 ms)."""
    without = [s.without_ms for s in samples]
    with_ = [s.with_ms for s in samples]
    base, full = percentile(without, 50), percentile(with_, 50)
    return {
        "without": stats(without),
        "with": stats(with_),
        "added": stats([s.with_ms - s.without_ms for s in samples]),
        "recognise_frame": stats([s.recognise_ms for s in samples]),
        "endpoint_cpu_without": stats([s.endpoint_cpu_without_ms for s in samples]),
        "endpoint_cpu_with": stats([s.endpoint_cpu_with_ms for s in samples]),
        "added_by_person": {
            person: stats([s.with_ms - s.without_ms for s in samples if s.person == person])
            for person in sorted({s.person for s in samples})
        },
        "ratio_p50": None if not base or full is None else round(full / base, 1),
        "statuses": dict(sorted(Counter(s.status for s in samples).items())),
        "requests_without": _per_detection((s.requests_without for s in samples), len(samples)),
        "requests_with": _per_detection((s.requests_with for s in samples), len(samples)),
        "calls_with": {
            operation: stats([s.calls_with_ms.get(operation, 0.0) for s in samples])
            for operation in sorted({op for s in samples for op in s.calls_with_ms})
        },
    }


def targets(fleet: Mapping[str, Any], latency: Mapping[str, Any]) -> list[dict[str, Any]]:
    """0 wrong names at the fleet's threshold; the added latency's p95 under 0.5 s."""
    wrong = fleet["wrong_names"]
    added = latency["added"]["p95_ms"]
    return [
        {
            "target": f"0 wrong names at the fleet's threshold ({fleet['threshold']:g})",
            "measured": f"{wrong} wrong names",
            "met": wrong == 0,
        },
        {
            "target": f"latency added to a detection p95 under {ADDED_P95_TARGET_MS:g} ms",
            "measured": "no samples" if added is None else f"p95 {added:.0f} ms",
            "met": added is not None and added < ADDED_P95_TARGET_MS,
        },
    ]
