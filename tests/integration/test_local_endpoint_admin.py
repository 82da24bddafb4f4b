"""Fault injection, botocore retries and the request log of the admin API."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stack.endpoint.server import LocalEndpoint
from tests.support.endpoint_admin import EndpointService, endpoint_client


def admin(endpoint: LocalEndpoint, method: str, path: str, payload: Any = None) -> Any:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(f"{endpoint.url}/_fleet/{path}", data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def last_seq(endpoint: LocalEndpoint) -> int:
    return int(admin(endpoint, "GET", "requests?since=0")["last_seq"])


@pytest.fixture(autouse=True)
def _no_faults(local_endpoint: LocalEndpoint) -> None:
    admin(local_endpoint, "DELETE", "faults")


def test_health(local_endpoint: LocalEndpoint) -> None:
    assert admin(local_endpoint, "GET", "health")["status"] == "ok"


def test_throttling_is_retried_by_standard_mode(local_endpoint: LocalEndpoint) -> None:
    since = last_seq(local_endpoint)
    admin(
        local_endpoint,
        "POST",
        "faults",
        {
            "service": "kinesisvideo",
            "operation": "CreateStream",
            "error_code": "ThrottlingException",
            "http_status": 400,
            "count": 2,
            "delay_seconds": 0,
        },
    )
    kvs = endpoint_client(
        local_endpoint.url, "kinesisvideo", retries={"mode": "standard", "max_attempts": 5}
    )
    response = kvs.create_stream(StreamName=f"retry-{uuid.uuid4().hex[:6]}")
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    log = admin(local_endpoint, "GET", f"requests?since={since}")["requests"]
    attempts = [r for r in log if r["operation"] == "CreateStream"]
    assert [(r["status"], r["error_code"], r["injected"]) for r in attempts] == [
        (400, "ThrottlingException", True),
        (400, "ThrottlingException", True),
        (200, None, False),
    ]
    assert all(r["service"] == "kinesisvideo" for r in attempts)
    assert attempts[0]["seq"] < attempts[1]["seq"] < attempts[2]["seq"]


@pytest.mark.parametrize(
    ("service", "operation", "call"),
    [
        ("iam", "ListRoles", lambda c: c.list_roles()),
        ("sns", "ListTopics", lambda c: c.list_topics()),
        ("s3", "ListBuckets", lambda c: c.list_buckets()),
        ("iot", "ListThings", lambda c: c.list_things()),
        ("rekognition", "ListStreamProcessors", lambda c: c.list_stream_processors()),
    ],
)
def test_injected_errors_parse_in_every_protocol(
    local_endpoint: LocalEndpoint, service: EndpointService, operation: str, call: Any
) -> None:
    admin(
        local_endpoint,
        "POST",
        "faults",
        {"service": service, "operation": operation, "error_code": "AccessDenied", "count": 1},
    )
    with pytest.raises(ClientError) as excinfo:
        call(endpoint_client(local_endpoint.url, service, retries={"max_attempts": 1}))
    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"
    call(endpoint_client(local_endpoint.url, service))  # the fault is used up


def test_request_log_records_moto_errors(local_endpoint: LocalEndpoint) -> None:
    since = last_seq(local_endpoint)
    with pytest.raises(ClientError):
        endpoint_client(local_endpoint.url, "kinesisvideo").describe_stream(
            StreamName="no-such-stream"
        )
    with pytest.raises(ClientError):
        endpoint_client(local_endpoint.url, "iam").get_role(RoleName="no-such-role")
    log = admin(local_endpoint, "GET", f"requests?since={since}")["requests"]
    assert [(r["service"], r["operation"], r["error_code"]) for r in log] == [
        ("kinesisvideo", "DescribeStream", "ResourceNotFoundException"),
        ("iam", "GetRole", "NoSuchEntity"),
    ]
    assert all(r["time_ms"] > 0 and r["status"] >= 400 for r in log)


def test_request_log_names_the_callers_app_id(local_endpoint: LocalEndpoint) -> None:
    since = last_seq(local_endpoint)
    endpoint_client(local_endpoint.url, "iam", user_agent_appid="register-cli").list_roles()
    endpoint_client(local_endpoint.url, "iam").list_roles()
    log = admin(local_endpoint, "GET", f"requests?since={since}")["requests"]
    assert [(r["operation"], r["app_id"]) for r in log] == [
        ("ListRoles", "register-cli"),
        ("ListRoles", None),
    ]


def test_faults_list_and_clear(local_endpoint: LocalEndpoint) -> None:
    admin(local_endpoint, "POST", "faults", {"service": "s3", "delay_seconds": 0.01, "count": 3})
    assert admin(local_endpoint, "GET", "faults")["faults"][0]["count"] == 3
    admin(local_endpoint, "DELETE", "faults")
    assert admin(local_endpoint, "GET", "faults")["faults"] == []
