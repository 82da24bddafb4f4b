"""Work out which AWS service, region and operation an HTTP request is for.

- Service and region come from the SigV4 credential scope
  (``Credential=AKID/20240101/us-east-1/kinesisvideo/aws4_request``) in the
  ``Authorization`` header or a presigned URL's ``X-Amz-Credential``. The
  scope holds the *signing name*; several botocore services can share one
  (``kinesisvideo`` signs the KVS control plane and the media APIs), so the
  service is the first candidate whose model has a matching operation.
- The operation comes from ``X-Amz-Target`` (JSON protocols), ``Action=`` in
  the form body or query string (query protocols: IAM, SNS, STS), or by
  matching method + path + query against the model's ``http.requestUri``
  templates (REST protocols: IoT, KVS, S3).

Unsigned requests resolve to no service. Not handled: SigV2, S3
virtual-hosted addressing (clients on an IP endpoint use path style).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import botocore.session

# Signing names shared by several botocore services, or differing from the
# service name. Anything else is looked up by a (slow, cached) scan.
_SIGNING_ALIASES: dict[str, tuple[str, ...]] = {
    "kinesisvideo": (
        "kinesisvideo",
        "kinesis-video-archived-media",
        "kinesis-video-media",
        "kinesis-video-signaling",
        "kinesis-video-webrtc-storage",
    ),
    "iotdata": ("iot-data",),
    "servicequotas": ("service-quotas",),
    "s3": ("s3", "s3control"),
    "iam": ("iam",),
}
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_LABEL = re.compile(r"\{([^}]+?)(\+?)\}")

_session_lock = threading.Lock()


@dataclass(frozen=True)
class RequestInfo:
    """What a request is, as far as it can be told."""

    service: str | None = None
    signing_name: str | None = None
    region: str | None = None
    access_key: str | None = None
    operation: str | None = None
    protocol: str | None = None


@functools.cache
def _session() -> Any:
    return botocore.session.get_session()


@functools.cache
def service_model(name: str) -> Any | None:
    with _session_lock:
        try:
            return _session().get_service_model(name)
        except Exception:  # botocore raises UnknownServiceError and friends
            return None


@functools.cache
def _signing_index() -> dict[str, tuple[str, ...]]:
    index: dict[str, list[str]] = {}
    with _session_lock:
        loader = _session().get_component("data_loader")
        names = loader.list_available_services("service-2")
    for name in names:
        model = service_model(name)
        if model is None:
            continue
        metadata = model.metadata
        signing = metadata.get("signingName", metadata.get("endpointPrefix", name))
        index.setdefault(signing, []).append(name)
    return {key: tuple(value) for key, value in index.items()}


def candidate_services(signing_name: str) -> tuple[str, ...]:
    if signing_name in _SIGNING_ALIASES:
        return _SIGNING_ALIASES[signing_name]
    if service_model(signing_name) is not None:
        return (signing_name,)
    return _signing_index().get(signing_name, ())


@dataclass(frozen=True)
class _Route:
    operation: str
    method: str
    path: re.Pattern[str]
    query: tuple[tuple[str, str | None], ...]
    literal_length: int
    headers: tuple[str, ...] = ()


def _required_locations(operation_model: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Header names and query keys the operation's input requires."""
    shape = operation_model.input_shape
    if shape is None:
        return (), ()
    headers, query = [], []
    for name in shape.required_members:
        member = shape.members[name]
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "header":
            headers.append(wire_name.lower())
        elif location == "querystring":
            query.append(wire_name)
    return tuple(headers), tuple(query)


def _compile_uri(
    operation: str,
    method: str,
    request_uri: str,
    required_headers: tuple[str, ...] = (),
    required_query: tuple[str, ...] = (),
) -> _Route:
    path, _, query = request_uri.partition("?")
    pattern, position, literal = "", 0, 0
    for match in _LABEL.finditer(path):
        text = path[position : match.start()]
        pattern += re.escape(text)
        literal += len(text)
        pattern += "(.+)" if match.group(2) else "([^/]+)"
        position = match.end()
    pattern += re.escape(path[position:])
    literal += len(path) - position
    required: list[tuple[str, str | None]] = []
    for part in filter(None, query.split("&")):
        key, sep, value = part.partition("=")
        if key != "x-id":
            required.append((key, value if sep else None))
    required.extend((key, None) for key in required_query if key not in dict(required))
    return _Route(
        operation,
        method.upper(),
        re.compile("^" + pattern.rstrip("/") + "/?$"),
        tuple(required),
        literal,
        required_headers,
    )


@functools.cache
def _routes(service: str) -> tuple[_Route, ...]:
    model = service_model(service)
    if model is None:
        return ()
    routes = []
    for name in model.operation_names:
        operation_model = model.operation_model(name)
        http = operation_model.http
        headers, query = _required_locations(operation_model)
        routes.append(
            _compile_uri(
                name, http.get("method", "POST"), http.get("requestUri", "/"), headers, query
            )
        )
    return tuple(routes)


def match_rest_operation(
    service: str,
    method: str,
    path: str,
    query: Mapping[str, list[str]],
    headers: Mapping[str, str] | None = None,
) -> str | None:
    """The operation whose requestUri template (and required query keys and
    headers) match, the most specific first. ``headers`` has lower-case keys."""
    present = headers or {}
    best: tuple[int, int, str] | None = None
    for route in _routes(service):
        if route.method != method.upper() or not route.path.match(path):
            continue
        if not all(
            key in query and (value is None or value in query[key]) for key, value in route.query
        ):
            continue
        if not all(name in present for name in route.headers):
            continue
        score = (len(route.query) + len(route.headers), route.literal_length, route.operation)
        if best is None or score[:2] > best[:2]:
            best = score
    return best[2] if best else None


def _operation_for(
    service: str,
    protocol: str,
    method: str,
    path: str,
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
    form: Mapping[str, list[str]],
) -> str | None:
    if protocol == "json":
        target = headers.get("x-amz-target", "")
        return target.split(".", 1)[1] if "." in target else None
    if protocol in ("query", "ec2"):
        action = form.get("Action") or query.get("Action")
        return action[0] if action else None
    return match_rest_operation(service, method, path, query, headers)


def resolve_request(
    method: str,
    path: str,
    query_string: str,
    headers: Mapping[str, str],
    body: bytes,
) -> RequestInfo:
    """Resolve a request; ``headers`` must have lower-case keys."""
    query = parse_qs(query_string, keep_blank_values=True)
    scope = headers.get("authorization", "")
    if "X-Amz-Credential" in query:
        scope = "Credential=" + query["X-Amz-Credential"][0]
    match = _CREDENTIAL.search(scope)
    if match is None:
        return RequestInfo()
    access_key, region, signing_name = match.groups()
    form: Mapping[str, list[str]] = {}
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    candidates = candidate_services(signing_name)
    for service in candidates:
        model = service_model(service)
        if model is None:
            continue
        protocol = model.protocol
        operation = _operation_for(service, protocol, method, path, query, headers, form)
        if operation is not None and operation in model.operation_names:
            return RequestInfo(service, signing_name, region, access_key, operation, protocol)
    first = candidates[0] if candidates else signing_name
    model = service_model(first)
    return RequestInfo(
        first, signing_name, region, access_key, None, model.protocol if model else None
    )
