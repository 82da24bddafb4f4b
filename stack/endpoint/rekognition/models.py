"""State of Rekognition stream processors and collections (moto has none).

One ``RekognitionBackend`` per account and region, held by ``RekognitionState``
with the processor quota and the session runner.

Status model (label detection, as AWS): created ``STOPPED``; a start makes it
``STARTING`` for the whole session, which ends ``STOPPED`` (or ``FAILED``) after
``MaxDurationInSeconds`` or on stop; it never reports ``RUNNING``. A face
search processor is ``RUNNING`` from start until stop.

Streaming video access: Rekognition Streaming Video is closed to new customers (since
2026-04-30; accounts that used it within the last 12 months keep it). With
``streaming_video_available`` false the endpoint plays such an account: ``CreateStreamProcessor``
fails with ``AccessDeniedException`` (``STREAMING_VIDEO_CLOSED``; AWS's exact wording is not
published, the message follows its notice), before any check of the request; processors that
exist keep working (start, stop, describe, update, delete).

Collections hold the faces indexed into them (``faces_collection``; the face APIs are
``faces``'s); a collection's faces go with it.

Not emulated: the ``UPDATING``/``STOPPING`` transitions (updates apply at once), KMS, data
sharing effects, and stopping an already stopped processor is a no-op
(unverified against AWS).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from stack.endpoint.exceptions import (
    AccessDeniedException,
    InvalidPaginationTokenException,
    InvalidParameterException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from stack.endpoint.rekognition import faces_collection, validation
from stack.endpoint.rekognition.faces_collection import IndexedFace
from stack.endpoint.rekognition.sessions import (
    SessionContext,
    SessionOutcome,
    SessionRunner,
    TimedSessionRunner,
)

logger = logging.getLogger(__name__)

DEFAULT_PROCESSOR_QUOTA = 10
STREAMING_VIDEO_CLOSED = (
    "Amazon Rekognition Streaming Video Analysis is no longer available to new customers. "
    "Existing accounts that have used it within the last 12 months can continue to use it."
)
StreamExists = Callable[[str], bool]


class ProcessorStatus(StrEnum):
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    FAILED = "FAILED"
    STOPPING = "STOPPING"
    UPDATING = "UPDATING"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class StreamProcessor:
    name: str
    arn: str
    request: dict[str, Any]  # the CreateStreamProcessor request, as updated
    created: dt.datetime
    updated: dt.datetime
    status: ProcessorStatus = ProcessorStatus.STOPPED
    status_message: str | None = None
    session_id: str | None = None

    @property
    def is_connected_home(self) -> bool:
        return "ConnectedHome" in self.request.get("Settings", {})

    @property
    def tags(self) -> dict[str, str]:
        tags: dict[str, str] = self.request.setdefault("Tags", {})
        return tags

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Name": self.name,
            "StreamProcessorArn": self.arn,
            "Status": self.status.value,
            "CreationTimestamp": self.created.timestamp(),
            "LastUpdateTimestamp": self.updated.timestamp(),
        }
        if self.status_message:
            out["StatusMessage"] = self.status_message
        for key in (
            "Input",
            "Output",
            "RoleArn",
            "Settings",
            "NotificationChannel",
            "KmsKeyId",
            "RegionsOfInterest",
            "DataSharingPreference",
        ):
            if key in self.request:
                out[key] = copy.deepcopy(self.request[key])
        return out


@dataclass
class Collection:
    collection_id: str
    arn: str
    created: dt.datetime
    tags: dict[str, str] = field(default_factory=dict)
    faces: dict[str, IndexedFace] = field(default_factory=dict)  # by face id

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A collection saved before collections held faces comes back with none."""
        self.__dict__.update({"faces": {}, **state})


def _paginate(
    names: list[str], next_token: str | None, max_results: int | None, default: int
) -> tuple[list[str], str | None]:
    start = 0
    if next_token:
        try:
            after = json.loads(base64.urlsafe_b64decode(next_token.encode()))["after"]
        except (ValueError, KeyError, TypeError) as err:
            raise InvalidPaginationTokenException("Invalid pagination token.") from err
        start = next((i for i, name in enumerate(names) if name > after), len(names))
    size = max_results or default
    page = names[start : start + size]
    if not page or start + size >= len(names):
        return page, None
    token = base64.urlsafe_b64encode(json.dumps({"after": page[-1]}).encode()).decode()
    return page, token


class RekognitionBackend:
    """Processors and collections of one account and region."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self.processors: dict[str, StreamProcessor] = {}
        self.collections: dict[str, Collection] = {}

    def processor_arn(self, name: str) -> str:
        return f"arn:aws:rekognition:{self.region}:{self.account_id}:streamprocessor/{name}"

    def collection_arn(self, collection_id: str) -> str:
        return f"arn:aws:rekognition:{self.region}:{self.account_id}:collection/{collection_id}"

    def get_processor(self, name: str) -> StreamProcessor:
        processor = self.processors.get(name)
        if processor is None:
            raise ResourceNotFoundException(f"Stream processor {name} not found.")
        return processor

    def list_processors(
        self, next_token: str | None, max_results: int | None
    ) -> tuple[list[StreamProcessor], str | None]:
        names, token = _paginate(sorted(self.processors), next_token, max_results, 1000)
        return [self.processors[name] for name in names], token

    def get_collection(self, collection_id: str) -> Collection:
        collection = self.collections.get(collection_id)
        if collection is None:
            raise ResourceNotFoundException(f"The collection id: {collection_id} does not exist")
        return collection

    def create_collection(self, collection_id: str, tags: dict[str, str]) -> Collection:
        validation.check_collection_id(collection_id)
        if collection_id in self.collections:
            raise ResourceAlreadyExistsException(
                f"The collection id: {collection_id} already exists"
            )
        collection = Collection(collection_id, self.collection_arn(collection_id), utcnow(), tags)
        self.collections[collection_id] = collection
        return collection

    def list_collections(
        self, next_token: str | None, max_results: int | None
    ) -> tuple[list[str], str | None]:
        return _paginate(sorted(self.collections), next_token, max_results, 4096)

    def delete_collection(self, collection_id: str) -> None:
        self.get_collection(collection_id)
        del self.collections[collection_id]

    def index_faces(self, collection_id: str, faces: Sequence[IndexedFace]) -> list[IndexedFace]:
        """Add faces to a collection; returns them as it holds them (``add_faces``)."""
        stored = faces_collection.add_faces(self.get_collection(collection_id).faces, faces)
        logger.debug("indexed %d faces into collection %s", len(stored), collection_id)
        return stored

    def list_faces(
        self,
        collection_id: str,
        next_token: str | None,
        max_results: int | None,
        face_ids: Sequence[str] | None = None,
        user_id: str | None = None,
    ) -> tuple[list[IndexedFace], str | None]:
        faces = self.get_collection(collection_id).faces
        ids = faces_collection.listed_ids(faces, face_ids, user_id)
        page, token = _paginate(ids, next_token, max_results, 1000)
        return [faces[face_id] for face_id in page], token

    def delete_faces(
        self, collection_id: str, face_ids: Sequence[str]
    ) -> tuple[list[str], list[str]]:
        """Returns (deleted, not found)."""
        faces = self.get_collection(collection_id).faces
        return faces_collection.delete_faces(faces, face_ids)

    def search_faces(
        self, collection_id: str, face_id: str, threshold: float, max_faces: int
    ) -> list[tuple[IndexedFace, float]]:
        """The faces like a face of the collection, itself left out."""
        faces = self.get_collection(collection_id).faces
        searched = faces.get(face_id)
        if searched is None:
            raise InvalidParameterException("faceId was not found in the collection.")
        return faces_collection.matches(
            faces, searched.descriptor, threshold, max_faces, exclude=face_id
        )

    def search_descriptor(
        self, collection_id: str, descriptor: bytes, threshold: float, max_faces: int
    ) -> list[tuple[IndexedFace, float]]:
        faces = self.get_collection(collection_id).faces
        return faces_collection.matches(faces, descriptor, threshold, max_faces)

    def tags_of(self, resource_arn: str) -> dict[str, str]:
        kind, _, name = resource_arn.rsplit(":", 1)[-1].partition("/")
        owner = f"arn:aws:rekognition:{self.region}:{self.account_id}:"
        if not resource_arn.startswith(owner) or not name:
            raise ResourceNotFoundException(f"Resource {resource_arn} not found.")
        if kind == "streamprocessor":
            return self.get_processor(name).tags
        if kind == "collection":
            return self.get_collection(name).tags
        raise ResourceNotFoundException(f"Resource {resource_arn} not found.")

    def reset_sessions(self) -> None:
        """After a restart no session survives: active ones come back STOPPED."""
        for processor in self.processors.values():
            if processor.session_id is not None or processor.status in (
                ProcessorStatus.STARTING,
                ProcessorStatus.RUNNING,
                ProcessorStatus.STOPPING,
            ):
                processor.session_id = None
                processor.status = ProcessorStatus.STOPPED


class RekognitionState:
    """All Rekognition state of one endpoint, the quota and the session runner.

    Thread-safe: every public method holds one lock. ``stream_exists`` tells
    whether a KVS stream ARN exists (moto's kinesisvideo backend).
    """

    def __init__(
        self,
        stream_exists: StreamExists,
        processor_quota: int = DEFAULT_PROCESSOR_QUOTA,
        runner: SessionRunner | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        streaming_video_available: bool = True,
    ) -> None:
        self.processor_quota = processor_quota
        self.streaming_video_available = streaming_video_available
        self.runner: SessionRunner = runner or TimedSessionRunner()
        self._stream_exists = stream_exists
        self._clock = clock
        self._lock = threading.RLock()
        self._backends: dict[tuple[str, str], RekognitionBackend] = {}

    def backend(self, account_id: str, region: str) -> RekognitionBackend:
        with self._lock:
            key = (account_id, region)
            if key not in self._backends:
                self._backends[key] = RekognitionBackend(account_id, region)
            return self._backends[key]

    def snapshot(self) -> dict[tuple[str, str], RekognitionBackend]:
        with self._lock:
            return copy.deepcopy(self._backends)

    def restore(self, backends: Mapping[tuple[str, str], RekognitionBackend]) -> None:
        with self._lock:
            self._backends = dict(backends)
            for backend in self._backends.values():
                backend.reset_sessions()

    def reset(self) -> None:
        with self._lock:
            for backend in self._backends.values():
                for processor in backend.processors.values():
                    if processor.session_id:
                        self.runner.stop(processor.session_id)
            self._backends.clear()

    def processor_count(self, account_id: str, region: str) -> int:
        with self._lock:
            return len(self.backend(account_id, region).processors)

    # -- processors ---------------------------------------------------------

    def create_processor(
        self, account_id: str, region: str, request: Mapping[str, Any]
    ) -> StreamProcessor:
        if not self.streaming_video_available:
            raise AccessDeniedException(STREAMING_VIDEO_CLOSED)
        validation.check_create(request)
        with self._lock:
            backend = self.backend(account_id, region)
            name = str(request["Name"])
            if name in backend.processors:
                raise ResourceInUseException(f"Stream processor {name} already exists.")
            if len(backend.processors) >= self.processor_quota:
                raise LimitExceededException(
                    f"The number of stream processors exceeds the limit of {self.processor_quota}."
                )
            now = self._clock()
            body = copy.deepcopy(dict(request))
            body["Tags"] = validation.check_tags(request.get("Tags"))
            processor = StreamProcessor(name, backend.processor_arn(name), body, now, now)
            backend.processors[name] = processor
            logger.info("created stream processor %s in %s/%s", name, account_id, region)
            return processor

    def describe_processor(self, account_id: str, region: str, name: str) -> dict[str, Any]:
        with self._lock:
            return self.backend(account_id, region).get_processor(name).describe()

    def list_processors(
        self, account_id: str, region: str, next_token: str | None, max_results: int | None
    ) -> tuple[list[dict[str, str]], str | None]:
        with self._lock:
            page, token = self.backend(account_id, region).list_processors(next_token, max_results)
            return [{"Name": p.name, "Status": p.status.value} for p in page], token

    def start_processor(
        self,
        account_id: str,
        region: str,
        name: str,
        start_selector: Mapping[str, Any] | None,
        stop_selector: Mapping[str, Any] | None,
    ) -> str | None:
        with self._lock:
            processor = self.backend(account_id, region).get_processor(name)
            if processor.session_id is not None or processor.status in (
                ProcessorStatus.STARTING,
                ProcessorStatus.RUNNING,
            ):
                raise ResourceInUseException(f"Stream processor {name} is already running.")
            stream_arn = processor.request["Input"]["KinesisVideoStream"]["Arn"]
            if not processor.is_connected_home:
                if start_selector or stop_selector:
                    raise InvalidParameterException(
                        "StartSelector and StopSelector apply to label detection processors only."
                    )
                self._require_stream(stream_arn)
                processor.status = ProcessorStatus.RUNNING
                processor.status_message = None
                return None
            timestamp, fragment, duration = _selectors(start_selector, stop_selector)
            self._require_stream(stream_arn)
            session_id = str(uuid.uuid4())
            processor.session_id = session_id
            processor.status = ProcessorStatus.STARTING
            processor.status_message = None
            processor.updated = self._clock()  # as AWS's: "when the user starts or stops" it
            context = self._context(processor, account_id, region, timestamp, fragment, duration)
        logger.info("started session %s of stream processor %s", session_id, name)
        try:
            self.runner.start(context, self._session_ended(account_id, region, name))
        except Exception:
            logger.exception("session runner failed to start processor %s", name)
            self._session_ended(account_id, region, name)(
                session_id, SessionOutcome(message="session runner failed")
            )
            raise
        return session_id

    def _require_stream(self, stream_arn: str) -> None:
        if not self._stream_exists(stream_arn):
            raise ResourceNotFoundException(f"Kinesis video stream {stream_arn} not found.")

    def _context(
        self,
        processor: StreamProcessor,
        account_id: str,
        region: str,
        timestamp: int | None,
        fragment: str | None,
        duration: int,
    ) -> SessionContext:
        request = copy.deepcopy(processor.request)
        assert processor.session_id is not None
        return SessionContext(
            session_id=processor.session_id,
            processor_name=processor.name,
            processor_arn=processor.arn,
            account_id=account_id,
            region=region,
            kvs_stream_arn=request["Input"]["KinesisVideoStream"]["Arn"],
            producer_timestamp_ms=timestamp,
            fragment_number=fragment,
            max_duration_seconds=duration,
            started_at=self._clock(),
            settings=request.get("Settings", {}),
            output=request.get("Output", {}),
            notification_channel=request.get("NotificationChannel"),
            regions_of_interest=tuple(request.get("RegionsOfInterest", [])),
            role_arn=request.get("RoleArn", ""),
            tags=dict(request.get("Tags") or {}),
        )

    def _session_ended(
        self, account_id: str, region: str, name: str
    ) -> Callable[[str, SessionOutcome], None]:
        def ended(session_id: str, outcome: SessionOutcome) -> None:
            with self._lock:
                processor = self.backend(account_id, region).processors.get(name)
                if processor is None or processor.session_id != session_id:
                    return
                processor.session_id = None
                processor.status = ProcessorStatus(outcome.status.value)
                processor.status_message = outcome.message
                processor.updated = self._clock()

        return ended

    def stop_processor(self, account_id: str, region: str, name: str) -> None:
        with self._lock:
            processor = self.backend(account_id, region).get_processor(name)
            session_id = processor.session_id
            processor.session_id = None
            processor.status = ProcessorStatus.STOPPED
            processor.updated = self._clock()
        if session_id is not None:
            logger.info("stopped session %s of stream processor %s", session_id, name)
            self.runner.stop(session_id)

    def update_processor(
        self, account_id: str, region: str, name: str, request: Mapping[str, Any]
    ) -> None:
        with self._lock:
            processor = self.backend(account_id, region).get_processor(name)
            if processor.session_id is not None or processor.status == ProcessorStatus.RUNNING:
                raise ResourceInUseException(f"Stream processor {name} is running.")
            _apply_update(processor, request)
            processor.updated = self._clock()

    def delete_processor(self, account_id: str, region: str, name: str) -> None:
        with self._lock:
            backend = self.backend(account_id, region)
            processor = backend.get_processor(name)
            if processor.session_id is not None or processor.status == ProcessorStatus.RUNNING:
                raise ResourceInUseException(f"Stream processor {name} is running.")
            del backend.processors[name]
            logger.info("deleted stream processor %s", name)

    # -- collections and tags -------------------------------------------------

    def run(self, account_id: str, region: str, action: Callable[[RekognitionBackend], Any]) -> Any:
        """Run ``action`` on one backend under the state lock."""
        with self._lock:
            return action(self.backend(account_id, region))


def _selectors(
    start_selector: Mapping[str, Any] | None, stop_selector: Mapping[str, Any] | None
) -> tuple[int | None, str | None, int]:
    kvs = (start_selector or {}).get("KVSStreamStartSelector")
    if not kvs:
        raise InvalidParameterException(
            "StartSelector.KVSStreamStartSelector is required for label detection."
        )
    timestamp, fragment = kvs.get("ProducerTimestamp"), kvs.get("FragmentNumber")
    if (timestamp is None) == (fragment is None):
        raise InvalidParameterException(
            "KVSStreamStartSelector needs exactly one of ProducerTimestamp or FragmentNumber."
        )
    if timestamp is not None and timestamp < 100_000_000_000:
        logger.warning("ProducerTimestamp %s looks like seconds; it is in milliseconds", timestamp)
    duration = (stop_selector or {}).get("MaxDurationInSeconds")
    if not isinstance(duration, int) or not 1 <= duration <= 120:
        raise InvalidParameterException(
            "StopSelector.MaxDurationInSeconds must be between 1 and 120."
        )
    return timestamp, fragment, duration


def _apply_update(processor: StreamProcessor, request: Mapping[str, Any]) -> None:
    body = processor.request
    home_update = (request.get("SettingsForUpdate") or {}).get("ConnectedHomeForUpdate")
    if (home_update or "RegionsOfInterestForUpdate" in request) and not processor.is_connected_home:
        raise InvalidParameterException("Only ConnectedHome stream processors can be updated so.")
    home = body.get("Settings", {}).get("ConnectedHome")
    for parameter in request.get("ParametersToDelete") or []:
        if parameter == "ConnectedHomeMinConfidence" and home is not None:
            home.pop("MinConfidence", None)
        elif parameter == "RegionsOfInterest":
            body.pop("RegionsOfInterest", None)
    if home_update:
        if "Labels" in home_update:
            home["Labels"] = validation.check_labels(home_update["Labels"])
        if "MinConfidence" in home_update:
            home["MinConfidence"] = validation.check_percent(
                home_update["MinConfidence"], "MinConfidence"
            )
    if "RegionsOfInterestForUpdate" in request:
        body["RegionsOfInterest"] = validation.check_regions_of_interest(
            request["RegionsOfInterestForUpdate"]
        )
    if "DataSharingPreferenceForUpdate" in request:
        body["DataSharingPreference"] = dict(request["DataSharingPreferenceForUpdate"])
