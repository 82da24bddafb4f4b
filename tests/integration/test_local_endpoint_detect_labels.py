"""Rekognition DetectLabels on the local endpoint: the local detector's answer in AWS's shape.

The images are frames of `stack/cameras/scenes.py`'s scenes (the astronaut portrait for a person,
a cup and a rocket for none), sent as bytes or from the endpoint's S3.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import cv2
import pytest
from botocore.exceptions import ClientError
from PIL import Image as PilImage

from stack.cameras.scenes import SceneKind, scene_frame
from stack.endpoint.server import LocalEndpoint
from tests.support.endpoint_admin import (
    clear_faults,
    endpoint_client,
    inject_fault,
    last_seq,
    requests_since,
)

REGION = "us-east-1"


def frame(kind: SceneKind, ext: str = ".jpg", size: tuple[int, int] = (640, 480)) -> bytes:
    ok, data = cv2.imencode(ext, scene_frame(kind, 0, size[0], size[1], 15))
    assert ok
    return data.tobytes()


def code_of(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def test_a_person_is_labelled_with_aws_label_and_boxes(local_endpoint: LocalEndpoint) -> None:
    answer = endpoint_client(local_endpoint.url, "rekognition").detect_labels(
        Image={"Bytes": frame(SceneKind.PERSON)}
    )
    assert answer["LabelModelVersion"] == "3.0"
    [label] = answer["Labels"]
    assert label["Name"] == "Person"
    assert label["Aliases"] == [{"Name": "Human"}]
    assert label["Categories"] == [{"Name": "Person Description"}]
    assert label["Parents"] == []
    assert 55 <= label["Confidence"] <= 100
    assert label["Instances"]
    assert label["Confidence"] == max(i["Confidence"] for i in label["Instances"])
    for instance in label["Instances"]:
        box = instance["BoundingBox"]
        assert 0 <= box["Left"] < box["Left"] + box["Width"] <= 1
        assert 0 <= box["Top"] < box["Top"] + box["Height"] <= 1


def test_png_works_as_jpeg_does(local_endpoint: LocalEndpoint) -> None:
    answer = endpoint_client(local_endpoint.url, "rekognition").detect_labels(
        Image={"Bytes": frame(SceneKind.PERSON, ".png")}
    )
    assert [label["Name"] for label in answer["Labels"]] == ["Person"]


def test_no_person_no_labels(local_endpoint: LocalEndpoint) -> None:
    answer = endpoint_client(local_endpoint.url, "rekognition").detect_labels(
        Image={"Bytes": frame(SceneKind.EMPTY)}
    )
    assert answer["Labels"] == []
    assert answer["LabelModelVersion"] == "3.0"


@pytest.mark.parametrize(
    ("options", "names"),
    [
        ({}, ["Person"]),
        ({"MinConfidence": 100}, []),
        ({"MaxLabels": 0}, []),
        ({"Settings": {"GeneralLabels": {"LabelInclusionFilters": ["Person"]}}}, ["Person"]),
        ({"Settings": {"GeneralLabels": {"LabelInclusionFilters": ["Dog", "Package"]}}}, []),
        ({"Settings": {"GeneralLabels": {"LabelExclusionFilters": ["Person"]}}}, []),
        ({"Features": ["GENERAL_LABELS"], "MaxLabels": 5}, ["Person"]),
    ],
)
def test_request_options(
    local_endpoint: LocalEndpoint, options: dict[str, Any], names: list[str]
) -> None:
    answer = endpoint_client(local_endpoint.url, "rekognition").detect_labels(
        Image={"Bytes": frame(SceneKind.PERSON)}, **options
    )
    assert [label["Name"] for label in answer["Labels"]] == names


def gif() -> bytes:
    out = io.BytesIO()
    PilImage.new("RGB", (200, 200)).save(out, format="GIF")
    return out.getvalue()


@pytest.mark.parametrize(
    ("image", "code", "message"),
    [
        (gif(), "InvalidImageFormatException", "Request has invalid image format"),
        (b"not an image at all", "InvalidImageFormatException", "Request has invalid image format"),
        (
            frame(SceneKind.PERSON, ".png", (79, 200)),
            "InvalidParameterException",
            "Request has invalid parameters",
        ),
        (
            frame(SceneKind.PERSON, ".png") + b"\0" * (5 * 1024 * 1024),
            "ImageTooLargeException",
            None,
        ),
    ],
)
def test_images_refused_as_aws_refuses_them(
    local_endpoint: LocalEndpoint, image: bytes, code: str, message: str | None
) -> None:
    with pytest.raises(ClientError) as excinfo:
        endpoint_client(local_endpoint.url, "rekognition").detect_labels(Image={"Bytes": image})
    assert code_of(excinfo) == code
    if message is not None:
        assert excinfo.value.response["Error"]["Message"] == message


def test_image_properties_are_refused_not_made_up(local_endpoint: LocalEndpoint) -> None:
    with pytest.raises(ClientError) as excinfo:
        endpoint_client(local_endpoint.url, "rekognition").detect_labels(
            Image={"Bytes": frame(SceneKind.PERSON)}, Features=["IMAGE_PROPERTIES"]
        )
    assert code_of(excinfo) == "InvalidParameterException"


def test_an_image_in_s3_is_read_from_the_endpoints_s3(local_endpoint: LocalEndpoint) -> None:
    s3 = endpoint_client(local_endpoint.url, "s3", region=REGION)
    bucket = f"frames-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="cam/1.jpg", Body=frame(SceneKind.PERSON))
    rekognition = endpoint_client(local_endpoint.url, "rekognition", region=REGION)
    answer = rekognition.detect_labels(Image={"S3Object": {"Bucket": bucket, "Name": "cam/1.jpg"}})
    assert [label["Name"] for label in answer["Labels"]] == ["Person"]
    with pytest.raises(ClientError) as excinfo:
        rekognition.detect_labels(Image={"S3Object": {"Bucket": bucket, "Name": "cam/2.jpg"}})
    assert code_of(excinfo) == "InvalidS3ObjectException"
    elsewhere = endpoint_client(local_endpoint.url, "rekognition", region="eu-west-1")
    with pytest.raises(ClientError) as excinfo:
        elsewhere.detect_labels(Image={"S3Object": {"Bucket": bucket, "Name": "cam/1.jpg"}})
    assert code_of(excinfo) == "InvalidS3ObjectException"


@pytest.mark.parametrize(
    "error_code", ["ThrottlingException", "ProvisionedThroughputExceededException"]
)
def test_injected_faults_apply_to_detect_labels(
    local_endpoint: LocalEndpoint, error_code: str
) -> None:
    url = local_endpoint.url
    rekognition = endpoint_client(url, "rekognition", retries={"total_max_attempts": 1})
    inject_fault(url, "rekognition", "DetectLabels", error_code)
    try:
        with pytest.raises(ClientError) as excinfo:
            rekognition.detect_labels(Image={"Bytes": frame(SceneKind.PERSON)})
        assert code_of(excinfo) == error_code
        answer = rekognition.detect_labels(Image={"Bytes": frame(SceneKind.PERSON)})  # count 1
    finally:
        clear_faults(url)
    assert [label["Name"] for label in answer["Labels"]] == ["Person"]


def test_the_request_log_keeps_the_options_not_the_image(local_endpoint: LocalEndpoint) -> None:
    url = local_endpoint.url
    since = last_seq(url)
    image = frame(SceneKind.EMPTY)
    endpoint_client(url, "rekognition").detect_labels(Image={"Bytes": image}, MinConfidence=70)
    [logged] = [r for r in requests_since(url, since) if r["operation"] == "DetectLabels"]
    assert logged["params"]["MinConfidence"] == 70
    assert len(json.dumps(logged["params"])) < 200
