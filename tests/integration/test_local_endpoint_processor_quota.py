"""The admin API's processor quota: what Service Quotas reports and CreateStreamProcessor enforces."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stack.endpoint.server import LocalEndpoint, start_local_endpoint
from stack.endpoint.servicequotas.models import STREAM_PROCESSOR_QUOTA_CODE
from tests.support.endpoint_admin import endpoint_client, set_processor_quota

ACCOUNT = "123456789012"


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[LocalEndpoint]:
    """An endpoint of its own: its Rekognition state and quota are no other test's."""
    with start_local_endpoint(tmp_path / "aws", processor_quota=1) as started:
        yield started


def _create(endpoint: LocalEndpoint) -> None:
    name = f"quota-{uuid.uuid4().hex[:8]}"
    stream_arn = endpoint_client(endpoint.url, "kinesisvideo").create_stream(StreamName=name)[
        "StreamARN"
    ]
    endpoint_client(endpoint.url, "rekognition").create_stream_processor(
        Name=name,
        Input={"KinesisVideoStream": {"Arn": stream_arn}},
        Output={"S3Destination": {"Bucket": "fleet-frames", "KeyPrefix": "frames"}},
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/fleet-rekognition-{name}",
        Settings={"ConnectedHome": {"Labels": ["PERSON"], "MinConfidence": 60}},
        NotificationChannel={"SNSTopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:fleet-{name}"},
    )


def _refused(endpoint: LocalEndpoint) -> str:
    with pytest.raises(ClientError) as excinfo:
        _create(endpoint)
    return str(excinfo.value.response["Error"]["Code"])


def _reported(endpoint: LocalEndpoint) -> float:
    quotas: Any = endpoint_client(endpoint.url, "service-quotas")
    answer = quotas.get_service_quota(
        ServiceCode="rekognition", QuotaCode=STREAM_PROCESSOR_QUOTA_CODE
    )
    return float(answer["Quota"]["Value"])


def test_a_raised_quota_is_reported_and_lets_more_processors_in(endpoint: LocalEndpoint) -> None:
    _create(endpoint)
    assert _refused(endpoint) == "LimitExceededException"

    assert set_processor_quota(endpoint.url, 3) == 3

    assert _reported(endpoint) == 3.0
    _create(endpoint)
    _create(endpoint)
    assert _refused(endpoint) == "LimitExceededException"


def test_a_quota_below_what_is_in_use_refuses_every_new_processor(
    endpoint: LocalEndpoint,
) -> None:
    set_processor_quota(endpoint.url, 2)
    _create(endpoint)
    _create(endpoint)

    set_processor_quota(endpoint.url, 1)

    assert _reported(endpoint) == 1.0
    assert _refused(endpoint) == "LimitExceededException"
    listed = endpoint_client(endpoint.url, "rekognition").list_stream_processors()
    assert len(listed["StreamProcessors"]) == 2  # the processors in use stay


@pytest.mark.parametrize("body", [{"value": -1}, {"value": "many"}, {"value": 2, "extra": 1}, {}])
def test_a_malformed_setting_is_refused_and_changes_nothing(
    endpoint: LocalEndpoint, body: dict[str, Any]
) -> None:
    request = urllib.request.Request(
        f"{endpoint.url}/_fleet/processor-quota", data=json.dumps(body).encode(), method="PUT"
    )
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=10)
    assert excinfo.value.code == 400
    assert _reported(endpoint) == 1.0
