"""`fleet camera clip` and `fleet camera live`: TIME and the range are read and checked before
any AWS call, a clip is written whole or not at all, and what each prints. The cloud calls are
replaced: their requests are checked in tests/unit/cloud."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli import camera_media
from cli.camera import app
from cli.camera_media import parse_time, window, write_atomically
from cloud import clips, kvs, live
from cloud.clips import ClipUnavailableError
from cloud.errors import InvalidInputError, NotFoundError
from cloud.links import MediaLink
from cloud.models import StreamRecord

NOW = datetime(2026, 12, 7, 18, 10, 0, tzinfo=UTC)
AT = datetime(2026, 12, 7, 18, 4, 11, tzinfo=UTC)
MP4 = b"\x00\x00\x00\x20ftypisom" + b"\x01" * 100


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-12-07T18:04:11Z", AT),
        ("2026-12-07T19:04:11+01:00", AT),
        ("2026-12-07 13:04:11-05:00", AT),
        ("2026-12-07T18:04:11.250Z", AT + timedelta(milliseconds=250)),
        ("90s", NOW - timedelta(seconds=90)),
        ("10m", NOW - timedelta(minutes=10)),
        ("2h", NOW - timedelta(hours=2)),
        ("1d", NOW - timedelta(days=1)),
        (" 0s ", NOW),
    ],
)
def test_time_is_iso_8601_with_a_timezone_or_a_time_ago(text: str, moment: datetime) -> None:
    parsed = parse_time(text, NOW)
    assert parsed == moment
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("2026-12-07T18:04:11", "has no timezone: add Z for UTC or an offset"),
        ("2026-12-07", "has no timezone"),
        ("yesterday", "neither ISO-8601"),
        ("10 m", "neither ISO-8601"),
        ("-10m", "neither ISO-8601"),
        ("10w", "neither ISO-8601"),
        ("", "neither ISO-8601"),
    ],
)
def test_anything_else_is_refused_saying_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(InvalidInputError, match=problem):
        parse_time(text, NOW)


@given(st.integers(min_value=0, max_value=10**5), st.sampled_from(["s", "m", "h", "d"]))
def test_a_time_ago_is_that_long_before_now(amount: int, unit: str) -> None:
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86_400}[unit] * amount
    assert NOW - parse_time(f"{amount}{unit}", NOW) == timedelta(seconds=seconds)


def test_a_time_ago_before_any_date_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="before any date"):
        parse_time("999999999d", NOW)


def test_the_window_is_10_s_before_to_20_s_after_unless_told() -> None:
    assert window(AT, None, None) == (AT - timedelta(seconds=10), AT + timedelta(seconds=20))
    assert window(AT, 0, 5) == (AT, AT + timedelta(seconds=5))
    with pytest.raises(InvalidInputError, match="both 0"):
        window(AT, 0, 0)


def test_a_clip_file_is_written_whole_with_mode_0644_over_any_old_one(tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"old")
    old_umask = os.umask(0o077)
    try:
        write_atomically(target, MP4)
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == MP4
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"old")

    def refuse(source: str, destination: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, MP4)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


class Calls:
    """What the replaced cloud functions were asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[Any, ...]] = []
        self.members: list[str] = []
        self.kept: dict[str, int] = {}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """The runtime of a fleet whose only camera is `front-door`."""
    calls = Calls()

    def runtime(camera_id: str) -> SimpleNamespace:
        calls.members.append(camera_id)
        if camera_id != "front-door":
            raise NotFoundError(f"camera {camera_id} is not registered in fleet camfleet")
        return SimpleNamespace(clients="clients", names=SimpleNamespace(stream=lambda c: c))

    def describe_stream(clients: Any, name: str) -> StreamRecord:
        return StreamRecord(
            name=name,
            arn=f"arn:aws:kinesisvideo:us-east-1:123456789012:stream/{name}/1",
            retention_hours=kept["retention_hours"],
            status="ACTIVE",
        )

    kept = {"retention_hours": 24}
    monkeypatch.setattr(camera_media, "_camera_runtime", runtime)
    monkeypatch.setattr(kvs, "describe_stream", describe_stream)
    calls.kept = kept
    return calls


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_clip_writes_the_file_and_says_what_it_wrote(
    calls: Calls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def get_clip(clients: Any, stream: str, start: datetime, end: datetime) -> bytes:
        calls.asked.append((stream, start, end))
        return MP4

    monkeypatch.setattr(clips, "get_clip", get_clip)
    target = tmp_path / "door.mp4"
    result = run("clip", "front-door", "--at", "2026-12-07T19:04:11+01:00", "-o", str(target))

    assert result.exit_code == 0, result.output
    assert calls.asked == [("front-door", AT - timedelta(seconds=10), AT + timedelta(seconds=20))]
    assert target.read_bytes() == MP4
    assert (
        result.stdout.strip()
        == f"wrote {target} ({len(MP4)} bytes, 18:04:01\N{EN DASH}18:04:31 UTC)"
    )


def test_clip_that_cannot_be_made_exits_with_the_reason_and_writes_nothing(
    calls: Calls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def get_clip(clients: Any, stream: str, start: datetime, end: datetime) -> bytes:
        raise ClipUnavailableError(
            "clip of front-door", "no video between 18:04:06 UTC and 18:04:16 UTC", permanent=True
        )

    monkeypatch.setattr(clips, "get_clip", get_clip)
    target = tmp_path / "door.mp4"
    result = run(
        "clip", "front-door", "--at", "2026-12-07T18:04:11Z", "--before", "5", "--after", "5",
        "-o", str(target),
    )  # fmt: skip

    assert result.exit_code != 0
    assert "no video between 18:04:06 UTC and 18:04:16 UTC" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_clip_older_than_the_stream_keeps_is_refused_before_getclip(
    calls: Calls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clips, "get_clip", lambda *args: pytest.fail("GetClip was called"))
    calls.kept["retention_hours"] = 2
    result = run("clip", "front-door", "--at", "3h", "-o", str(tmp_path / "old.mp4"))
    assert result.exit_code == 1
    assert "is older than the 2 h of video its stream keeps (since " in result.stderr
    calls.kept["retention_hours"] = 0
    result = run("clip", "front-door", "--at", "1m", "-o", str(tmp_path / "old.mp4"))
    assert "the stream keeps no video (retention 0)" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_kept_since_is_the_retention_before_now() -> None:
    assert camera_media.kept_since(24, NOW) == NOW - timedelta(days=1)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--at", "2026-12-07T18:04:11"], "has no timezone"),
        (["--at", "soon"], "neither ISO-8601"),
        (["--at", "1m", "--before", "0", "--after", "0"], "both 0"),
        (["--at", "1m", "-o", "/nonexistent-folder/clip.mp4"], "does not exist"),
    ],
)
def test_clip_input_is_refused_before_any_call(
    calls: Calls, tmp_path: Path, args: list[str], problem: str
) -> None:
    target = ["-o", str(tmp_path / "clip.mp4")] if "-o" not in args else []
    result = run("clip", "front-door", *args, *target)
    assert result.exit_code == 2
    assert problem in result.stderr
    assert calls.members == []


def test_clip_of_a_camera_not_in_the_fleet_is_not_found(calls: Calls, tmp_path: Path) -> None:
    result = run("clip", "back-door", "--at", "1m", "-o", str(tmp_path / "c.mp4"))
    assert result.exit_code == NotFoundError.exit_code
    assert "camera back-door is not registered" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_clip_needs_at_and_an_output_file(calls: Calls) -> None:
    assert run("clip", "front-door", "-o", "x.mp4").exit_code == 2
    assert run("clip", "front-door", "--at", "1m").exit_code == 2


@pytest.fixture
def sessions(calls: Calls, monkeypatch: pytest.MonkeyPatch) -> Calls:
    expires_at = datetime(2026, 12, 7, 19, 10, tzinfo=UTC)

    def live_url(clients: Any, stream: str, expires: int) -> MediaLink:
        calls.asked.append(("LIVE", stream, expires))
        return MediaLink(url="https://kvs.example/live.m3u8?SessionToken=a", expires_at=expires_at)

    def on_demand_url(
        clients: Any, stream: str, start: datetime, end: datetime, expires: int
    ) -> MediaLink:
        calls.asked.append(("ON_DEMAND", stream, start, end, expires))
        return MediaLink(url="https://kvs.example/vod.m3u8?SessionToken=b", expires_at=expires_at)

    monkeypatch.setattr(live, "live_url", live_url)
    monkeypatch.setattr(live, "on_demand_url", on_demand_url)
    return calls


def test_live_prints_the_live_url_alone_on_stdout(sessions: Calls) -> None:
    result = run("live", "front-door")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "https://kvs.example/live.m3u8?SessionToken=a"
    assert "LIVE HLS session, works until 2026-12-07 19:10:00 UTC" in result.stderr
    assert sessions.asked == [("LIVE", "front-door", 3600)]


def test_live_at_a_time_replays_around_it_as_json(sessions: Calls) -> None:
    result = run(
        "live", "front-door", "--at", "2026-12-07T18:04:11Z", "--before", "30", "--after", "60",
        "--expires", "600", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "camera_id": "front-door",
        "mode": "ON_DEMAND",
        "url": "https://kvs.example/vod.m3u8?SessionToken=b",
        "expires_at": "2026-12-07T19:10:00.000Z",
    }
    start, end = AT - timedelta(seconds=30), AT + timedelta(seconds=60)
    assert sessions.asked == [("ON_DEMAND", "front-door", start, end, 600)]


def test_live_open_opens_the_url_in_a_browser(
    sessions: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []

    def open_url(url: str) -> bool:
        opened.append(url)
        return True

    monkeypatch.setattr("webbrowser.open", open_url)
    result = run("live", "front-door", "--open")
    assert result.exit_code == 0, result.output
    assert opened == ["https://kvs.example/live.m3u8?SessionToken=a"]


def test_live_with_no_browser_fails_giving_the_url(
    sessions: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("webbrowser.open", lambda url: False)
    result = run("live", "front-door", "--open")
    assert result.exit_code == 1
    assert "no browser to open; the HLS URL: https://kvs.example/live.m3u8" in result.stderr


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--before", "5"], "--before and --after go with --at"),
        (["--at", "2026-12-07T18:04:11"], "has no timezone"),
        (["--expires", "299"], "greater than or equal to 300"),
        (["--expires", "43201"], "less than or equal to 43200"),
    ],
)
def test_live_input_is_refused_before_any_call(
    sessions: Calls, args: list[str], problem: str
) -> None:
    result = run("live", "front-door", *args)
    assert result.exit_code == 2
    assert problem in result.stderr
    assert sessions.asked == []
