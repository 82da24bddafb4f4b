"""`fleet camera clip` and `fleet camera live --at` against the local AWS endpoint, over recorded
video: a camera of the fleet (its IoT thing and KVS stream), its fragments in the endpoint's
fragment store (H.264 in Matroska, 2 s each, as the agent records them), and the commands run
through typer with the fleet's settings pointing at the endpoint."""

from __future__ import annotations

import json
import os
import stat
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import pytest
from typer.testing import CliRunner

from cli import camera as camera_cli
from cli import camera_media
from cloud import iot, kvs
from cloud.clients import AwsClients
from cloud.fleet import fleet_names
from cloud.registry import FLEET_ATTRIBUTE
from cloud.settings import FleetSettings
from flows import runtime
from stack.endpoint.server import LocalEndpoint
from tests.integration.test_local_endpoint_get_images import recent_base_ms, write_colours
from tests.support.scene_fragments import record_fragments

FPS = 15  # the recording's frame rate (`record_fragments`' default)
HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def colours(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six seconds of video as three 2 s fragments, named by their offset in ms."""
    root = tmp_path_factory.mktemp("cli-clip-recordings")
    return record_fragments(write_colours(root / "colours.avi"), root / "colours", 0)


@dataclass
class FleetCamera:
    endpoint: LocalEndpoint
    camera_id: str

    def place(self, fragments: list[Path], base_ms: int, *, received_late_ms: int = 0) -> None:
        """Put the fragments in the store as recorded from `base_ms`; each received when it
        ended, unless `received_late_ms` says otherwise (the store reads the file's time)."""
        root = self.endpoint.config.fragment_root
        assert root is not None
        directory = root / self.camera_id
        directory.mkdir(parents=True, exist_ok=True)
        for fragment in fragments:
            target = directory / f"{base_ms + int(fragment.stem)}.mkv"
            target.write_bytes(fragment.read_bytes())
            if received_late_ms:
                received_ns = (base_ms + int(fragment.stem) + 2000) * 1_000_000
                os.utime(target, ns=(received_ns, received_ns))


@pytest.fixture
def camera(
    video_endpoint: LocalEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> FleetCamera:
    """A camera of the fleet, with a stream that keeps 1 hour of video; the CLI's settings
    point at the endpoint."""
    settings = FleetSettings(home=tmp_path / "home", aws_port=video_endpoint.port)
    clients = AwsClients(settings)
    names = fleet_names(clients)
    camera_id = f"clip-{uuid.uuid4().hex[:8]}"
    iot.ensure_thing(clients, camera_id, {FLEET_ATTRIBUTE: names.fleet})
    kvs.ensure_stream(clients, names.stream(camera_id), retention_hours=1, tags={})
    monkeypatch.setattr(camera_media, "current_settings", lambda: settings)
    monkeypatch.setattr("cli.control_plane.control_plane", runtime.configure)
    return FleetCamera(video_endpoint, camera_id)


def run(*args: str) -> Any:
    return CliRunner().invoke(camera_cli.app, list(args))


def at(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def frames_of(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    frames = 0
    try:
        while True:
            ok, picture = capture.read()
            if not ok:
                break
            assert picture.shape == (480, 640, 3)
            frames += 1
    finally:
        capture.release()
    return frames


def test_clip_writes_an_mp4_of_the_video_around_the_time(
    camera: FleetCamera, colours: list[Path], tmp_path: Path
) -> None:
    base = recent_base_ms()
    camera.place(colours, base)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "door.mp4"

    result = run(
        "clip", camera.camera_id, "--at", at(base + 3000), "--before", "3", "--after", "3",
        "-o", str(target),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    start = datetime.fromtimestamp(base / 1000, UTC)
    span = f"{start:%H:%M:%S}\N{EN DASH}{start + timedelta(seconds=6):%H:%M:%S} UTC"
    size = target.stat().st_size
    assert result.stdout.strip() == f"wrote {target} ({size} bytes, {span})"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert target.read_bytes()[4:8] == b"ftyp"
    assert frames_of(target) == 6 * FPS  # the three fragments that start in the range
    assert [p.name for p in out.iterdir()] == ["door.mp4"]  # no temporary file left


def test_a_time_before_the_streams_retention_is_refused_and_nothing_written(
    camera: FleetCamera, colours: list[Path], tmp_path: Path
) -> None:
    base = recent_base_ms() - 2 * HOUR_MS  # recorded, and received, 2 h ago; kept 1 h
    camera.place(colours, base, received_late_ms=2000)
    out = tmp_path / "out"
    out.mkdir()

    result = run("clip", camera.camera_id, "--at", at(base + 3000), "-o", str(out / "old.mp4"))

    assert result.exit_code == 1, result.output
    start = datetime.fromtimestamp((base + 3000) / 1000, UTC) - timedelta(seconds=10)
    span = f"{start:%H:%M:%S}\N{EN DASH}{start + timedelta(seconds=30):%H:%M:%S} UTC"
    assert f"{span} is older than the 1 h of video its stream keeps" in result.stderr
    assert list(out.iterdir()) == []


def test_a_time_with_no_video_is_refused_with_the_range_and_nothing_written(
    camera: FleetCamera, colours: list[Path], tmp_path: Path
) -> None:
    base = recent_base_ms()
    camera.place(colours, base)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "door.mp4"
    target.write_bytes(b"an earlier clip")

    later = base + 60_000  # a minute after the recording ends
    result = run("clip", camera.camera_id, "--at", at(later), "-o", str(target))

    assert result.exit_code == 1, result.output
    start = datetime.fromtimestamp(later / 1000, UTC) - timedelta(seconds=10)
    end = start + timedelta(seconds=30)
    assert f"no video between {start:%H:%M:%S} UTC and {end:%H:%M:%S} UTC" in result.stderr
    assert [p.name for p in out.iterdir()] == ["door.mp4"]
    assert target.read_bytes() == b"an earlier clip"


def test_clip_of_a_camera_not_in_the_fleet_is_not_found(
    camera: FleetCamera, tmp_path: Path
) -> None:
    result = run("clip", "not-a-fleet-camera", "--at", "1m", "-o", str(tmp_path / "x.mp4"))
    assert result.exit_code == 3
    assert "camera not-a-fleet-camera is not registered in fleet" in result.stderr


def test_live_at_a_time_gives_a_playlist_url_a_player_can_open(
    camera: FleetCamera, colours: list[Path]
) -> None:
    base = recent_base_ms()
    camera.place(colours, base)

    result = run("live", camera.camera_id, "--at", at(base + 3000), "--json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["camera_id"], document["mode"]) == (camera.camera_id, "ON_DEMAND")
    expires = datetime.fromisoformat(document["expires_at"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)
    with urllib.request.urlopen(document["url"], timeout=10) as answer:  # a player's GET
        assert answer.read().startswith(b"#EXTM3U")


def test_live_gives_a_live_playlist_url_while_the_camera_streams(
    camera: FleetCamera, colours: list[Path]
) -> None:
    camera.place(colours, recent_base_ms() + 110_000)  # received in the last 30 s

    result = run("live", camera.camera_id, "--expires", "300", "--json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["camera_id"], document["mode"]) == (camera.camera_id, "LIVE")
    with urllib.request.urlopen(document["url"], timeout=10) as answer:
        assert answer.read().startswith(b"#EXTM3U")


def test_live_without_recent_video_says_the_camera_is_not_streaming(
    camera: FleetCamera, colours: list[Path]
) -> None:
    camera.place(colours, recent_base_ms() - HOUR_MS // 2, received_late_ms=2000)

    result = run("live", camera.camera_id)

    assert result.exit_code == 1, result.output
    assert "no video in the last 30 s: the camera is not streaming" in result.stderr
    assert result.stdout == ""
