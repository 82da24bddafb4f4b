"""``GetHLSStreamingSessionURL`` and the HLS URLs it hands out, from the local fragment store.

``POST /getHLSStreamingSessionURL`` checks the request (``hls_request``), finds the session's
first fragments and answers ``<endpoint>/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken=<token>``.
The same endpoint then serves, by GET under ``/hls/v1/``: the master playlist, the media playlist
(``hls_playlists``), and the segments, one per fragment, remuxed when asked for: the fMP4 init
fragment (``ftyp moov`` of the session's first fragment) and media fragments (``moof mdat``
placed on the session's timeline, 0 at its first fragment), or MPEG-TS fragments.

Errors: ``InvalidArgumentException`` (``hls_request``; a segment URL without its
``FragmentNumber``), ``ResourceNotFoundException`` (404) for an unknown stream, for ON_DEMAND or
LIVE_REPLAY without a fragment in the range, for LIVE without a fragment received in the last
30 s, and for a fragment number the session does not hold; ``NoDataRetentionException``;
``UnsupportedStreamMediaTypeException``; ``NotAuthorizedException`` (403) for an unknown or
expired session token; ``InvalidMediaFrameException`` for a fragment GStreamer cannot remux.

Not emulated: the API's rate limits and the per-session connection limits, audio tracks, H.265,
codec private data changes, MPEG-TS timestamps on the session timeline (each TS fragment starts
where ``mpegtsmux`` starts it), the rule that a LIVE playlist never adds a fragment older than its
newest.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from stack.endpoint.archived_media import fmp4, hls_playlists, remux, store
from stack.endpoint.archived_media.clip_responses import Clock, FindStream, check_h264, no_data
from stack.endpoint.archived_media.errors import InvalidMediaFrameException, NoFragmentsException
from stack.endpoint.archived_media.hls_request import ContainerFormat, parse_get_hls_url
from stack.endpoint.archived_media.hls_sessions import HlsSession, HlsSessions
from stack.endpoint.archived_media.media import M3U8, MP4, MPEG_TS, Media, stream_directory
from stack.endpoint.exceptions import InvalidArgumentException

logger = logging.getLogger(__name__)

PREFIX = "/hls/v1/"
T = TypeVar("T")
DEFAULT_MAX_PARALLEL = 4


class HlsStreaming:
    """Serves GetHLSStreamingSessionURL and the session's playlists and segments."""

    def __init__(
        self,
        fragment_root: Path | None,
        find_stream: FindStream,
        clock: Clock,
        max_parallel: int = DEFAULT_MAX_PARALLEL,
    ) -> None:
        self.fragment_root = fragment_root
        self._find_stream = find_stream
        self._clock = clock
        self.sessions = HlsSessions()
        self._remuxing = threading.BoundedSemaphore(max_parallel)
        self._gets: dict[str, Callable[[HlsSession, Mapping[str, str]], Media]] = {
            hls_playlists.MASTER: self._master,
            hls_playlists.MEDIA: self._media_playlist,
            hls_playlists.MP4_INIT: self._init,
            hls_playlists.MP4_MEDIA: self._mp4_fragment,
            hls_playlists.TS: self._ts_fragment,
        }

    def get_url(
        self, account_id: str, region: str, body: Mapping[str, Any], endpoint_url: str
    ) -> dict[str, Any]:
        """``endpoint_url``: the address the request came to."""
        now = self._clock()
        request, spec = parse_get_hls_url(body, now)
        stream = self._find_stream(account_id, region, request.stream)
        if stream.retention_hours == 0:
            raise no_data(stream)
        directory = stream_directory(self.fragment_root, stream)
        kept = self._fragments(directory, stream.retention_hours, now)
        first = hls_playlists.initial_fragments(spec, kept, now)
        if not first:
            raise NoFragmentsException(
                "No fragments found in the stream for the requested timestamp range."
                if spec.start_ms is not None
                else "No fragments were received by the stream in the last 30 seconds."
            )
        check_h264(first[0])
        token = self.sessions.new_token()
        self.sessions.add(
            HlsSession(
                token=token,
                account_id=account_id,
                region=region,
                stream_name=stream.name,
                retention_hours=stream.retention_hours,
                spec=spec,
                created_ms=now,
                expires_ms=now + spec.expires_s * 1000,
                origin_ms=min(f.producer_ms for f in first),
            )
        )
        logger.debug("HLS session for %s: %s", stream.name, spec.mode.value)
        url = f"{endpoint_url}{PREFIX}{hls_playlists.MASTER}?SessionToken={token}"
        return {"HLSStreamingSessionURL": url}

    @staticmethod
    def handles(path: str) -> bool:
        return path.startswith(PREFIX)

    def serve(self, path: str, query: Mapping[str, str]) -> Media:
        """A GET under ``/hls/v1/``; ``query`` holds the URL's parameters."""
        handler = self._gets.get(path.removeprefix(PREFIX))
        if handler is None:
            raise InvalidArgumentException(f"{path} is not an HLS resource.")
        session = self.sessions.get(query.get("SessionToken"), self._clock())
        return handler(session, query)

    def _fragments(
        self, directory: Path | None, retention_hours: int, now_ms: int
    ) -> list[store.StoredFragment]:
        if directory is None:
            return []
        return store.retained(store.stored_fragments(directory), retention_hours, now_ms)

    def _session_fragments(self, session: HlsSession) -> list[store.StoredFragment]:
        directory = stream_directory(self.fragment_root, session.stream_name)
        return self._fragments(directory, session.retention_hours, self._clock())

    def _master(self, session: HlsSession, query: Mapping[str, str]) -> Media:
        fragments = self._session_fragments(session)
        text = hls_playlists.master_playlist(session.token, session.spec, fragments)
        return Media(M3U8, text.encode())

    def _media_playlist(self, session: HlsSession, query: Mapping[str, str]) -> Media:
        shown = hls_playlists.window(
            session.spec,
            self._session_fragments(session),
            session.origin_ms,
            session.created_ms,
            self._clock(),
        )
        return Media(
            M3U8, hls_playlists.media_playlist(session.token, session.spec, shown).encode()
        )

    def _fragment(self, session: HlsSession, query: Mapping[str, str]) -> store.StoredFragment:
        number = query.get("FragmentNumber")
        if not number:
            raise InvalidArgumentException("FragmentNumber is required.")
        found = hls_playlists.in_session(
            session.spec, self._session_fragments(session), session.origin_ms, number
        )
        if found is None:
            raise NoFragmentsException(f"Fragment {number} is not part of this session.")
        return found

    def _init(self, session: HlsSession, query: Mapping[str, str]) -> Media:
        self._mp4_only(session)
        fragments = self._session_fragments(session)
        first = hls_playlists.in_session(
            session.spec, fragments, session.origin_ms, str(session.origin_ms)
        )
        if first is None:  # the first fragment is gone: any of the session's will do
            first = self._any(session, fragments)
        init, _ = self._remux(_fmp4_parts, first)
        return Media(MP4, init)

    def _mp4_fragment(self, session: HlsSession, query: Mapping[str, str]) -> Media:
        self._mp4_only(session)
        fragment = self._fragment(session, query)
        _, media = self._remux(_fmp4_parts, fragment)
        offset_ms = max(0, fragment.producer_ms - session.origin_ms)
        sequence = offset_ms // 1000 + 1
        placed = fmp4.placed(media, offset_ms * remux.TIMESCALE // 1000, sequence)
        return Media(MP4, placed)

    def _ts_fragment(self, session: HlsSession, query: Mapping[str, str]) -> Media:
        if session.spec.container is not ContainerFormat.MPEG_TS:
            raise InvalidArgumentException("This session's ContainerFormat is FRAGMENTED_MP4.")
        return Media(MPEG_TS, self._remux(remux.ts_fragment, self._fragment(session, query)))

    @staticmethod
    def _mp4_only(session: HlsSession) -> None:
        if session.spec.container is not ContainerFormat.FRAGMENTED_MP4:
            raise InvalidArgumentException("This session's ContainerFormat is MPEG_TS.")

    def _any(
        self, session: HlsSession, fragments: list[store.StoredFragment]
    ) -> store.StoredFragment:
        for fragment in fragments:
            if hls_playlists.in_session(
                session.spec, fragments, session.origin_ms, fragment.number
            ):
                return fragment
        raise NoFragmentsException("The session has no fragments left.")

    def _remux(self, convert: Callable[[Path], T], fragment: store.StoredFragment) -> T:
        with self._remuxing:
            try:
                return convert(fragment.path)
            except (remux.RemuxError, fmp4.BoxError) as err:
                logger.warning("HLS fragment %s: %s", fragment.path, err)
                raise InvalidMediaFrameException(
                    f"Fragment {fragment.number} could not be parsed."
                ) from err


def _fmp4_parts(fragment: Path) -> tuple[bytes, bytes]:
    return fmp4.split(remux.fmp4_fragment(fragment))
