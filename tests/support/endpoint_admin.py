"""A tiny client for the local AWS endpoint's admin API (faults, request log, processor quota)."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, overload

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from types_boto3_iam import IAMClient
    from types_boto3_iot import IoTClient
    from types_boto3_kinesisvideo import KinesisVideoClient
    from types_boto3_rekognition import RekognitionClient
    from types_boto3_s3 import S3Client
    from types_boto3_service_quotas import ServiceQuotasClient
    from types_boto3_sns import SNSClient
    from types_boto3_sqs import SQSClient

    EndpointClient: TypeAlias = (
        IAMClient
        | IoTClient
        | KinesisVideoClient
        | RekognitionClient
        | S3Client
        | ServiceQuotasClient
        | SNSClient
        | SQSClient
    )

# The services the endpoint's tests call.
EndpointService = Literal[
    "iam", "iot", "kinesisvideo", "rekognition", "s3", "service-quotas", "sns", "sqs"
]


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


def set_processor_quota(endpoint: str, value: int) -> int:
    """Set the endpoint's Rekognition stream processor quota; returns the value now in force."""
    answer = _call(f"{endpoint}/_fleet/processor-quota", "PUT", {"value": value})
    return int(answer["processor_quota"])


def wait_broker_in_step(endpoint: str, timeout_s: float = 30.0) -> None:
    """The endpoint has brought the broker's ACL and shared-subscription guard up to date with
    the IoT registry (it does so asynchronously after each IoT change)."""
    deadline = time.monotonic() + timeout_s
    while True:
        sync = _call(f"{endpoint}/_fleet/health", "GET")["broker_sync"]
        if sync["shared_subscription_guard"] and not sync["pending"]:
            return
        assert time.monotonic() < deadline, f"the broker never got in step: {sync}"
        time.sleep(0.2)


def set_streaming_video(endpoint: str, available: bool) -> bool:
    """Open or close the account to Rekognition Streaming Video (new stream processors)."""
    answer = _call(f"{endpoint}/_fleet/streaming-video", "PUT", {"available": available})
    return bool(answer["streaming_video_available"])


@overload
def endpoint_client(
    endpoint: str, service: Literal["iam"], region: str = ..., **config: Any
) -> IAMClient: ...
@overload
def endpoint_client(
    endpoint: str, service: Literal["iot"], region: str = ..., **config: Any
) -> IoTClient: ...
@overload
def endpoint_client(
    endpoint: str, service: Literal["kinesisvideo"], region: str = ..., **config: Any
) -> KinesisVideoClient: ...
@overload
def endpoint_client(
    endpoint: str, service: Literal["rekognition"], region: str = ..., **config: Any
) -> RekognitionClient: ...
@overload
def endpoint_client(
    endpoint: str, service: Literal["s3"], region: str = ..., **config: Any
) -> S3Client: ...
@overload
def endpoint_client(
    endpoint: str, service: Literal["service-quotas"], region: str = ..., **config: Any
) -> ServiceQuotasClient: ...
@overload
def endpoint_client(
    endpoint: str, service: Literal["sns"], region: str = ..., **config: Any
) -> SNSClient: ...
@overload
def endpoint_client(
    endpoint: str, service: Literal["sqs"], region: str = ..., **config: Any
) -> SQSClient: ...
@overload
def endpoint_client(
    endpoint: str, service: EndpointService, region: str = ..., **config: Any
) -> EndpointClient: ...
def endpoint_client(
    endpoint: str, service: EndpointService, region: str = "us-east-1", **config: Any
) -> EndpointClient:
    """A typed boto3 client of the local endpoint (any credentials do); `config`: botocore
    Config. A service name only known at run time gives the union of the clients."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(**config) if config else None,
    )
