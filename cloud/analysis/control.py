"""Start and follow analysis sessions, the same way for both analyzers.

A stream-processor fleet starts the camera's processor; a frames fleet claims the camera's item
in the analysis table and queues the session for the workers. Either way: one session per camera
at a time (ConflictError while one runs), a session state per camera, and every camera's status
in one listing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Protocol

from cloud import queues, rekognition
from cloud.analysis import frames_queue, frames_table
from cloud.analysis.models import FramesCamera, FramesSessionRequest, SessionState
from cloud.clients import AwsClients
from cloud.errors import FleetError, InvalidInputError, NotFoundError
from cloud.models import Analyzer, ProcessorStatus
from cloud.naming import FleetNames

log = logging.getLogger(__name__)

# How long a queued session may wait for a worker before its camera may be claimed again.
QUEUE_WAIT_S = 120
_ACTIVE = (ProcessorStatus.STARTING, ProcessorStatus.RUNNING)


class SessionControl(Protocol):
    analyzer: Analyzer
    # How long past its duration a session may still end (a queued one waits for a worker, a
    # killed worker's session comes back after its visibility timeout).
    end_grace_s: float

    def start(
        self, camera_id: str, start_ms: int, duration_s: int, motion_ms: int | None = None
    ) -> str:
        """Start a session of the camera's video from a producer timestamp (ms); its id.
        `motion_ms`: where the motion that asks for it was seen, when it is known.
        ConflictError while the camera has a session running."""
        ...

    def describe(self, camera_id: str) -> SessionState | None:
        """The camera's current or last session; None when the camera has no analyzer."""
        ...

    def statuses(self) -> dict[str, ProcessorStatus]:
        """Every camera's session status, by camera id, in one listing."""
        ...


class StreamProcessorSessions:
    analyzer = Analyzer.STREAM_PROCESSOR
    end_grace_s = 60.0

    def __init__(self, clients: AwsClients, names: FleetNames):
        self._clients = clients
        self._names = names

    def start(
        self, camera_id: str, start_ms: int, duration_s: int, motion_ms: int | None = None
    ) -> str:
        processor = self._names.processor(camera_id)  # a processor analyses every frame
        return rekognition.start_session(self._clients, processor, start_ms, duration_s)

    def describe(self, camera_id: str) -> SessionState | None:
        record = rekognition.describe_processor(self._clients, self._names.processor(camera_id))
        if record is None:
            return None
        return SessionState(
            camera_id=camera_id,
            status=record.status,
            message=record.status_message,
            updated_at=record.last_update,
        )

    def statuses(self) -> dict[str, ProcessorStatus]:
        found: dict[str, ProcessorStatus] = {}
        for name, status in rekognition.list_processors(self._clients).items():
            try:
                found[self._names.camera_from_processor(name)] = status
            except InvalidInputError:
                continue  # another fleet's processor
        return found


class FramesSessions:
    analyzer = Analyzer.FRAMES

    def __init__(self, clients: AwsClients, names: FleetNames, ingest_grace_s: float):
        self._clients = clients
        self._names = names
        self._ingest_grace_s = ingest_grace_s
        # The lease decides when a session is given up (describe reports it FAILED); this only
        # bounds a follower's wait past that.
        self.end_grace_s = QUEUE_WAIT_S + ingest_grace_s + 2 * frames_queue.VISIBILITY_TIMEOUT_S
        self._queue_url: str | None = None
        self._lock = threading.Lock()

    def _queue(self) -> str:
        with self._lock:
            if self._queue_url is None:
                url = queues.queue_url(self._clients, self._names.analysis_queue)
                if url is None:
                    raise NotFoundError(
                        f"the analysis queue {self._names.analysis_queue} does not exist: "
                        "run `fleet init` (or `fleet analyzer use frames`)"
                    )
                self._queue_url = url
            return self._queue_url

    def start(
        self, camera_id: str, start_ms: int, duration_s: int, motion_ms: int | None = None
    ) -> str:
        now = _now_ms()
        request = FramesSessionRequest(
            camera_id=camera_id,
            session_id=str(uuid.uuid4()),
            start_ms=start_ms,
            duration_s=duration_s,
            requested_at_ms=now,
            motion_ms=motion_ms,
        )
        queue = self._queue()
        lease = max(now, request.end_ms) + int((self._ingest_grace_s + QUEUE_WAIT_S) * 1000)
        frames_table.claim(self._clients, self._names.analysis_table, request, lease)
        try:
            frames_queue.send_session(self._clients, queue, request)
        except FleetError as err:  # the claim must not keep the camera from its next session
            frames_table.finish(
                self._clients,
                self._names.analysis_table,
                camera_id,
                request.session_id,
                ProcessorStatus.FAILED,
                f"the session could not be queued: {err}",
                0,
            )
            raise
        log.info("queued frames session %s of %s", request.session_id, camera_id)
        return request.session_id

    def describe(self, camera_id: str) -> SessionState | None:
        camera = frames_table.read_camera(self._clients, self._names.analysis_table, camera_id)
        return _state(camera, _now_ms()) if camera else None

    def statuses(self) -> dict[str, ProcessorStatus]:
        now = _now_ms()
        cameras = frames_table.list_cameras(self._clients, self._names.analysis_table)
        return {camera_id: _state(c, now).status for camera_id, c in cameras.items()}


def _state(camera: FramesCamera, now_ms: int) -> SessionState:
    """A session whose lease ran out while it was unfinished failed: its worker is gone and the
    queue did not hand it to another in time."""
    state = camera.state()
    if state.status in _ACTIVE and camera.lease_until_ms < now_ms:
        return state.model_copy(
            update={
                "status": ProcessorStatus.FAILED,
                "message": "no analysis worker finished the session in time",
            }
        )
    return state


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def session_control(
    clients: AwsClients, names: FleetNames, analyzer: Analyzer, ingest_grace_s: float
) -> SessionControl:
    if analyzer is Analyzer.FRAMES:
        return FramesSessions(clients, names, ingest_grace_s)
    return StreamProcessorSessions(clients, names)
