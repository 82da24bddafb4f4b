"""DetectLabels on the local endpoint: image checks, request parsing, the labels answered."""

from __future__ import annotations

import io
from typing import Any

import botocore.session
import cv2
import numpy as np
import pytest
from PIL import Image as PilImage

from stack.endpoint.exceptions import (
    ImageTooLargeException,
    InvalidImageFormatException,
    InvalidParameterException,
)
from stack.endpoint.rekognition.detection import Detection, Label
from stack.endpoint.rekognition.image_analysis import DetectLabelsRequest, parse_detect_labels
from stack.endpoint.rekognition.image_input import (
    MAX_BYTES,
    check_dimensions,
    decode_image,
    image_size,
)
from stack.endpoint.rekognition.labels import GeneralLabelsSettings, labels_of
from stack.endpoint.rekognition.notifications import Box


def encoded(width: int, height: int, ext: str = ".png") -> bytes:
    ok, data = cv2.imencode(ext, np.full((height, width, 3), 128, np.uint8))
    assert ok
    return data.tobytes()


def person(confidence: float, left: float = 0.1) -> Detection:
    return Detection(Label.PERSON, confidence, Box(left, 0.2, 0.3, 0.5))


def test_jpeg_and_png_decode() -> None:
    assert decode_image(encoded(120, 90, ".jpg")).shape == (90, 120, 3)
    assert decode_image(encoded(80, 80, ".png")).shape == (80, 80, 3)


@pytest.mark.parametrize("image_format", ["GIF", "BMP", "WEBP", "TIFF"])
def test_other_formats_are_invalid(image_format: str) -> None:
    out = io.BytesIO()
    PilImage.new("RGB", (120, 120)).save(out, format=image_format)
    with pytest.raises(InvalidImageFormatException) as excinfo:
        decode_image(out.getvalue())
    assert excinfo.value.message == "Request has invalid image format"


def test_bytes_that_are_no_image_are_invalid() -> None:
    with pytest.raises(InvalidImageFormatException):
        decode_image(b"\xff\xd8\xff but then nothing")
    with pytest.raises(InvalidImageFormatException):
        decode_image(b"")


@pytest.mark.parametrize(("width", "height"), [(79, 200), (200, 79), (10, 10)])
def test_an_image_under_80_pixels_on_a_side_is_an_invalid_parameter(
    width: int, height: int
) -> None:
    with pytest.raises(InvalidParameterException) as excinfo:
        decode_image(encoded(width, height))
    assert excinfo.value.message == "Request has invalid parameters"


def test_over_10000_pixels_on_a_side_is_too_large() -> None:
    with pytest.raises(ImageTooLargeException) as excinfo:
        check_dimensions(10_001, 400)
    assert "10001 x 400" in excinfo.value.message
    check_dimensions(10_000, 10_000)


def test_a_header_gives_the_size_without_decoding() -> None:
    assert image_size(encoded(321, 123, ".jpg")) == (321, 123)


def test_over_the_byte_limit_is_too_large() -> None:
    data = encoded(100, 100, ".png")
    padded = data + b"\0" * (MAX_BYTES - len(data) + 1)
    with pytest.raises(ImageTooLargeException):
        decode_image(padded)
    assert decode_image(padded, max_bytes=len(padded)).shape == (100, 100, 3)


def test_person_has_aws_taxonomy_and_one_instance_per_face() -> None:
    labels = labels_of([person(70, left=0.6), person(90)])
    assert labels == [
        {
            "Name": "Person",
            "Confidence": 90,
            "Instances": [
                {
                    "BoundingBox": {"Width": 0.3, "Height": 0.5, "Left": 0.1, "Top": 0.2},
                    "Confidence": 90,
                },
                {
                    "BoundingBox": {"Width": 0.3, "Height": 0.5, "Left": 0.6, "Top": 0.2},
                    "Confidence": 70,
                },
            ],
            "Parents": [],
            "Aliases": [{"Name": "Human"}],
            "Categories": [{"Name": "Person Description"}],
        }
    ]


def test_min_confidence_defaults_to_55_and_drops_instances_below_it() -> None:
    assert labels_of([person(54.9)]) == []
    assert [len(x["Instances"]) for x in labels_of([person(56), person(54)])] == [1]
    assert labels_of([person(80)], min_confidence=85) == []


def test_detections_of_labels_aws_answers_otherwise_are_not_reported() -> None:
    assert labels_of([Detection(Label.PET, 99, Box(0, 0, 1, 1))]) == []


def settings(**filters: list[str]) -> GeneralLabelsSettings:
    return GeneralLabelsSettings.model_validate(filters)


@pytest.mark.parametrize(
    ("filters", "reported"),
    [
        ({}, True),
        ({"LabelInclusionFilters": ["Person"]}, True),
        ({"LabelInclusionFilters": ["Dog", "Package"]}, False),
        ({"LabelExclusionFilters": ["Person"]}, False),
        ({"LabelCategoryInclusionFilters": ["Person Description"]}, True),
        ({"LabelCategoryInclusionFilters": ["Animals and Pets"]}, False),
        ({"LabelCategoryExclusionFilters": ["Person Description"]}, False),
    ],
)
def test_label_filters(filters: dict[str, list[str]], reported: bool) -> None:
    assert bool(labels_of([person(90)], settings=settings(**filters))) is reported


def test_max_labels() -> None:
    assert labels_of([person(90)], max_labels=0) == []
    assert len(labels_of([person(90)], max_labels=1)) == 1


def body(**overrides: Any) -> dict[str, Any]:
    return {"Image": {"Bytes": "aGVsbG8="}, **overrides}


def test_a_request_is_parsed_with_defaults() -> None:
    request = parse_detect_labels(body())
    assert request.min_confidence == 55
    assert request.max_labels == 1000


@pytest.mark.parametrize(
    "overrides",
    [
        {"Image": {}},
        {"Image": {"Bytes": "aGVsbG8=", "S3Object": {"Bucket": "bkt", "Name": "a.jpg"}}},
        {"Features": ["IMAGE_PROPERTIES"]},
        {"Features": ["FACES"]},
        {"MinConfidence": 101},
    ],
)
def test_requests_refused_as_invalid_parameters(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameterException):
        parse_detect_labels(body(**overrides))


def test_the_request_model_has_every_member_of_the_api_model() -> None:
    model = botocore.session.get_session().get_service_model("rekognition")
    shape = model.operation_model("DetectLabels").input_shape
    assert shape is not None
    members = set(shape.members)
    assert {f.alias for f in DetectLabelsRequest.model_fields.values()} == members
