from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from cloud.errors import (
    AccessDeniedError,
    ConflictError,
    FleetError,
    NotFoundError,
    QuotaExceededError,
    RetryableError,
    UnavailableError,
    aws_call,
    is_retryable,
    translate,
)
from cloud.models import BoundingBox, Label, Point, ProcessorWiring, RegionOfInterest
from cloud.rekognition import record_from_response, regions_request, wiring_differences

if TYPE_CHECKING:
    from types_boto3_rekognition.type_defs import DescribeStreamProcessorResponseTypeDef

# DescribeStreamProcessor's documented response shape for a ConnectedHome processor.
DESCRIBED: DescribeStreamProcessorResponseTypeDef = {
    "Name": "camfleet-cam1",
    "StreamProcessorArn": "arn:aws:rekognition:us-east-1:123456789012:streamprocessor/camfleet-cam1",
    "Status": "STOPPED",
    "StatusMessage": "",
    "CreationTimestamp": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    "LastUpdateTimestamp": datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC),
    "KmsKeyId": "",
    "DataSharingPreference": {"OptIn": False},
    "Input": {
        "KinesisVideoStream": {"Arn": "arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam1/1"}
    },
    "Output": {"S3Destination": {"Bucket": "b", "KeyPrefix": "cameras/cam1"}},
    "RoleArn": "arn:aws:iam::123456789012:role/camfleet-rekognition-cam1",
    "Settings": {"ConnectedHome": {"Labels": ["PERSON", "PET"], "MinConfidence": 80.0}},
    "NotificationChannel": {"SNSTopicArn": "arn:aws:sns:us-east-1:123456789012:t"},
    "RegionsOfInterest": [
        {"BoundingBox": {"Left": 0.1, "Top": 0.2, "Width": 0.3, "Height": 0.4}},
        {"Polygon": [{"X": 0.0, "Y": 0.0}, {"X": 1.0, "Y": 0.0}, {"X": 1.0, "Y": 1.0}]},
    ],
    "ResponseMetadata": {
        "RequestId": "6f5a3d1e-0000-4000-8000-000000000001",
        "HTTPStatusCode": 200,
        "HTTPHeaders": {},
        "RetryAttempts": 0,
    },
}


def test_record_round_trips_regions() -> None:
    record = record_from_response(DESCRIBED)
    assert record.settings.labels == {Label.PERSON, Label.PET}
    assert regions_request(record.settings.regions_of_interest) == DESCRIBED["RegionsOfInterest"]
    assert record.wiring.key_prefix == "cameras/cam1"


def test_wiring_differences_name_each_fixed_setting() -> None:
    current = record_from_response(DESCRIBED).wiring
    desired = ProcessorWiring(
        **{**current.model_dump(), "bucket": "other", "role_arn": current.role_arn}
    )
    [difference] = wiring_differences(current, desired)
    assert difference.startswith("output S3 bucket is 'b', wanted 'other'")
    assert wiring_differences(current, current) == []


def test_regions_request_shapes() -> None:
    regions = (
        RegionOfInterest(box=BoundingBox(left=0, top=0, width=1, height=1)),
        RegionOfInterest(polygon=(Point(x=0, y=0), Point(x=1, y=0), Point(x=0, y=1))),
    )
    out = regions_request(regions)
    assert out[0] == {"BoundingBox": {"Left": 0, "Top": 0, "Width": 1, "Height": 1}}
    assert out[1]["Polygon"][1] == {"X": 1, "Y": 0}


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "Op")


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("ResourceNotFoundException", NotFoundError),
        ("NoSuchEntity", NotFoundError),
        ("ResourceInUseException", ConflictError),
        ("ThrottlingException", RetryableError),
        ("ProvisionedThroughputExceededException", RetryableError),
        ("LimitExceededException", QuotaExceededError),
        ("AccessDeniedException", AccessDeniedError),
    ],
)
def test_error_codes_translate_once(code: str, kind: type) -> None:
    err = translate(_client_error(code), "create thing cam1")
    assert isinstance(err, kind)
    assert str(err).startswith(f"create thing cam1: {code}")
    assert is_retryable(err) is (kind is RetryableError)


@pytest.mark.parametrize(
    ("reasons", "kind"),
    [
        (["ConditionalCheckFailed", "None"], ConflictError),
        (["None", "TransactionConflict"], RetryableError),
        (["ValidationError"], FleetError),
    ],
)
def test_a_cancelled_transaction_translates_by_its_cancellation_reasons(
    reasons: list[str], kind: type
) -> None:
    # TransactWriteItems' documented error: one reason per action, "None" for those that passed.
    err = ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": code} for code in reasons],
        },
        "TransactWriteItems",
    )
    translated = translate(err, "store session s1")
    assert type(translated) is kind


@pytest.mark.parametrize(
    ("raised", "kind", "text"),
    [
        (
            EndpointConnectionError(endpoint_url="http://127.0.0.1:5055/"),
            UnavailableError,
            "cannot reach AWS",
        ),
        (NoCredentialsError(), UnavailableError, "no AWS credentials"),
    ],
)
def test_transport_and_credential_errors_become_one_clear_error(
    raised: Exception, kind: type, text: str
) -> None:
    with pytest.raises(kind, match=f"list things: {text}"), aws_call("list things"):
        raise raised
