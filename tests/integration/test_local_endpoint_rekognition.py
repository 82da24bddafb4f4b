"""Rekognition stream processors, collections and Service Quotas, over HTTP."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stack.endpoint.server import LocalEndpoint, start_local_endpoint
from stack.endpoint.servicequotas.models import STREAM_PROCESSOR_QUOTA_CODE
from tests.support.endpoint_admin import endpoint_client

ACCOUNT = "123456789012"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def processor_request(name: str, stream_arn: str, **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "Name": name,
        "Input": {"KinesisVideoStream": {"Arn": stream_arn}},
        "Output": {"S3Destination": {"Bucket": "fleet-frames", "KeyPrefix": "frames"}},
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/fleet-rekognition-{name}",
        "Settings": {"ConnectedHome": {"Labels": ["PERSON", "PACKAGE"], "MinConfidence": 60}},
        "NotificationChannel": {"SNSTopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:fleet-{name}"},
        "RegionsOfInterest": [{"BoundingBox": {"Width": 0.5, "Height": 0.5, "Left": 0, "Top": 0}}],
    }
    request.update(overrides)
    return request


def create_processor(endpoint: LocalEndpoint, name: str) -> str:
    stream_arn = endpoint_client(endpoint.url, "kinesisvideo").create_stream(
        StreamName=name, DataRetentionInHours=24
    )["StreamARN"]
    rekognition = endpoint_client(endpoint.url, "rekognition")
    return str(
        rekognition.create_stream_processor(**processor_request(name, stream_arn))[
            "StreamProcessorArn"
        ]
    )


def start(rekognition: Any, name: str, seconds: int = 1) -> str:
    response = rekognition.start_stream_processor(
        Name=name,
        StartSelector={"KVSStreamStartSelector": {"ProducerTimestamp": int(time.time() * 1000)}},
        StopSelector={"MaxDurationInSeconds": seconds},
    )
    return str(response["SessionId"])


def wait_status(rekognition: Any, name: str, status: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rekognition.describe_stream_processor(Name=name)["Status"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never reached {status}")


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def test_lifecycle_follows_the_label_detection_status_model(local_endpoint: LocalEndpoint) -> None:
    name = unique("cam")
    arn = create_processor(local_endpoint, name)
    rekognition = endpoint_client(local_endpoint.url, "rekognition")
    assert arn == f"arn:aws:rekognition:us-east-1:{ACCOUNT}:streamprocessor/{name}"
    described = rekognition.describe_stream_processor(Name=name)
    assert described["Status"] == "STOPPED"
    assert described["Settings"]["ConnectedHome"]["Labels"] == ["PERSON", "PACKAGE"]
    assert described["Output"]["S3Destination"]["Bucket"] == "fleet-frames"

    session_id = start(rekognition, name)
    assert uuid.UUID(session_id)
    assert rekognition.describe_stream_processor(Name=name)["Status"] == "STARTING"
    with pytest.raises(ClientError) as excinfo:
        start(rekognition, name)
    assert error_code(excinfo) == "ResourceInUseException"
    for call in (rekognition.delete_stream_processor, rekognition.update_stream_processor):
        with pytest.raises(ClientError) as excinfo:
            call(Name=name)
        assert error_code(excinfo) == "ResourceInUseException"
    wait_status(rekognition, name, "STOPPED")

    # LastUpdateTimestamp moves at every start and stop: it tells one session from the next.
    ended = rekognition.describe_stream_processor(Name=name)["LastUpdateTimestamp"]
    start(rekognition, name, seconds=120)
    running = rekognition.describe_stream_processor(Name=name)["LastUpdateTimestamp"]
    rekognition.stop_stream_processor(Name=name)
    stopped = rekognition.describe_stream_processor(Name=name)
    assert stopped["Status"] == "STOPPED"
    assert ended < running < stopped["LastUpdateTimestamp"]

    rekognition.update_stream_processor(
        Name=name,
        SettingsForUpdate={"ConnectedHomeForUpdate": {"Labels": ["PET"], "MinConfidence": 80}},
        ParametersToDelete=["RegionsOfInterest"],
    )
    updated = rekognition.describe_stream_processor(Name=name)
    assert updated["Settings"]["ConnectedHome"] == {"Labels": ["PET"], "MinConfidence": 80.0}
    assert "RegionsOfInterest" not in updated

    rekognition.delete_stream_processor(Name=name)
    with pytest.raises(ClientError) as excinfo:
        rekognition.describe_stream_processor(Name=name)
    assert error_code(excinfo) == "ResourceNotFoundException"


def test_create_validation_and_duplicates(local_endpoint: LocalEndpoint) -> None:
    name = unique("cam")
    create_processor(local_endpoint, name)
    rekognition = endpoint_client(local_endpoint.url, "rekognition")
    stream = f"arn:aws:kinesisvideo:us-east-1:{ACCOUNT}:stream/{name}/1"
    with pytest.raises(ClientError) as excinfo:
        rekognition.create_stream_processor(**processor_request(name, stream))
    assert error_code(excinfo) == "ResourceInUseException"

    invalid: list[dict[str, Any]] = [
        {"Settings": {"ConnectedHome": {"Labels": ["CAR"]}}},
        {"Settings": {"ConnectedHome": {"Labels": ["PERSON"], "MinConfidence": 101}}},
        {"NotificationChannel": None},
        {"Output": {"KinesisDataStream": {"Arn": f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/x"}}},
        {"RegionsOfInterest": [{"BoundingBox": {"Width": 0.1}}] * 11},
    ]
    for overrides in invalid:
        request = processor_request(unique("bad"), stream, **overrides)
        request = {key: value for key, value in request.items() if value is not None}
        with pytest.raises(ClientError) as excinfo:
            rekognition.create_stream_processor(**request)
        assert error_code(excinfo) == "InvalidParameterException", overrides


def test_start_needs_selectors_and_an_existing_stream(local_endpoint: LocalEndpoint) -> None:
    rekognition = endpoint_client(local_endpoint.url, "rekognition")
    name = unique("cam")
    ghost = f"arn:aws:kinesisvideo:us-east-1:{ACCOUNT}:stream/{name}/123"
    rekognition.create_stream_processor(**processor_request(name, ghost))
    with pytest.raises(ClientError) as excinfo:
        start(rekognition, name)
    assert error_code(excinfo) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        rekognition.start_stream_processor(
            Name=name,
            StartSelector={"KVSStreamStartSelector": {"FragmentNumber": "1"}},
            StopSelector={"MaxDurationInSeconds": 121},
        )
    assert error_code(excinfo) == "InvalidParameterException"
    assert rekognition.describe_stream_processor(Name=name)["Status"] == "STOPPED"


def test_list_paginates_and_tags_round_trip(local_endpoint: LocalEndpoint) -> None:
    rekognition = endpoint_client(local_endpoint.url, "rekognition", region="eu-west-1")
    kvs = endpoint_client(local_endpoint.url, "kinesisvideo", region="eu-west-1")
    names = sorted(unique("page") for _ in range(3))
    for name in names:
        stream_arn = kvs.create_stream(StreamName=name)["StreamARN"]
        rekognition.create_stream_processor(**processor_request(name, stream_arn))
    seen, token = [], None
    while True:
        kwargs: dict[str, Any] = {"MaxResults": 2, **({"NextToken": token} if token else {})}
        page = rekognition.list_stream_processors(**kwargs)
        assert len(page["StreamProcessors"]) <= 2
        seen += [p["Name"] for p in page["StreamProcessors"]]
        token = page.get("NextToken")
        if not token:
            break
    assert [n for n in seen if n in names] == names
    arn = rekognition.describe_stream_processor(Name=names[0])["StreamProcessorArn"]
    rekognition.tag_resource(ResourceArn=arn, Tags={"fleet": "home", "camera": names[0]})
    rekognition.untag_resource(ResourceArn=arn, TagKeys=["camera"])
    assert rekognition.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"fleet": "home"}


def test_collections(local_endpoint: LocalEndpoint) -> None:
    rekognition = endpoint_client(local_endpoint.url, "rekognition")
    collection_id = unique("faces")
    created = rekognition.create_collection(CollectionId=collection_id, Tags={"a": "b"})
    assert created["StatusCode"] == 200
    with pytest.raises(ClientError) as excinfo:
        rekognition.create_collection(CollectionId=collection_id)
    assert error_code(excinfo) == "ResourceAlreadyExistsException"
    described = rekognition.describe_collection(CollectionId=collection_id)
    assert described["FaceCount"] == 0
    assert rekognition.list_tags_for_resource(ResourceArn=described["CollectionARN"])["Tags"] == {
        "a": "b"
    }
    assert collection_id in rekognition.list_collections()["CollectionIds"]
    rekognition.delete_collection(CollectionId=collection_id)
    with pytest.raises(ClientError) as excinfo:
        rekognition.describe_collection(CollectionId=collection_id)
    assert error_code(excinfo) == "ResourceNotFoundException"


@pytest.fixture(scope="module")
def small_quota_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEndpoint]:
    state_dir: Path = tmp_path_factory.mktemp("quota")
    with start_local_endpoint(state_dir, processor_quota=2) as endpoint:
        yield endpoint


def test_processor_quota_is_enforced_and_reported(small_quota_endpoint: LocalEndpoint) -> None:
    for _ in range(2):
        create_processor(small_quota_endpoint, unique("quota"))
    with pytest.raises(ClientError) as excinfo:
        create_processor(small_quota_endpoint, unique("quota"))
    assert error_code(excinfo) == "LimitExceededException"

    quotas = endpoint_client(small_quota_endpoint.url, "service-quotas")
    quota = quotas.get_service_quota(
        ServiceCode="rekognition", QuotaCode=STREAM_PROCESSOR_QUOTA_CODE
    )
    assert quota["Quota"]["Value"] == 2.0
    listed = quotas.list_service_quotas(ServiceCode="rekognition")["Quotas"]
    defaults = quotas.list_aws_default_service_quotas(ServiceCode="rekognition")["Quotas"]
    assert [q["QuotaCode"] for q in listed] == [STREAM_PROCESSOR_QUOTA_CODE]
    assert defaults[0]["Value"] == 2.0
    with pytest.raises(ClientError) as excinfo:
        quotas.get_service_quota(ServiceCode="rekognition", QuotaCode="L-00000000")
    assert error_code(excinfo) == "NoSuchResourceException"
    vpc = quotas.get_service_quota(ServiceCode="vpc", QuotaCode="L-F678F1CE")  # moto's
    assert vpc["Quota"]["QuotaCode"] == "L-F678F1CE"
