"""Each camera's detection gallery in the Prefect UI: the markdown artifact
`camera-<id>-detections` (`cloud.gallery`), rewritten after each stored detection.

`GalleryPublisher` never holds up the consumer: `submit` only marks the camera, and one worker
thread reads the camera's latest detections, signs their links, renders and writes the artifact.
A camera marked again while it waits, or while its gallery is being written, is written once
more afterwards (with whatever the table holds by then). A failure is counted and logged at a
bounded rate, never raised: the gallery is rewritten with the camera's next detection.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from cloud import detections, links
from cloud.clients import AwsClients
from cloud.clip_store import clip_uri
from cloud.errors import FleetError
from cloud.gallery import (
    ClipState,
    GalleryEntry,
    gallery_description,
    gallery_key,
    render_gallery,
)
from cloud.rekognition_messages import DetectionRecord
from cloud.retention import media_expires_at
from services.harness.log_limit import LimitedLog, LogLimiter
from services.harness.stats import Counters

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

log = logging.getLogger(__name__)

GALLERY_SIZE = 12


class GalleryWriter(Protocol):
    def write(self, key: str, markdown: str, description: str) -> None: ...

    def close(self) -> None: ...


class PrefectArtifacts:
    """Writes markdown artifacts to the Prefect server of the environment (PREFECT_API_URL),
    with Prefect's synchronous client, from the thread that calls it.

    The key's latest version is updated in place (the UI shows the latest); a key without one
    gets its first. So a gallery is one artifact, not a new version of some 30 KB per detection.
    `create_markdown_artifact` is not used: outside a flow run it warns that it is deprecated,
    and it always adds a version."""

    def __init__(self) -> None:
        self._client: SyncPrefectClient | None = None

    def write(self, key: str, markdown: str, description: str) -> None:
        from httpx import HTTPStatusError  # noqa: PLC0415 - Prefect's HTTP client
        from prefect.client.schemas.actions import (  # noqa: PLC0415 - Prefect where it is used
            ArtifactCreate,
            ArtifactUpdate,
        )
        from prefect.client.schemas.filters import (  # noqa: PLC0415
            ArtifactCollectionFilter,
            ArtifactCollectionFilterKey,
        )

        client = self._connected()
        latest = client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[key])),
            limit=1,
        )
        if latest:
            try:
                client.update_artifact(
                    latest[0].latest_id, ArtifactUpdate(data=markdown, description=description)
                )
                return
            except HTTPStatusError as err:  # deleted since it was read: a new one
                if err.response.status_code != 404:
                    raise
        client.create_artifact(
            ArtifactCreate(key=key, type="markdown", data=markdown, description=description)
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.__exit__(None, None, None)
            self._client = None

    def _connected(self) -> SyncPrefectClient:
        if self._client is None:
            from prefect.client.orchestration import get_client  # noqa: PLC0415

            client = get_client(sync_client=True)
            client.__enter__()
            self._client = client
        return self._client


@dataclass
class GalleryCounters(Counters):
    updates: int = 0
    failures: int = 0
    coalesced: int = 0


def utc_now() -> datetime:
    return datetime.now(UTC)


class GalleryPublisher:
    """One worker thread (a daemon) writing the galleries of the cameras `submit` marks, oldest
    mark first; `close` writes what is marked, then stops it. The thread runs in the context of
    the caller that made the publisher (its Prefect settings)."""

    def __init__(
        self,
        clients: AwsClients,
        table: str,
        link_seconds: int,
        writer: GalleryWriter | None = None,
        *,
        retention_days: int | None = None,
        size: int = GALLERY_SIZE,
        clip_state: ClipState | None = None,
        clock: Callable[[], datetime] = utc_now,
        limiter: LogLimiter | None = None,
    ) -> None:
        self._clients = clients
        self._table = table
        self._link_seconds = link_seconds
        self._writer: GalleryWriter = writer or PrefectArtifacts()
        self._retention_days = retention_days
        self._size = size
        self._clip_state = clip_state
        self._clock = clock
        self._warn = LimitedLog(log, limiter)
        self.counters = GalleryCounters()
        self._pending: dict[str, None] = {}  # cameras to write, oldest mark first
        self._changed = threading.Condition()
        self._closing = False
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._run,), name="gallery", daemon=True
        )
        self._thread.start()

    def submit(self, camera_id: str) -> None:
        """Mark the camera's gallery for a rewrite; returns at once."""
        with self._changed:
            if self._closing:
                return
            if camera_id in self._pending:
                self.counters.coalesced += 1
                return
            self._pending[camera_id] = None
            self._changed.notify()

    def close(self, timeout: float = 10.0) -> None:
        """Write the galleries still marked (within `timeout`), then stop the worker."""
        with self._changed:
            self._closing = True
            self._changed.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            with self._changed:
                left = list(self._pending)
            log.warning("galleries: stopped with %d not written: %s", len(left), ", ".join(left))

    def publish(self, camera_id: str) -> None:
        """Read, sign, render and write one camera's gallery now; raises what fails."""
        records = detections.list_detections(self._clients, self._table, camera_id, self._size)
        entries = [self._entry(record) for record in records]
        self._writer.write(
            gallery_key(camera_id),
            render_gallery(camera_id, entries, self._clock(), self._clip_state),
            gallery_description(camera_id, entries),
        )

    def _entry(self, record: DetectionRecord) -> GalleryEntry:
        frame = links.presigned_link(self._clients, record.frame_uri, self._link_seconds)
        thumbnail = (
            links.presigned_link(self._clients, record.crop_uri, self._link_seconds)
            if record.crop_uri is not None
            else frame
        )
        clip = links.presigned_link(self._clients, clip_uri(record), self._link_seconds)
        days = self._retention_days
        return GalleryEntry(
            record=record,
            thumbnail_url=thumbnail.url,
            frame_url=frame.url,
            clip_url=clip.url,
            links_expire_at=min(frame.expires_at, thumbnail.expires_at, clip.expires_at),
            media_expires_at=None if days is None else media_expires_at(record.detected_at, days),
        )

    def _run(self) -> None:
        try:
            while (camera_id := self._next()) is not None:
                self._write(camera_id)
        finally:
            try:
                self._writer.close()
            except Exception as err:  # the process is stopping anyway
                log.debug("galleries: the writer did not close cleanly: %r", err)

    def _next(self) -> str | None:
        """The camera marked first, once there is one; None when closing with none left."""
        with self._changed:
            while not self._pending and not self._closing:
                self._changed.wait()
            if not self._pending:
                return None
            camera_id = next(iter(self._pending))
            del self._pending[camera_id]
            return camera_id

    def _write(self, camera_id: str) -> None:
        try:
            self.publish(camera_id)
        except Exception as err:  # a gallery never stops the consumer: counted, logged
            self.counters.failures += 1
            self._warn.warning(
                "gallery",
                "camera %s: detection gallery not written: %s",
                camera_id,
                err if isinstance(err, FleetError) else repr(err),
            )
        else:
            self.counters.updates += 1
            log.debug("camera %s: detection gallery written", camera_id)
