"""KVS GetHLSStreamingSessionURL and its HLS URLs on the local endpoint, played by GStreamer.

Fragments recorded as the agent records them (H.264 in Matroska, 2 s) go into the
`video_endpoint`'s store; the session URL comes from boto3 at the data endpoint GetDataEndpoint
answers for GET_HLS_STREAMING_SESSION_URL; the playlists are fetched over HTTP and the URL is
played by GStreamer (`uridecodebin`, which picks `hlsdemux`), counting the frames it decodes.
"""

# ruff: noqa: F811  # the tests take test_local_endpoint_get_images' `camera` fixture by its name

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from device.pipeline import child_env
from tests.integration.test_local_endpoint_get_images import (  # noqa: F401  # the fixtures
    Camera,
    archived_media,
    camera,
    colours,
    recent_base_ms,
    seconds,
)

if TYPE_CHECKING:
    from types_boto3_kinesis_video_archived_media.literals import ContainerFormatType
    from types_boto3_kinesis_video_archived_media.type_defs import HLSFragmentSelectorTypeDef

FPS = 15


def on_demand(start_ms: int, end_ms: int) -> HLSFragmentSelectorTypeDef:
    return {
        "FragmentSelectorType": "PRODUCER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": seconds(start_ms), "EndTimestamp": seconds(end_ms)},
    }


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as answer:
        data: bytes = answer.read()
        return data


def uris(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def relative(master_url: str, name: str) -> str:
    return master_url.rsplit("/", 1)[0] + "/" + name


def frames_played(url: str, most: int | None = None, timeout: float = 60) -> int:
    """Frames GStreamer decodes from an HLS URL: all of them (it ends at the playlist's end),
    or, for a live playlist, `most` (then the player is stopped; a live source never ends)."""
    child = subprocess.Popen(
        [
            *("gst-launch-1.0", "-v", "uridecodebin", f"uri={url}", "!", "videoconvert", "!"),
            *("fakesink", "silent=false", "sync=false"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=child_env(dict(os.environ)),
    )
    deadline = threading.Timer(timeout, child.kill)
    deadline.start()
    frames = 0
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if "fakesink0: last-message = chain" in line:
                frames += 1
                if most is not None and frames >= most:
                    break
    finally:
        deadline.cancel()
        child.kill()
        child.wait()
    return frames


@pytest.mark.parametrize("container", ["FRAGMENTED_MP4", "MPEG_TS"])
def test_an_on_demand_session_plays_the_range(
    camera: Camera, colours: list[Path], container: ContainerFormatType
) -> None:
    base = recent_base_ms()
    camera.place(colours, base)
    url = camera.data_client("GET_HLS_STREAMING_SESSION_URL").get_hls_streaming_session_url(
        StreamName=camera.name,
        PlaybackMode="ON_DEMAND",
        ContainerFormat=container,
        HLSFragmentSelector=on_demand(base, base + 5000),
    )["HLSStreamingSessionURL"]
    assert url.startswith(f"{camera.endpoint.url}/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken=")
    master = fetch(url).decode()
    assert master.startswith("#EXTM3U")
    (media_name,) = uris(master)
    assert media_name.startswith("getHLSMediaPlaylist.m3u8?SessionToken=")
    media = fetch(relative(url, media_name)).decode()
    segments = uris(media)
    assert media.rstrip().endswith("#EXT-X-ENDLIST")
    assert [s.split("?")[0] for s in segments] == 3 * [
        "getMP4MediaFragment.mp4" if container == "FRAGMENTED_MP4" else "getTSFragment.ts"
    ]
    first = fetch(relative(url, segments[0]))
    if container == "FRAGMENTED_MP4":
        init = media.split('#EXT-X-MAP:URI="')[1].split('"')[0]
        assert fetch(relative(url, init))[4:8] == b"ftyp"
        assert first[4:8] == b"moof"
    else:
        assert first[0] == 0x47  # MPEG-TS sync byte
    assert frames_played(url) == 6 * FPS


def test_a_live_session_slides_as_fragments_arrive(camera: Camera, colours: list[Path]) -> None:
    camera.directory.mkdir(parents=True, exist_ok=True)
    base = (int(time.time()) - 6) * 1000

    def arrive(index: int) -> None:
        target = camera.directory / f"{base + 2000 * index}.mkv"
        shutil.copyfile(colours[index % len(colours)], target)

    with pytest.raises(ClientError) as excinfo:  # nothing received in the last 30 s
        camera.data_client("GET_HLS_STREAMING_SESSION_URL").get_hls_streaming_session_url(
            StreamName=camera.name
        )
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"
    arrive(0)
    arrive(1)
    url = camera.data_client("GET_HLS_STREAMING_SESSION_URL").get_hls_streaming_session_url(
        StreamName=camera.name,
        PlaybackMode="LIVE",
        HLSFragmentSelector={"FragmentSelectorType": "PRODUCER_TIMESTAMP"},
        MaxMediaPlaylistFragmentResults=2,
    )["HLSStreamingSessionURL"]
    media_url = relative(url, uris(fetch(url).decode())[0])
    before = fetch(media_url).decode()
    assert "#EXT-X-ENDLIST" not in before
    assert len(uris(before)) == 2
    arrive(2)
    after = fetch(media_url).decode()
    assert "#EXT-X-MEDIA-SEQUENCE:1" in after
    assert uris(after) == [*uris(before)[1:], uris(after)[-1]]
    assert f"FragmentNumber={base + 4000}&" in uris(after)[-1]

    stop = threading.Event()

    def keep_arriving() -> None:  # the agent goes on writing while the player plays
        for index in range(3, 40):
            arrive(index)
            if stop.wait(2.0):  # one 2 s fragment every 2 s, as the agent writes
                return

    player_url = camera.data_client("GET_HLS_STREAMING_SESSION_URL").get_hls_streaming_session_url(
        StreamName=camera.name, DiscontinuityMode="NEVER"
    )["HLSStreamingSessionURL"]
    writer = threading.Thread(target=keep_arriving, daemon=True)
    writer.start()
    try:
        assert frames_played(player_url, most=3 * FPS) == 3 * FPS
    finally:
        stop.set()
        writer.join(5)


def test_refused_sessions(camera: Camera, colours: list[Path]) -> None:
    base = recent_base_ms()
    camera.place(colours, base)
    client = camera.data_client("GET_HLS_STREAMING_SESSION_URL")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"PlaybackMode": "ON_DEMAND"}, "InvalidArgumentException"),
        (
            {
                "PlaybackMode": "ON_DEMAND",
                "HLSFragmentSelector": on_demand(base + 9000, base + 9500),
            },
            "ResourceNotFoundException",
        ),
        (
            {"PlaybackMode": "LIVE", "HLSFragmentSelector": on_demand(base, base + 5000)},
            "InvalidArgumentException",
        ),
        (
            {
                "PlaybackMode": "ON_DEMAND",
                "HLSFragmentSelector": on_demand(base, base + 25 * 3_600_000),
            },
            "InvalidArgumentException",
        ),
        (
            {
                "PlaybackMode": "ON_DEMAND",
                "HLSFragmentSelector": {
                    "FragmentSelectorType": "PRODUCER_TIMESTAMP",
                    "TimestampRange": {"StartTimestamp": seconds(base)},
                },
            },
            "InvalidArgumentException",
        ),
    ]
    for request, code in cases:
        with pytest.raises(ClientError) as excinfo:
            client.get_hls_streaming_session_url(StreamName=camera.name, **request)
        assert excinfo.value.response["Error"]["Code"] == code, request


def test_an_expired_or_unknown_token_is_refused(camera: Camera, colours: list[Path]) -> None:
    base = recent_base_ms()
    camera.place(colours, base)
    url = camera.data_client("GET_HLS_STREAMING_SESSION_URL").get_hls_streaming_session_url(
        StreamName=camera.name,
        PlaybackMode="ON_DEMAND",
        HLSFragmentSelector=on_demand(base, base + 5000),
        Expires=300,
    )["HLSStreamingSessionURL"]
    assert fetch(url).startswith(b"#EXTM3U")
    hls = camera.endpoint.app.hls
    real_clock = hls._clock
    hls._clock = lambda: real_clock() + 301_000  # the session's 300 s are over
    try:
        with pytest.raises(urllib.error.HTTPError) as expired:
            fetch(url)
    finally:
        hls._clock = real_clock
    assert expired.value.code == 403
    assert expired.value.headers["x-amzn-ErrorType"] == "NotAuthorizedException"
    assert b"expired" in expired.value.read()
    with pytest.raises(urllib.error.HTTPError) as unknown:
        fetch(url.split("SessionToken=")[0] + "SessionToken=not-a-session")
    assert unknown.value.code == 403
