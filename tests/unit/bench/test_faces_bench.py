"""The face benchmark's pure parts: what a search answers at a threshold, the sweep, the
product's answers checked against it, latency figures from paired samples, the targets, the
pictures it searches and the tables it prints."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from bench.faces_core import (
    LatencySample,
    Outcome,
    Search,
    SeenFace,
    at_fleet,
    latency_figures,
    outcome,
    percentile,
    similarities,
    stats,
    sweep,
    targets,
)
from bench.faces_images import (
    FRAME_HEIGHT,
    FRAME_WIDTH,
    Person,
    door_frame,
    latency_frame,
    probes,
)
from bench.faces_report import tables
from stack.cameras.people import from_jpeg

ALICE_99 = SeenFace("alice", 99.0)
ALICE_95 = SeenFace("alice", 95.0)
ALICE_94 = SeenFace("alice", 94.9)
BOB_97 = SeenFace("bob", 97.0)
NOBODY = SeenFace(None, None)  # the product's unknown face: no name, no similarity


@pytest.mark.parametrize(
    ("faces", "expected", "threshold", "answer"),
    [
        (None, "alice", 95, Outcome.FAILED),
        ((), "alice", 95, Outcome.NO_FACE),
        ((), None, 95, Outcome.NO_FACE),
        ((ALICE_99,), "alice", 95, Outcome.NAMED_RIGHT),
        ((ALICE_95,), "alice", 95, Outcome.NAMED_RIGHT),  # at the threshold is a match
        ((ALICE_94,), "alice", 95, Outcome.UNKNOWN),
        ((ALICE_94,), "alice", 90, Outcome.NAMED_RIGHT),
        ((NOBODY,), "alice", 0, Outcome.UNKNOWN),
        ((ALICE_99,), None, 95, Outcome.NAMED_WRONG),  # a stranger named
        ((ALICE_94,), None, 95, Outcome.UNKNOWN),
        ((BOB_97,), "alice", 95, Outcome.NAMED_WRONG),
        ((ALICE_99, BOB_97), "alice", 95, Outcome.NAMED_WRONG),  # one wrong name is enough
        ((NOBODY, ALICE_99), "alice", 95, Outcome.NAMED_RIGHT),
    ],
)
def test_what_a_search_answers_at_a_threshold(
    faces: tuple[SeenFace, ...] | None, expected: str | None, threshold: float, answer: Outcome
) -> None:
    assert outcome(faces, expected, threshold) is answer


def _search(
    person: str,
    variant: str,
    indexed: str,
    faces: tuple[SeenFace, ...] | None,
    at_fleet: Outcome | None = None,
) -> Search:
    known = {"alice": "A", "bob": "B"}[indexed] == person
    expected = indexed if known else None
    return Search(
        person=person,
        variant=variant,
        indexed=indexed,
        known=known,
        faces=faces,
        at_fleet=at_fleet or outcome(faces, expected, 95),
    )


SEARCHES = [
    _search("A", "mirrored", "alice", (ALICE_99,)),
    _search("A", "blurred", "alice", (SeenFace("alice", 90.0),)),
    _search("B", "mirrored", "alice", (SeenFace("alice", 51.4),)),
    _search("B", "tiny", "alice", ()),
    _search("A", "mirrored", "bob", (SeenFace("bob", 35.7),)),
    _search("A", "blurred", "bob", (SeenFace("bob", 96.0),)),  # a stranger over 95
    _search("B", "mirrored", "bob", (SeenFace("bob", 99.5),)),
    _search("B", "tiny", "bob", ()),
]


def test_the_sweep_counts_known_and_strangers_pictures_per_threshold() -> None:
    rows = {row["threshold"]: row for row in sweep(SEARCHES, [99, 80, 95, 95])}

    assert list(rows) == [80, 95, 99]  # once each, in order
    assert rows[80]["known"] == {
        "named right": 3,
        "named wrong": 0,
        "unknown": 0,
        "no face": 1,
        "failed": 0,
    }
    assert rows[80]["strangers"]["named wrong"] == 1 and rows[80]["strangers"]["unknown"] == 2
    assert rows[95]["known"]["named right"] == 2 and rows[95]["known"]["unknown"] == 1
    assert rows[95]["wrong_names"] == 1
    assert rows[99]["known"]["named right"] == 2  # 99.0 and 99.5 reach 99
    assert rows[99]["wrong_names"] == 0 and rows[99]["strangers"]["unknown"] == 3


def test_the_products_answers_at_the_fleets_threshold_are_counted_and_checked() -> None:
    checked = at_fleet(SEARCHES, 95)
    assert checked["wrong_names"] == 1 and checked["disagree"] == []
    assert checked["known"]["named right"] == 2 and checked["strangers"]["named wrong"] == 1

    odd = [*SEARCHES[:1], _search("A", "dark", "alice", (ALICE_99,), Outcome.UNKNOWN)]
    assert at_fleet(odd, 95)["disagree"] == ["A dark (alice indexed): unknown"]


def test_similarities_are_per_picture_and_per_indexed_person() -> None:
    rows = similarities(SEARCHES)
    assert rows[0] == {"person": "A", "variant": "mirrored", "alice": 99.0, "bob": 35.7}
    assert rows[3] == {"person": "B", "variant": "tiny", "alice": None, "bob": None}
    assert len(rows) == 4


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(20, 0, -1)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (
        10,
        19,
        20,
    )
    assert percentile([7.0], 95) == 7 and percentile([], 50) is None
    assert stats([]) == {"samples": 0, "p50_ms": None, "p95_ms": None, "max_ms": None}


def test_the_added_latency_is_taken_per_detection_not_from_the_percentiles() -> None:
    samples = [
        LatencySample("A", without_ms=10, with_ms=500, recognise_ms=450, status="named"),
        LatencySample("B", without_ms=100, with_ms=510, recognise_ms=460, status="unknown"),
        LatencySample(
            "A",
            without_ms=20,
            with_ms=900,
            recognise_ms=800,
            status="named",
            requests_with={"DetectFaces": 1, "SearchFacesByImage": 2},
            requests_without={"PutItem": 2},
            calls_with_ms={"DetectFaces": 300.0},
        ),
    ]
    figures = latency_figures(samples)

    assert figures["added"]["p50_ms"] == 490  # 490, 410, 880: not 510 - 20
    assert figures["added"]["p95_ms"] == 880
    assert figures["added_by_person"]["A"]["samples"] == 2
    assert figures["added_by_person"]["B"]["p50_ms"] == 410
    assert figures["ratio_p50"] == round(510 / 20, 1)
    assert figures["statuses"] == {"named": 2, "unknown": 1}
    assert figures["requests_with"] == {"DetectFaces": 0.33, "SearchFacesByImage": 0.67}
    assert figures["requests_without"] == {"PutItem": 0.67}
    # A detection that made no such call counts 0 ms.
    assert figures["calls_with"]["DetectFaces"]["p50_ms"] == 0
    assert figures["calls_with"]["DetectFaces"]["max_ms"] == 300


def test_targets_are_no_wrong_name_and_the_added_latency_under_half_a_second() -> None:
    fleet = {"threshold": 95.0, "wrong_names": 0}
    fast = {"added": {"p95_ms": 499.0}}
    assert [t["met"] for t in targets(fleet, fast)] == [True, True]
    slow = {"added": {"p95_ms": 500.0}}
    wrong = {"threshold": 95.0, "wrong_names": 1}
    assert [t["met"] for t in targets(wrong, slow)] == [False, False]
    assert targets(fleet, {"added": {"p95_ms": None}})[1]["measured"] == "no samples"


def test_there_are_at_least_20_different_pictures_several_of_each_person() -> None:
    pictures = probes()
    assert len(pictures) >= 20
    assert {p.person for p in pictures} == {Person.A, Person.B}
    assert min(sum(p.person is person for p in pictures) for person in Person) >= 5
    assert len({p.data for p in pictures}) == len(pictures)
    assert all(p.data.startswith(b"\xff\xd8\xff") for p in pictures)  # JPEG
    assert len({(p.person, p.variant) for p in pictures}) == len(pictures)


def test_latency_frames_take_turns_and_are_never_the_same_bytes() -> None:
    frames = [latency_frame(i) for i in range(40)]
    assert [person for person, _ in frames[:4]] == [Person.A, Person.B, Person.A, Person.B]
    assert len({data for _, data in frames}) == 40
    assert from_jpeg(frames[0][1]).shape == (FRAME_HEIGHT, FRAME_WIDTH, 3)


def test_a_door_frame_puts_the_face_where_asked() -> None:
    empty = door_frame(Person.A, 100, -5.0)  # the person far outside the frame: only the wall
    frame = door_frame(Person.A, 100, 0.25)
    changed = (frame != empty).any(axis=2)
    columns = changed.any(axis=0).nonzero()[0]
    assert frame.shape == (FRAME_HEIGHT, FRAME_WIDTH, 3)
    assert columns.min() < FRAME_WIDTH * 0.25 < columns.max() < FRAME_WIDTH * 0.75


def _result() -> dict[str, Any]:
    return {
        "settings": {"threshold": 95.0, "pictures": 4, "frame": "1280x720"},
        "similarities": similarities(SEARCHES),
        "sweep": sweep(SEARCHES, [80, 95]),
        "latency": latency_figures(
            [LatencySample("A", 10, 500, 450, "named", calls_with_ms={"DetectFaces": 300.0})]
        ),
    }


def test_the_tables_show_the_fleets_threshold_and_a_picture_without_a_face() -> None:
    console = Console(record=True, width=240)
    for table in tables(_result()):
        console.print(table)
    text = console.export_text()
    assert "95 (fleet)" in text and "80 " in text
    assert "no face" in text and "to alice" in text and "to bob" in text
    assert "490 ms" in text  # the added latency
    assert "added, person A's frames" in text
