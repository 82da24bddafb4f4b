"""The admin API under ``/_fleet/`` (tests and benchmarks).

- ``GET /_fleet/health`` -> 200 ``{"status": "ok", ...}``
- ``POST /_fleet/faults`` with a ``FaultSpec`` JSON body arms a fault;
  ``GET`` lists armed faults, ``DELETE`` clears them
- ``GET /_fleet/requests?since=<seq>`` -> ``{"requests": [...], "last_seq": n}``
- ``POST /_fleet/reset`` wipes all state (moto's, Rekognition's, faults, log)
- ``POST /_fleet/save`` saves the state now
- ``PUT /_fleet/processor-quota`` with ``{"value": n}`` sets the Rekognition
  stream processor quota (what Service Quotas reports and CreateStreamProcessor
  enforces) until the endpoint restarts; a value below what is in use refuses
  every new processor, as AWS does
- ``PUT /_fleet/streaming-video`` with ``{"available": false}`` closes Rekognition
  Streaming Video to this endpoint's accounts, as it is closed to new AWS customers:
  ``CreateStreamProcessor`` then fails with ``AccessDeniedException``, processors that
  exist keep working; ``{"available": true}`` opens it again. Until the endpoint restarts
  (``python -m stack.endpoint --no-streaming-video`` starts it closed)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from werkzeug.wrappers import Request, Response

from stack.endpoint.faults import FaultInjector, FaultSpec, RequestLog
from stack.endpoint.servicequotas.models import QuotaSetting

PREFIX = "/_fleet/"


class StreamingVideoSetting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    available: bool


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


class AdminApi:
    def __init__(
        self,
        faults: FaultInjector,
        log: RequestLog,
        health: Callable[[], dict[str, Any]],
        reset: Callable[[], None],
        save: Callable[[], None],
        set_processor_quota: Callable[[int], None],
        set_streaming_video: Callable[[bool], None],
    ) -> None:
        self._faults = faults
        self._log = log
        self._health = health
        self._reset = reset
        self._save = save
        self._set_processor_quota = set_processor_quota
        self._set_streaming_video = set_streaming_video

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        response = self._dispatch(Request(environ))
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        route = (request.method, request.path.removeprefix(PREFIX).rstrip("/"))
        if route == ("GET", "health"):
            return _json(self._health())
        if route == ("POST", "faults"):
            try:
                spec = FaultSpec.model_validate_json(request.get_data())
            except ValidationError as err:
                return _json({"error": json.loads(err.json())}, 400)
            self._faults.add(spec)
            return _json({"armed": spec.model_dump()}, 201)
        if route == ("GET", "faults"):
            return _json({"faults": [f.model_dump() for f in self._faults.active()]})
        if route == ("DELETE", "faults"):
            self._faults.clear()
            return _json({"cleared": True})
        if route == ("GET", "requests"):
            try:
                since = int(request.args.get("since", "0"))
            except ValueError:
                return _json({"error": "since must be an integer"}, 400)
            records = self._log.since(since)
            last = records[-1].seq if records else since
            return _json({"requests": [r.model_dump() for r in records], "last_seq": last})
        if route == ("POST", "reset"):
            self._reset()
            return _json({"reset": True})
        if route == ("POST", "save"):
            self._save()
            return _json({"saved": True})
        if route == ("PUT", "processor-quota"):
            try:
                setting = QuotaSetting.model_validate_json(request.get_data())
            except ValidationError as err:
                return _json({"error": json.loads(err.json())}, 400)
            self._set_processor_quota(setting.value)
            return _json({"processor_quota": setting.value})
        if route == ("PUT", "streaming-video"):
            try:
                access = StreamingVideoSetting.model_validate_json(request.get_data())
            except ValidationError as err:
                return _json({"error": json.loads(err.json())}, 400)
            self._set_streaming_video(access.available)
            return _json({"streaming_video_available": access.available})
        return _json({"error": f"no admin route {request.method} {request.path}"}, 404)
