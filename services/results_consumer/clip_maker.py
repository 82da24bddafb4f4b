"""Event clips for the results consumer: each `ClipJob` from the results queue becomes an MP4 of
the session's window from the camera's stream (GetClip), stored beside the session's frames.

Clips are made on worker threads of their own, so making one never holds a notification back.
A job's message is deleted once its outcome is kept: `MADE`, or `FAILED` with the reason when
the clip cannot be made (no video, too large) or kept failing for `clip_store.ATTEMPTS`
deliveries; until then SQS delivers it again after a growing delay. A job whose outcome is kept
already (a redelivery) is dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cloud import clip_store, queues
from cloud.clients import AwsClients
from cloud.clip_store import ClipJob, ClipRecord, ClipState
from cloud.clips import ClipUnavailableError, get_clip
from cloud.errors import FleetError, aws_call
from cloud.links import bucket_and_key
from cloud.naming import FleetNames
from services.harness.stats import Counters
from services.results_consumer.decisions import retry_delay_seconds

log = logging.getLogger(__name__)

FetchClip = Callable[[AwsClients, str, datetime, datetime], bytes]
_BUSY_RETRY_S = 10  # a job that finds every worker busy and the queue full comes back after it


@dataclass
class ClipCounters(Counters):
    made: int = 0
    failed: int = 0
    retried: int = 0
    duplicates: int = 0
    busy: int = 0


def utc_now() -> datetime:
    return datetime.now(UTC)


class ClipMaker:
    """`submit` hands a job to `workers` threads (0: made at once, on the caller's thread)."""

    def __init__(
        self,
        clients: AwsClients,
        names: FleetNames,
        table: str,
        queue_url: str,
        workers: int = 2,
        max_pending: int = 20,
        fetch: FetchClip = get_clip,
        clock: Callable[[], datetime] = utc_now,
        kept: Callable[[str], None] | None = None,
    ) -> None:
        self._clients = clients
        self._names = names
        self._table = table
        self._queue_url = queue_url
        self._fetch = fetch
        self._clock = clock
        self._kept = kept  # told the camera whose clip outcome was just kept (its gallery)
        self.counters = ClipCounters()
        self._jobs: queue.Queue[tuple[queues.QueueMessage, ClipJob] | None] = queue.Queue(
            maxsize=max_pending
        )
        self._threads = [
            threading.Thread(target=self._run, name=f"clips-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, message: queues.QueueMessage, job: ClipJob) -> None:
        if not self._threads:
            self.make(message, job)
            return
        try:
            self._jobs.put_nowait((message, job))
        except queue.Full:  # the workers are behind: SQS holds the job meanwhile
            self.counters.busy += 1
            self._give_back(message, _BUSY_RETRY_S)

    def close(self, timeout: float = 10.0) -> None:
        """Finish the jobs in hand (within `timeout`); jobs still queued come back from SQS."""
        while True:
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break
        for _ in self._threads:
            try:
                self._jobs.put(None, timeout=timeout)
            except queue.Full:
                break
        for thread in self._threads:
            thread.join(timeout)

    def _run(self) -> None:
        while (item := self._jobs.get()) is not None:
            try:
                self.make(*item)
            except Exception as err:  # the message comes back after its visibility timeout
                log.warning("clip job %s: %r", item[0].message_id, err)

    def make(self, message: queues.QueueMessage, job: ClipJob) -> ClipState | None:
        """Make the job's clip, keep its outcome and delete the message; None when it is to be
        tried again (the message is left to come back) or was made already."""
        kept = clip_store.get_clip_record(self._clients, self._table, job.camera_id, job.session_id)
        if kept is not None:
            self.counters.duplicates += 1
            queues.delete(self._clients, self._queue_url, message.receipt_handle)
            return None
        try:
            stream = self._names.stream(job.camera_id)
            start = job.start - clip_store.FRAGMENT_LEAD  # GetClip starts at a fragment's start
            video = self._fetch(self._clients, stream, start, job.end)
            self._store(job.uri, video)
        except ClipUnavailableError as err:
            if err.permanent:
                return self._outcome(message, job, ClipState.FAILED, reason=err.reason)
            return self._again(message, job, err.reason)
        except Exception as err:  # throttling, the service, the network: tried again later
            return self._again(message, job, str(err) if isinstance(err, FleetError) else repr(err))
        return self._outcome(message, job, ClipState.MADE, size=len(video))

    def _store(self, uri: str, video: bytes) -> None:
        bucket, key = bucket_and_key(uri)
        with aws_call(f"store the clip {uri}"):
            self._clients.s3.put_object(Bucket=bucket, Key=key, Body=video, ContentType="video/mp4")

    def _again(self, message: queues.QueueMessage, job: ClipJob, reason: str) -> ClipState | None:
        if message.receive_count >= clip_store.ATTEMPTS:
            reason = f"gave up after {message.receive_count} attempts: {reason}"
            return self._outcome(message, job, ClipState.FAILED, reason=reason)
        self.counters.retried += 1
        delay = retry_delay_seconds(message.receive_count)
        log.warning(
            "camera %s: clip of session %s not made (attempt %d), again in %d s: %s",
            job.camera_id,
            job.session_id,
            message.receive_count,
            delay,
            reason,
        )
        self._give_back(message, delay)
        return None

    def _outcome(
        self,
        message: queues.QueueMessage,
        job: ClipJob,
        state: ClipState,
        size: int | None = None,
        reason: str | None = None,
    ) -> ClipState:
        record = ClipRecord(
            camera_id=job.camera_id,
            session_id=job.session_id,
            state=state,
            uri=job.uri,
            start=job.start,
            end=job.end,
            size_bytes=size,
            reason=reason,
            at=self._clock(),
        )
        clip_store.put_clip_record(self._clients, self._table, record)
        queues.delete(self._clients, self._queue_url, message.receipt_handle)
        if self._kept is not None:
            self._kept(job.camera_id)
        if state is ClipState.MADE:
            self.counters.made += 1
            log.info(
                "camera %s: clip of session %s stored (%d bytes)",
                job.camera_id,
                job.session_id,
                size or 0,
            )
        else:
            self.counters.failed += 1
            log.warning(
                "camera %s: no clip for session %s: %s", job.camera_id, job.session_id, reason
            )
        return state

    def _give_back(self, message: queues.QueueMessage, seconds: int) -> None:
        try:
            queues.change_visibility(
                self._clients, self._queue_url, message.receipt_handle, seconds
            )
        except Exception as err:  # it comes back after the visibility timeout anyway
            log.debug("clip job %s: visibility not changed: %s", message.message_id, err)
