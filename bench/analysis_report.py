"""The analyzers' benchmark's tables (rich), from the result `bench/analysis.py` writes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from bench.ingest_core import shown_ms

_LATENCY = (
    "analyzer",
    "scene",
    "sessions",
    "timed",
    "motion→LABEL p50",
    "p95",
    "in view→LABEL p50",
    "p95 ",
    "frame→LABEL p50",
    "camera ingest lag",
    "load",
    "other CPUs",
)
_WORK = (
    "analyzer",
    "scene",
    "sessions",
    "video/session",
    "images/session",
    "GetImages/session",
    "DetectLabels/session",
    "cost/session",
    "PERSON found",
    "expected",
    "missed",
    "unexpected",
)
_KILL = (
    ("cameras", "cameras (one session each)"),
    ("running_when_killed", "sessions running when the worker was killed"),
    ("killed_after_first_motion_s", "killed after the round's first motion (s)"),
    ("sessions_completed", "sessions completed"),
    ("label_detected_messages", "LABEL_DETECTED messages (republished ones included)"),
    ("records", "PERSON detection records"),
    ("notifications", "notifications"),
    ("lost_records", "lost detections (records)"),
    ("duplicate_records", "duplicate detections (records)"),
    ("lost_notifications", "lost notifications"),
    ("duplicate_notifications", "duplicate notifications"),
    ("round_s", "round took (s)"),
)


def _number(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def _usd(value: float | None, minutes: float | None = None) -> str:
    if value is not None:
        return f"${value:.4f}"
    return "unknown" if minutes is None else f"unknown: {minutes:.3f} min"


def _judged(f: Mapping[str, Any]) -> list[str]:
    expected = "n/a" if f["unjudged"] == f["sessions"] else str(f["expected"])
    return [str(f["found"]), expected, str(f["missed"]), str(f["unexpected"])]


def _latency_row(analyzer: str, scene: str, f: Mapping[str, Any]) -> list[str]:
    late = scene == "late-person"
    return [
        analyzer,
        scene,
        str(f["sessions"]),
        str(f["motion_to_label"]["samples"]),
        shown_ms(f["motion_to_label"], "p50"),
        shown_ms(f["motion_to_label"], "p95"),
        shown_ms(f["in_view_to_label"], "p50") if late else "",
        shown_ms(f["in_view_to_label"], "p95") if late else "",
        shown_ms(f["frame_to_label"], "p50"),
        _number(f["ingest_lag_ms"], " ms"),
        _number(f["load_max"]),
        _number(f["other_cpus"]),
    ]


def _work_row(analyzer: str, scene: str, f: Mapping[str, Any]) -> list[str]:
    frames = analyzer == "frames"
    return [
        analyzer,
        scene,
        str(f["sessions"]),
        _number(f["video_s_per_session"], " s"),
        _number(f["images_per_session"]),
        _number(f["get_images_per_session"]) if frames else "-",
        _number(f["detect_labels_per_session"]) if frames else "-",
        _usd(f["cost_usd_per_session"], None if frames else f["minutes_per_session"]),
        *_judged(f),
    ]


def _naive_row(scene: str, n: Mapping[str, Any]) -> list[str]:
    return [
        "naive (replay)",
        scene,
        str(n["sessions"]),
        "",
        _number(n["images_per_session"]),
        _number(n["get_images_per_session"]),
        _number(n["detect_labels_per_session"]),
        _usd(n["cost_usd_per_session"]),
        *_judged(n),
    ]


def _table(title: str, columns: tuple[str, ...]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column in ("analyzer", "scene") else "right")
    return table


def tables(result: Mapping[str, Any]) -> list[Table]:
    s = result["settings"]
    late = next(p["session_s"] for p in s["plans"] if p["scene"] == "late-person")
    loads = result["load_averages"] or [0.0]
    setting = (
        f"{s['seconds']} s sessions (late-person {late} s), {s['cameras_per_scene']} cameras at "
        f"once, labels PERSON, {s['cpus']} CPUs, load {min(loads):.1f} to {max(loads):.1f}"
    )
    latency = _table(f"motion (producer time) -> LABEL_DETECTED on the topic: {setting}", _LATENCY)
    work = _table(
        "work, cost and detections per session (naive: the frames windows replayed)", _WORK
    )
    for analyzer, scenes in result["figures"].items():
        for scene, figures in scenes.items():
            latency.add_row(*_latency_row(analyzer, scene, figures))
            work.add_row(*_work_row(analyzer, scene, figures))
    for scene, naive in result["naive"].items():
        work.add_row(*_naive_row(scene, naive))
    k = result["kill"]
    if k is None:
        return [latency, work]
    kill = Table(title="the analysis worker SIGKILLed once during a round (person scene, frames)")
    kill.add_column("measure")
    kill.add_column("value", justify="right")
    for key, label in _KILL:
        value = k.get(key)
        kill.add_row(label, "-" if value is None else str(value))
    if "error" in k:
        kill.add_row("error", str(k["error"]))
    return [latency, work, kill]
