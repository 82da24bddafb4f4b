"""The fragments of an HLS session and its playlists (pure).

Which fragments (the API reference of ``PlaybackMode``):
- ON_DEMAND: the fragments starting within the range, oldest first, at most
  ``MaxMediaPlaylistFragmentResults``; the playlist ends with ``#EXT-X-ENDLIST``.
- LIVE: the newest fragments by arrival, at most that many, from the first fragment of the
  session on; no end tag, the window slides as fragments arrive.
- LIVE_REPLAY: from the start of the range, a fragment joins once the session has run as long as
  the video before it; the window slides like LIVE's; it ends (``#EXT-X-ENDLIST``) once every
  fragment of a closed range has joined.

The URLs are relative, as KVS writes them: ``getHLSMediaPlaylist.m3u8``,
``getMP4InitFragment.mp4``, ``getMP4MediaFragment.mp4``, ``getTSFragment.ts`` with
``SessionToken``, ``TrackNumber=1`` (fMP4) and ``FragmentNumber`` (a local fragment's number is
its producer start in ms). A segment's ``#EXTINF`` is its fragment's duration;
``#EXT-X-DISCONTINUITY`` follows ``DiscontinuityMode`` (ON_DISCONTINUITY: a gap or overlap of
more than 50 ms); ``#EXT-X-PROGRAM-DATE-TIME`` carries the fragment's start (producer or server
timestamp, as the selector) with ``DisplayFragmentTimestamp`` ALWAYS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from stack.endpoint.archived_media.clip import in_range, start_of
from stack.endpoint.archived_media.hls_request import (
    ContainerFormat,
    DiscontinuityMode,
    HlsSessionSpec,
    PlaybackMode,
)
from stack.endpoint.archived_media.store import StoredFragment

GAP_MS = 50
TRACK = "1"
MASTER = "getHLSMasterPlaylist.m3u8"
MEDIA = "getHLSMediaPlaylist.m3u8"
MP4_INIT = "getMP4InitFragment.mp4"
MP4_MEDIA = "getMP4MediaFragment.mp4"
TS = "getTSFragment.ts"
LIVE_WINDOW_MS = 30_000  # LIVE needs a fragment received within this (ResourceNotFoundException)


@dataclass(frozen=True)
class Window:
    fragments: list[StoredFragment]
    first_sequence: int  # EXT-X-MEDIA-SEQUENCE
    ended: bool


def initial_fragments(
    spec: HlsSessionSpec, fragments: list[StoredFragment], now_ms: int
) -> list[StoredFragment]:
    """The fragments a new session may begin with; none means ResourceNotFoundException."""
    if spec.mode is PlaybackMode.LIVE:
        recent = [f for f in fragments if f.received_ms >= now_ms - LIVE_WINDOW_MS]
        return _by_arrival(recent)[-spec.max_results :]
    return _ranged(spec, fragments)


def window(
    spec: HlsSessionSpec,
    fragments: list[StoredFragment],
    origin_ms: int,
    created_ms: int,
    now_ms: int,
) -> Window:
    """The fragments the media playlist lists now."""
    if spec.mode is PlaybackMode.ON_DEMAND:
        return Window(_ranged(spec, fragments)[: spec.max_results], 0, True)
    if spec.mode is PlaybackMode.LIVE:
        joined = [f for f in _by_arrival(fragments) if f.producer_ms >= origin_ms]
        ended = False
    else:
        ranged = _ranged(spec, fragments)
        start = spec.start_ms if spec.start_ms is not None else origin_ms
        elapsed = now_ms - created_ms
        joined = [f for f in ranged if start_of(f, spec.selector) - start <= elapsed]
        ended = spec.end_ms is not None and len(joined) == len(ranged)
    shown = joined[-spec.max_results :]
    return Window(shown, len(joined) - len(shown), ended)


def in_session(
    spec: HlsSessionSpec, fragments: list[StoredFragment], origin_ms: int, number: str
) -> StoredFragment | None:
    """The fragment of this number, if the session may serve it."""
    if spec.mode is PlaybackMode.LIVE:
        allowed = [f for f in fragments if f.producer_ms >= origin_ms]
    else:
        allowed = _ranged(spec, fragments)
    return next((f for f in allowed if f.number == number), None)


def master_playlist(token: str, spec: HlsSessionSpec, fragments: list[StoredFragment]) -> str:
    query = {"SessionToken": token}
    if spec.container is ContainerFormat.FRAGMENTED_MP4:
        query["TrackNumber"] = TRACK
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth(fragments)}",
        f"{MEDIA}?{urlencode(query)}",
    ]
    return "\n".join(lines) + "\n"


def media_playlist(token: str, spec: HlsSessionSpec, shown: Window) -> str:
    mp4 = spec.container is ContainerFormat.FRAGMENTED_MP4
    longest = max((f.duration_ms for f in shown.fragments), default=1000)
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{7 if mp4 else 3}",
        f"#EXT-X-TARGETDURATION:{max(1, math.ceil(longest / 1000))}",
        f"#EXT-X-MEDIA-SEQUENCE:{shown.first_sequence}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    if spec.mode is PlaybackMode.ON_DEMAND:
        lines.append("#EXT-X-PLAYLIST-TYPE:VOD")
    init = urlencode({"SessionToken": token, "TrackNumber": TRACK})
    mapped = f'#EXT-X-MAP:URI="{MP4_INIT}?{init}"'
    if mp4:
        lines.append(mapped)
    previous: StoredFragment | None = None
    for fragment in shown.fragments:
        if _discontinuous(spec.discontinuity, previous, fragment):
            lines.append("#EXT-X-DISCONTINUITY")
            if mp4 and previous is not None:  # players reset at a discontinuity: map again
                lines.append(mapped)
        if spec.display_timestamp:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_iso(start_of(fragment, spec.selector))}")
        lines.append(f"#EXTINF:{fragment.duration_ms / 1000:.3f},")
        lines.append(segment_url(token, spec.container, fragment))
        previous = fragment
    if shown.ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def segment_url(token: str, container: ContainerFormat, fragment: StoredFragment) -> str:
    if container is ContainerFormat.MPEG_TS:
        return f"{TS}?{urlencode({'FragmentNumber': fragment.number, 'SessionToken': token})}"
    query = {"FragmentNumber": fragment.number, "SessionToken": token, "TrackNumber": TRACK}
    return f"{MP4_MEDIA}?{urlencode(query)}"


def bandwidth(fragments: list[StoredFragment]) -> int:
    """Peak bits per second over the fragments (HLS's BANDWIDTH); a guess without any."""
    rates = [f.size * 8 * 1000 // f.duration_ms for f in fragments if f.duration_ms > 0]
    return max(rates, default=1_000_000)


def _ranged(spec: HlsSessionSpec, fragments: list[StoredFragment]) -> list[StoredFragment]:
    start = spec.start_ms if spec.start_ms is not None else 0
    end = spec.end_ms if spec.end_ms is not None else 2**62
    return in_range(fragments, spec.selector, start, end)


def _by_arrival(fragments: list[StoredFragment]) -> list[StoredFragment]:
    return sorted(fragments, key=lambda f: (f.received_ms, f.producer_ms))


def _discontinuous(
    mode: DiscontinuityMode, previous: StoredFragment | None, fragment: StoredFragment
) -> bool:
    if mode is DiscontinuityMode.ALWAYS:
        return True
    if mode is DiscontinuityMode.NEVER or previous is None:
        return False
    expected = previous.producer_ms + previous.duration_ms
    return abs(fragment.producer_ms - expected) > GAP_MS


def _iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
