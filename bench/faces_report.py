"""The face benchmark's tables (rich), from the result `bench/faces.py` writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

from bench.faces_core import Outcome

_LATENCY = (
    ("without", "consumer handles a PERSON detection, camera without recognition"),
    ("with", "the same, camera with recognition"),
    ("added", "added by recognition (with - without, per detection)"),
    ("recognise_frame", "recognise_frame alone (DetectFaces, a search per face, an S3 read)"),
    ("endpoint_cpu_without", "the endpoint's CPU time, camera without recognition"),
    ("endpoint_cpu_with", "the endpoint's CPU time, camera with recognition"),
)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _similarity(value: float | None) -> str:
    return "no face" if value is None else f"{value:.1f}"


def similarity_table(rows: Sequence[Mapping[str, Any]], indexed: Sequence[str]) -> Table:
    table = Table(title="best similarity of each picture's face to the one person indexed")
    table.add_column("person")
    table.add_column("picture")
    for name in indexed:
        table.add_column(f"to {name}", justify="right")
    for row in rows:
        table.add_row(row["person"], row["variant"], *(_similarity(row.get(n)) for n in indexed))
    return table


def sweep_table(rows: Sequence[Mapping[str, Any]], fleet_threshold: float, pictures: int) -> Table:
    table = Table(
        title=f"{pictures} pictures searched twice (A known, B not; then B known, A not): the "
        "known person's pictures and the stranger's, by threshold"
    )
    table.add_column("threshold", justify="right")
    for column in (
        "known: named right",
        "unknown (missed)",
        "no face",
        "stranger: unknown",
        "named (wrong)",
        "no face ",
        "wrong names",
    ):
        table.add_column(column, justify="right")
    for row in rows:
        known, strangers = row["known"], row["strangers"]
        mark = " (fleet)" if row["threshold"] == fleet_threshold else ""
        table.add_row(
            f"{row['threshold']:g}{mark}",
            str(known[Outcome.NAMED_RIGHT]),
            str(known[Outcome.UNKNOWN]),
            str(known[Outcome.NO_FACE]),
            str(strangers[Outcome.UNKNOWN]),
            str(strangers[Outcome.NAMED_WRONG]),
            str(strangers[Outcome.NO_FACE]),
            str(row["wrong_names"]),
        )
    return table


def latency_table(latency: Mapping[str, Any], frame: str) -> Table:
    samples = latency["added"]["samples"]
    table = Table(
        title=f"latency of a PERSON detection ({samples} detections per camera, {frame} frames)"
    )
    for column in ("measured", "p50", "p95", "max"):
        table.add_column(column, justify="left" if column == "measured" else "right")
    rows = [(label, latency[key]) for key, label in _LATENCY]
    rows[3:3] = [  # after the added latency: the same, per person
        (f"  added, person {person}'s frames", figures)
        for person, figures in latency.get("added_by_person", {}).items()
    ]
    for label, figures in rows:
        table.add_row(label, _ms(figures["p50_ms"]), _ms(figures["p95_ms"]), _ms(figures["max_ms"]))
    table.add_row("with / without (p50)", f"{latency['ratio_p50']}x", "", "")
    return table


def requests_table(latency: Mapping[str, Any]) -> Table:
    table = Table(
        title="requests per detection (the endpoint's request log) and their time with "
        "recognition (client side)"
    )
    table.add_column("operation")
    table.add_column("without recognition", justify="right")
    table.add_column("with recognition", justify="right")
    table.add_column("time with, p50", justify="right")
    table.add_column("p95", justify="right")
    without, with_ = latency["requests_without"], latency["requests_with"]
    calls = latency["calls_with"]
    for operation in sorted({*without, *with_}):
        timed = calls.get(operation, {})
        table.add_row(
            operation,
            f"{without.get(operation, 0):g}",
            f"{with_.get(operation, 0):g}",
            _ms(timed.get("p50_ms")),
            _ms(timed.get("p95_ms")),
        )
    table.add_row(
        "all", f"{sum(without.values()):g}", f"{sum(with_.values()):g}", "", "", end_section=True
    )
    statuses = ", ".join(f"{n} {status}" for status, n in latency["statuses"].items())
    table.add_row("recognised as", "", statuses, "", "")
    return table


def tables(result: Mapping[str, Any]) -> list[Table]:
    s = result["settings"]
    indexed = sorted(
        {name for row in result["similarities"] for name in row} - {"person", "variant"}
    )
    return [
        similarity_table(result["similarities"], indexed),
        sweep_table(result["sweep"], s["threshold"], s["pictures"]),
        latency_table(result["latency"], s["frame"]),
        requests_table(result["latency"]),
    ]
