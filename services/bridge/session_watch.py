"""Which analysis sessions have ended, from one listing of every camera's session status. Pure.

A FAILED session is not ended here: its flow run reports it and retries it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cloud.models import ProcessorStatus


@dataclass(frozen=True)
class Session:
    camera_id: str
    session_id: str
    started: float  # monotonic seconds, when the start answered


class ActiveSessions:
    """The session each camera has running, as far as the bridge started it."""

    def __init__(self) -> None:
        self._by_camera: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._by_camera)

    def add(self, session: Session) -> None:
        self._by_camera[session.camera_id] = session

    def remove(self, camera_id: str, session_id: str) -> bool:
        """Forget the camera's session if it is still `session_id` (a late report of an earlier
        session must not end its follow-up)."""
        current = self._by_camera.get(camera_id)
        if current is None or current.session_id != session_id:
            return False
        del self._by_camera[camera_id]
        return True

    def ended(self, statuses: Mapping[str, ProcessorStatus], listed_at: float) -> list[Session]:
        """The sessions a listing begun at `listed_at` shows stopped. A session started after
        the listing began may show its previous session's STOPPED: it is not judged."""
        return [
            s
            for s in self._by_camera.values()
            if s.started < listed_at and statuses.get(s.camera_id) is ProcessorStatus.STOPPED
        ]
