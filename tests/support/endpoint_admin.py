"""A tiny client for the local AWS endpoint's admin API (faults and request log)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import boto3
from botocore.config import Config


def _call(url: str, method: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    return json.loads(text) if text else None


def inject_fault(
    endpoint: str,
    service: str,
    operation: str | None,
    error_code: str | None = "AccessDeniedException",
    *,
    count: int = 1,
    http_status: int = 400,
    delay_seconds: float = 0,
) -> None:
    _call(
        f"{endpoint}/_fleet/faults",
        "POST",
        {
            "service": service,
            "operation": operation,
            "error_code": error_code,
            "http_status": http_status,
            "count": count,
            "delay_seconds": delay_seconds,
        },
    )


def clear_faults(endpoint: str) -> None:
    _call(f"{endpoint}/_fleet/faults", "DELETE")


def requests_since(endpoint: str, since: int = 0) -> list[dict[str, Any]]:
    answer = _call(f"{endpoint}/_fleet/requests?since={since}", "GET")
    return list(answer["requests"] if isinstance(answer, dict) else answer)


def last_seq(endpoint: str) -> int:
    """The sequence number of the newest request the endpoint has logged."""
    return max((int(r["seq"]) for r in requests_since(endpoint, 0)), default=0)


def endpoint_client(endpoint: str, service: str, region: str = "us-east-1", **config: Any) -> Any:
    """A boto3 client of the local endpoint (any credentials do); `config`: botocore Config."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(**config) if config else None,
    )
