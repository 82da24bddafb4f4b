"""The WSGI application: our additions in front of moto, on one port.

Per request: resolve service/operation (``request_info``), apply an armed
fault, then serve it from the project's emulation (Rekognition, KVS and its
archived media, Service Quotas) or pass it to moto; afterwards log it,
regenerate the broker ACL after IoT changes and schedule a state save after
mutations. ``/_fleet/`` is the admin API.

moto's backends are process-global: two apps in one process share moto's
state (not the Rekognition state, which each app owns).
"""

from __future__ import annotations

import functools
import io
import json
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moto.iam.models import get_account_id_from
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from stack.broker.acl_sync import AclSync, is_acl_relevant
from stack.endpoint import iot_index, iot_patch, kinesisvideo, persistence, presigned
from stack.endpoint.admin import PREFIX, AdminApi
from stack.endpoint.archived_media.clip_responses import Clips
from stack.endpoint.archived_media.hls_responses import HlsStreaming
from stack.endpoint.archived_media.media import Media
from stack.endpoint.archived_media.responses import ArchivedMedia
from stack.endpoint.exceptions import LocalAwsError, UnknownOperationException
from stack.endpoint.faults import FaultInjector, RequestLog, RequestRecord, now_ms
from stack.endpoint.protocol_errors import WireResponse, error_code_of, error_response
from stack.endpoint.rekognition import responses as rekognition_responses
from stack.endpoint.rekognition.faces import FaceAnalysis
from stack.endpoint.rekognition.image_analysis import ImageAnalysis
from stack.endpoint.rekognition.models import RekognitionState
from stack.endpoint.rekognition.s3_images import read_s3_object
from stack.endpoint.request_info import RequestInfo, resolve_request
from stack.endpoint.servicequotas import responses as quota_responses
from stack.endpoint.servicequotas.models import ServiceQuotasBackend

logger = logging.getLogger(__name__)

_READ_PREFIXES = (
    "Describe",
    "Detect",
    "List",
    "Get",
    "Head",
    "Search",
    "Select",
    "Test",
    "Validate",
)
# SQS long polling waits inside moto for up to 20 s: under the state lock it would hold back the
# very publish that delivers the message, and every other write. moto's queue guards its own list.
_UNLOCKED = {("sqs", "ReceiveMessage")}
_REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 500: "Error"}
JsonHandler = Callable[[str, str, dict[str, Any]], dict[str, Any]]
# KVS data-plane services: GetDataEndpoint sends their clients here; GetImages, GetClip and
# GetHLSStreamingSessionURL (with its /hls/v1/ URLs) are served, the others refused.
_MEDIA_SERVICES = frozenset({"kinesis-video-archived-media", "kinesis-video-media"})


def is_mutating(method: str, operation: str | None) -> bool:
    if operation is None:
        return method not in ("GET", "HEAD", "OPTIONS")
    return not operation.startswith(_READ_PREFIXES)


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if length.isdigit():
        body: bytes = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    return headers


_APP_ID = re.compile(r"(?:^|\s)app/(\S+)")


def _app_id(user_agent: str) -> str | None:
    match = _APP_ID.search(user_agent)
    return match.group(1) if match else None


def request_url(environ: Mapping[str, Any]) -> str:
    """The address a request came to, as its client wrote it (``http://127.0.0.1:5055``)."""
    host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}"


class LocalEndpointApp:
    def __init__(
        self,
        rekognition: RekognitionState,
        iot_context: iot_patch.IotContext,
        acl_sync: AclSync,
        save: Callable[[], None],
        mark_dirty: Callable[[], None],
        state_lock: threading.RLock,
        health: Callable[[], dict[str, Any]],
        fragment_root: Path | None = None,
    ) -> None:
        self.rekognition = rekognition
        self.iot_context = iot_context
        self.acl_sync = acl_sync
        self.faults = FaultInjector()
        self.log = RequestLog()
        self.state_lock = state_lock
        self._mark_dirty = mark_dirty
        self._moto = DomainDispatcherApplication(create_backend_app)
        self._admin = AdminApi(
            self.faults,
            self.log,
            health,
            self.reset,
            save,
            self.set_processor_quota,
            self.set_streaming_video,
        )
        self.archived_media = ArchivedMedia(fragment_root, self._find_stream)
        self.clips = Clips(fragment_root, self._find_stream, now_ms)
        self.hls = HlsStreaming(fragment_root, self._find_stream, now_ms)
        self.images = ImageAnalysis(self._read_s3)
        self.faces = FaceAnalysis(self._read_s3)

    def set_processor_quota(self, value: int) -> None:
        """The stream processor quota from now until the endpoint restarts."""
        self.rekognition.processor_quota = value
        logger.info("stream processor quota set to %d", value)

    def set_streaming_video(self, available: bool) -> None:
        """Whether the endpoint's accounts may create stream processors, until it restarts."""
        self.rekognition.streaming_video_available = available
        logger.info("Rekognition streaming video %s", "open" if available else "closed")

    def _find_stream(
        self, account: str, region: str, request: Mapping[str, Any]
    ) -> kinesisvideo.StreamRef:
        with self.state_lock:
            return kinesisvideo.find_stream(account, region, request)

    def _read_s3(
        self, account: str, region: str, bucket: str, key: str, version: str | None
    ) -> bytes:
        with self.state_lock:
            return read_s3_object(account, region, bucket, key, version)

    def reset(self) -> None:
        """Wipe moto's (process-global) state, ours, faults and the request log."""
        with self.state_lock:
            moto_api_backend.reset()
            self.rekognition.reset()
        self.faults.clear()
        self.log.clear()
        self.acl_sync.sync()
        self.acl_sync.request()
        self._mark_dirty()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(PREFIX):
            return self._admin(environ, start_response)
        received = now_ms()
        seq = self.log.next_seq()
        body = _read_body(environ)
        method = environ.get("REQUEST_METHOD", "GET")
        info = resolve_request(
            method, path, environ.get("QUERY_STRING", ""), _headers(environ), body
        )
        token = iot_patch.activate(self.iot_context)
        try:
            response, injected = self._handle(environ, info, body)
        finally:
            iot_patch.deactivate(token)
        error = error_code_of(response.headers, response.body) if response.status >= 400 else None
        self.log.append(
            RequestRecord(
                seq=seq,
                time_ms=received,
                method=method,
                path=path,
                service=info.service,
                region=info.region,
                operation=info.operation,
                status=response.status,
                error_code=error,
                injected=injected,
                params=_logged_params(info, body),
                app_id=_app_id(environ.get("HTTP_USER_AGENT", "")),
            )
        )
        logger.debug("%s %s %s -> %s", info.service, info.operation, path, response.status)
        reason = _REASONS.get(response.status, "")
        start_response(f"{response.status} {reason}".strip(), response.headers)
        return [response.body]

    def _handle(
        self, environ: dict[str, Any], info: RequestInfo, body: bytes
    ) -> tuple[WireResponse, bool]:
        fault = self.faults.take(info)
        if fault is not None:
            if fault.delay_seconds:
                time.sleep(fault.delay_seconds)
            if fault.error_code:
                logger.info(
                    "injected %s into %s %s", fault.error_code, info.service, info.operation
                )
                return (
                    error_response(
                        info.protocol,
                        info.service,
                        fault.error_code,
                        fault.message,
                        fault.http_status,
                    ),
                    True,
                )
        method = environ.get("REQUEST_METHOD", "GET")
        if info.service == "s3":
            refused = presigned.refusal(environ.get("QUERY_STRING", ""), datetime.now(UTC))
            if refused is not None:
                denied = error_response(info.protocol, info.service, "AccessDenied", refused, 403)
                return denied, False
        media = self._serve_media(environ, info, body)
        if media is not None:
            return media, False
        mutating = is_mutating(method, info.operation)
        handler = self._own_handler(info, body, environ)
        if handler is not None:
            response = self._serve_json(info, body, handler)
        elif mutating and (info.service, info.operation) not in _UNLOCKED:
            with self.state_lock:
                response = self._call_moto(environ)
        else:
            response = self._call_moto(environ)
        if response.status < 400 and mutating:
            if is_acl_relevant(info.service, info.operation):
                self.acl_sync.request()
            self._mark_dirty()
        return response, False

    def _own_handler(
        self, info: RequestInfo, body: bytes, environ: Mapping[str, Any]
    ) -> JsonHandler | None:
        operation = info.operation
        if info.service == "rekognition" and operation in rekognition_responses.OPERATIONS:
            rekognition_handler = rekognition_responses.OPERATIONS[operation]

            def rekognition(account: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
                responses = rekognition_responses.RekognitionResponses(
                    self.rekognition, account, region, self.images, self.faces
                )
                return rekognition_handler(responses, request)

            return rekognition
        if info.service == "kinesisvideo" and operation == "GetDataEndpoint":
            url = request_url(environ)

            def data_endpoint(account: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
                with self.state_lock:
                    return kinesisvideo.get_data_endpoint(account, region, request, url)

            return data_endpoint
        if info.service == "kinesis-video-archived-media" and operation == "GetImages":
            return self.archived_media.get_images
        if (
            info.service == "kinesis-video-archived-media"
            and operation == "GetHLSStreamingSessionURL"
        ):
            return functools.partial(_with_url, self.hls.get_url, request_url(environ))
        if info.service in _MEDIA_SERVICES and operation is not None:
            return functools.partial(_not_emulated, operation)
        if info.service == "kinesisvideo" and operation in kinesisvideo.OPERATIONS:
            return self._under_state_lock(kinesisvideo.OPERATIONS[operation])
        if info.service == "iot" and operation in iot_index.OPERATIONS:
            return self._under_state_lock(iot_index.OPERATIONS[operation])
        if info.service == "service-quotas" and operation in quota_responses.OPERATIONS:
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                return None
            if not quota_responses.handles(operation, request):
                return None
            quota_handler = quota_responses.OPERATIONS[operation]

            def quotas(account: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
                backend = ServiceQuotasBackend(
                    account, region, lambda: self.rekognition.processor_quota
                )
                return quota_handler(backend, request)

            return quotas
        return None

    def _under_state_lock(self, handler: JsonHandler) -> JsonHandler:
        """`handler` holding the state lock: it reads and writes moto's backends."""

        def locked(account: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
            with self.state_lock:
                return handler(account, region, request)

        return locked

    def _serve_media(
        self, environ: Mapping[str, Any], info: RequestInfo, body: bytes
    ) -> WireResponse | None:
        """GetClip and the HLS session URLs: answers that are media, not JSON."""
        path = environ.get("PATH_INFO", "")
        service = "kinesis-video-archived-media"
        if HlsStreaming.handles(path) and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
            return _media_or_error(service, lambda: self.hls.serve(path, query))
        if info.service != service or info.operation != "GetClip":
            return None
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise ValueError("request body is not a JSON object")
        except ValueError as err:
            return error_response("json", service, "SerializationException", str(err))
        account = get_account_id_from(info.access_key or "")
        region = info.region or "us-east-1"
        return _media_or_error(service, lambda: self.clips.get_clip(account, region, request))

    def _serve_json(self, info: RequestInfo, body: bytes, handler: JsonHandler) -> WireResponse:
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise ValueError("request body is not a JSON object")
        except ValueError as err:
            return error_response("json", info.service, "SerializationException", str(err))
        account = get_account_id_from(info.access_key or "")
        region = info.region or "us-east-1"
        try:
            result = handler(account, region, request)
        except LocalAwsError as err:
            return error_response("json", info.service, err.code, err.message, err.status)
        except Exception:
            logger.exception("%s %s failed", info.service, info.operation)
            return error_response(
                "json", info.service, "InternalServerError", "internal error", 500
            )
        payload = json.dumps(result).encode()
        return WireResponse(200, [("Content-Type", "application/x-amz-json-1.1")], payload)

    def _call_moto(self, environ: dict[str, Any]) -> WireResponse:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = list(headers)
            return lambda data: None

        result = self._moto(environ, capture)
        try:
            data = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return WireResponse(captured.get("status", 500), captured.get("headers", []), data)


def _with_url(
    handler: Callable[[str, str, dict[str, Any], str], dict[str, Any]],
    url: str,
    account: str,
    region: str,
    request: dict[str, Any],
) -> dict[str, Any]:
    return handler(account, region, request, url)


def _media_or_error(service: str, produce: Callable[[], Media]) -> WireResponse:
    try:
        media = produce()
    except LocalAwsError as err:
        return error_response("json", service, err.code, err.message, err.status)
    except Exception:
        logger.exception("%s media request failed", service)
        return error_response("json", service, "InternalServerError", "internal error", 500)
    return WireResponse(200, [("Content-Type", media.content_type)], media.body)


def _not_emulated(
    operation: str, account: str, region: str, request: dict[str, Any]
) -> dict[str, Any]:
    raise UnknownOperationException(
        f"{operation} is not emulated by the local endpoint; of the Kinesis Video Streams "
        "media APIs it serves GetImages, GetClip and GetHLSStreamingSessionURL."
    )


def _logged_params(info: RequestInfo, body: bytes) -> dict[str, Any] | None:
    """The request log keeps the JSON requests of our own Rekognition emulation (no image bytes,
    no credentials): which stream processor, which start selector, which labels asked for."""
    if info.service != "rekognition" or info.operation not in rekognition_responses.OPERATIONS:
        return None
    try:
        params = json.loads(body or b"{}")
    except ValueError:
        return None
    if not isinstance(params, dict):
        return None
    image = params.get("Image")
    if isinstance(image, dict) and "Bytes" in image:
        params["Image"] = {**image, "Bytes": f"<{len(str(image['Bytes']))} base64 characters>"}
    return params


def save_everything(app_state: RekognitionState, state_file: Any, lock: threading.RLock) -> None:
    """Pickle moto's persisted backends and the Rekognition state to ``state_file``."""
    with lock:
        began = time.monotonic()  # requests wait from here, not while the saver waits its turn
        payload = persistence.dump_state(
            persistence.moto_snapshot(), {"rekognition": app_state.snapshot()}
        )
        held_ms = (time.monotonic() - began) * 1000
    persistence.write_state(state_file, payload)
    logger.info(
        "saved endpoint state to %s: %d kB, requests held %.0f ms",
        state_file,
        len(payload) // 1024,
        held_ms,
    )
