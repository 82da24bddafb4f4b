"""HLS session requests, sessions, playlists and fMP4 box edits (pure)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from stack.endpoint.archived_media import fmp4, hls_playlists
from stack.endpoint.archived_media.errors import NotAuthorizedException
from stack.endpoint.archived_media.hls_request import (
    ContainerFormat,
    DiscontinuityMode,
    PlaybackMode,
    parse_get_hls_url,
)
from stack.endpoint.archived_media.hls_sessions import HlsSession, HlsSessions
from stack.endpoint.archived_media.selectors import FragmentSelectorType
from stack.endpoint.archived_media.store import StoredFragment
from stack.endpoint.exceptions import InvalidArgumentException

NOW_MS = 1_800_000_000_000


def on_demand(start_s: float, end_s: float | None, **more: Any) -> dict[str, Any]:
    window: dict[str, float] = {"StartTimestamp": start_s}
    if end_s is not None:
        window["EndTimestamp"] = end_s
    return {
        "StreamName": "cam",
        "PlaybackMode": "ON_DEMAND",
        "HLSFragmentSelector": {
            "FragmentSelectorType": "PRODUCER_TIMESTAMP",
            "TimestampRange": window,
        },
        **more,
    }


def test_defaults_as_the_api_reference_gives_them() -> None:
    _, live = parse_get_hls_url({"StreamName": "cam"}, NOW_MS)
    assert live.mode is PlaybackMode.LIVE
    assert live.selector is FragmentSelectorType.SERVER_TIMESTAMP
    assert live.discontinuity is DiscontinuityMode.ALWAYS
    assert live.container is ContainerFormat.FRAGMENTED_MP4
    assert (live.expires_s, live.max_results, live.display_timestamp) == (300, 5, False)
    _, ranged = parse_get_hls_url(on_demand(100, 110), NOW_MS)
    assert ranged.discontinuity is DiscontinuityMode.NEVER
    assert ranged.max_results == 1000
    assert (ranged.start_ms, ranged.end_ms) == (100_000, 110_000)


@pytest.mark.parametrize(
    "body",
    [
        {"StreamName": "cam", "PlaybackMode": "ON_DEMAND"},
        on_demand(100, None),
        on_demand(100, 100),
        on_demand(0, 24 * 3600 + 1),
        {**on_demand(100, 110), "PlaybackMode": "LIVE"},
        on_demand(100, 110, Expires=299),
        on_demand(100, 110, Expires=43_201),
        on_demand(100, 110, MaxMediaPlaylistFragmentResults=5001),
        on_demand(100, 110, ContainerFormat="MP4"),
        {"PlaybackMode": "LIVE"},
    ],
)
def test_refused(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentException):
        parse_get_hls_url(body, NOW_MS)


def test_live_replay_may_leave_the_end_open() -> None:
    body = {**on_demand(100, None), "PlaybackMode": "LIVE_REPLAY"}
    _, spec = parse_get_hls_url(body, NOW_MS)
    assert spec.end_ms is None


def fragment(
    start_ms: int, duration_ms: int = 2000, received_ms: int | None = None
) -> StoredFragment:
    received = start_ms + duration_ms if received_ms is None else received_ms
    return StoredFragment(Path(f"{start_ms}.mkv"), start_ms, duration_ms, received, 250_000)


def test_on_demand_playlist_lists_the_range_and_ends() -> None:
    _, spec = parse_get_hls_url(on_demand(0, 5, DiscontinuityMode="ON_DISCONTINUITY"), NOW_MS)
    fragments = [fragment(0), fragment(2000), fragment(5000), fragment(8000)]  # a gap at 4 s
    shown = hls_playlists.window(spec, fragments, 0, NOW_MS, NOW_MS)
    text = hls_playlists.media_playlist("tok", spec, shown)
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    assert lines[-1] == "#EXT-X-ENDLIST"
    segments = [line for line in lines if line.startswith("getMP4MediaFragment.mp4")]
    assert [s.split("&")[0] for s in segments] == [
        "getMP4MediaFragment.mp4?FragmentNumber=0",
        "getMP4MediaFragment.mp4?FragmentNumber=2000",
        "getMP4MediaFragment.mp4?FragmentNumber=5000",
    ]
    assert lines.count("#EXT-X-DISCONTINUITY") == 1
    assert lines[lines.index("#EXT-X-DISCONTINUITY") + 3].startswith(
        "getMP4MediaFragment.mp4?FragmentNumber=5000&"
    )  # the gap before 5 s, then the init again and the fragment
    assert '#EXT-X-MAP:URI="getMP4InitFragment.mp4?SessionToken=tok&TrackNumber=1"' in lines


def test_live_playlist_slides_and_never_ends() -> None:
    _, spec = parse_get_hls_url({"StreamName": "cam", "MaxMediaPlaylistFragmentResults": 2}, NOW_MS)
    fragments = [fragment(t) for t in (0, 2000, 4000)]
    shown = hls_playlists.window(spec, fragments, 0, NOW_MS, NOW_MS)
    assert [f.producer_ms for f in shown.fragments] == [2000, 4000]
    text = hls_playlists.media_playlist("tok", spec, shown)
    assert "#EXT-X-MEDIA-SEQUENCE:1" in text
    assert "#EXT-X-ENDLIST" not in text


def test_mpeg_ts_segments_and_master() -> None:
    _, spec = parse_get_hls_url(on_demand(0, 5, ContainerFormat="MPEG_TS"), NOW_MS)
    shown = hls_playlists.window(spec, [fragment(0)], 0, NOW_MS, NOW_MS)
    text = hls_playlists.media_playlist("tok", spec, shown)
    assert "getTSFragment.ts?FragmentNumber=0&SessionToken=tok" in text.splitlines()
    assert "#EXT-X-MAP" not in text
    master = hls_playlists.master_playlist("tok", spec, [fragment(0)])
    assert master.splitlines()[-1] == "getHLSMediaPlaylist.m3u8?SessionToken=tok"
    assert "BANDWIDTH=1000000" in master  # 250 kB in 2 s


def test_sessions_refuse_unknown_and_expired_tokens() -> None:
    _, spec = parse_get_hls_url(on_demand(0, 5), NOW_MS)
    sessions = HlsSessions()
    token = sessions.new_token()
    sessions.add(HlsSession(token, "1", "us-east-1", "cam", 24, spec, NOW_MS, NOW_MS + 300_000, 0))
    assert sessions.get(token, NOW_MS + 299_999).stream_name == "cam"
    with pytest.raises(NotAuthorizedException, match="expired"):
        sessions.get(token, NOW_MS + 300_000)
    with pytest.raises(NotAuthorizedException) as unknown:
        sessions.get("nope", NOW_MS)
    assert unknown.value.status == 403


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def test_placed_writes_a_64_bit_tfdt_and_moves_the_data_offset() -> None:
    trun = box(b"trun", struct.pack(">I", 0x000001) + struct.pack(">Ii", 1, 100))
    tfdt = box(b"tfdt", struct.pack(">II", 0, 0))
    moof = box(b"moof", box(b"mfhd", struct.pack(">II", 0, 1)) + box(b"traf", tfdt + trun))
    media = moof + box(b"mdat", b"x" * 4)
    out = fmp4.placed(media, 2**33, 7)
    assert fmp4.top_level_types(out) == [b"moof", b"mdat"]
    assert len(out) == len(media) + 4
    at = out.index(b"tfdt")
    assert out[at + 4] == 1 and struct.unpack(">Q", out[at + 8 : at + 16])[0] == 2**33
    at = out.index(b"trun")
    assert struct.unpack(">i", out[at + 12 : at + 16])[0] == 104
    at = out.index(b"mfhd")
    assert struct.unpack(">I", out[at + 8 : at + 12])[0] == 7
