"""HLS streaming sessions: what a session token stands for, kept in memory until it expires.

A token is opaque (random, URL-safe); it stands for one stream, a playback mode, a range, a
container and an expiry. An unknown token, or one past its expiry, is refused with
``NotAuthorizedException`` (HTTP 403), as the HLS URLs of KVS refuse an expired session.
Sessions are not persisted: a restarted endpoint knows none.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from stack.endpoint.archived_media.errors import NotAuthorizedException
from stack.endpoint.archived_media.hls_request import HlsSessionSpec

_KEPT_AFTER_EXPIRY_MS = 3_600_000  # an expired token is told apart from an unknown one this long


@dataclass(frozen=True)
class HlsSession:
    token: str
    account_id: str
    region: str
    stream_name: str
    retention_hours: int
    spec: HlsSessionSpec
    created_ms: int
    expires_ms: int
    origin_ms: int  # producer start of the session's first fragment: time 0 of its timeline


class HlsSessions:
    """Sessions by token. Thread-safe."""

    def __init__(self) -> None:
        self._sessions: dict[str, HlsSession] = {}
        self._lock = threading.Lock()

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(48)

    def add(self, session: HlsSession) -> None:
        with self._lock:
            self._drop_expired(session.created_ms - _KEPT_AFTER_EXPIRY_MS)
            self._sessions[session.token] = session

    def get(self, token: str | None, now_ms: int) -> HlsSession:
        with self._lock:
            session = self._sessions.get(token or "")
        if session is None:
            raise NotAuthorizedException("Streaming session token is not valid.")
        if now_ms >= session.expires_ms:
            raise NotAuthorizedException("Streaming session token is expired.")
        return session

    def _drop_expired(self, now_ms: int) -> None:
        for token in [t for t, s in self._sessions.items() if now_ms >= s.expires_ms]:
            del self._sessions[token]
