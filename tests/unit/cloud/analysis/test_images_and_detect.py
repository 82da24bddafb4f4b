"""GetImages and DetectLabels calls as botocore checks them (Stubber: the request must have the
real API's shape), and their answers read into the analyzer's models."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from botocore.stub import Stubber

from cloud.analysis.detect import detect_labels
from cloud.analysis.images import ImageError, ImageFormat, StreamImages
from cloud.analysis.regions import Box
from cloud.clients import AwsClients
from cloud.errors import InvalidInputError, NotFoundError
from cloud.models import Label
from tests.support.kvs_stubs import DATA_ENDPOINT

STREAM_ARN = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/front-door/1719000000000"
START_MS = 1_719_089_000_000


def moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def images_request(start_ms: int, end_ms: int, **extra: object) -> dict[str, object]:
    return {
        "StreamARN": STREAM_ARN,
        "ImageSelectorType": "PRODUCER_TIMESTAMP",
        "StartTimestamp": moment(start_ms),
        "EndTimestamp": moment(end_ms),
        "SamplingInterval": 1000,
        "Format": "JPEG",
        "FormatConfig": {"JPEGQuality": "80"},
        "WidthPixels": 1280,
        "MaxResults": 25,
        **extra,
    }


def test_get_images_reads_every_page_and_asks_the_endpoint_once(
    clients: AwsClients, media_stubs: tuple[Stubber, Stubber]
) -> None:
    kvs, media = media_stubs
    kvs.add_response(
        "get_data_endpoint",
        {"DataEndpoint": DATA_ENDPOINT},
        {"StreamARN": STREAM_ARN, "APIName": "GET_IMAGES"},
    )
    jpeg = b"\xff\xd8\xff\xe0 a frame"
    media.add_response(
        "get_images",
        {
            "Images": [
                {"TimeStamp": moment(START_MS), "ImageContent": base64.b64encode(jpeg).decode()},
                {"TimeStamp": moment(START_MS + 1000), "Error": "MEDIA_ERROR"},
            ],
            "NextToken": "page-2",
        },
        images_request(START_MS, START_MS + 2000),
    )
    media.add_response(
        "get_images",
        {"Images": [{"TimeStamp": moment(START_MS + 2000), "Error": "NO_MEDIA"}]},
        images_request(START_MS, START_MS + 2000, NextToken="page-2"),
    )
    media.add_response(
        "get_images", {"Images": []}, images_request(START_MS + 3000, START_MS + 4000)
    )
    source = StreamImages(clients)
    found = source.get_images(STREAM_ARN, START_MS, START_MS + 2000, 1000, ImageFormat())
    assert [(i.timestamp_ms, i.content, i.error) for i in found] == [
        (START_MS, jpeg, None),
        (START_MS + 1000, None, ImageError.MEDIA_ERROR),
        (START_MS + 2000, None, ImageError.NO_MEDIA),
    ]
    assert (
        source.get_images(STREAM_ARN, START_MS + 3000, START_MS + 4000, 1000, ImageFormat()) == []
    )


def test_a_range_over_300_seconds_is_refused_before_any_call(clients: AwsClients) -> None:
    with pytest.raises(InvalidInputError):
        StreamImages(clients).get_images(
            STREAM_ARN, START_MS, START_MS + 300_001, 1000, ImageFormat()
        )


def test_a_missing_stream_is_not_found(
    clients: AwsClients, media_stubs: tuple[Stubber, Stubber]
) -> None:
    kvs, _ = media_stubs
    kvs.add_client_error(
        "get_data_endpoint", "ResourceNotFoundException", "The stream was not found."
    )
    with pytest.raises(NotFoundError):
        StreamImages(clients).get_images(STREAM_ARN, START_MS, START_MS + 1000, 1000, ImageFormat())


def test_detect_labels_asks_for_the_classes_names_and_reads_boxes_and_aliases(
    clients: AwsClients,
) -> None:
    with Stubber(clients.rekognition) as rekognition:
        rekognition.add_response(
            "detect_labels",
            {
                "Labels": [
                    {
                        "Name": "Person",
                        "Confidence": 98.5,
                        "Instances": [
                            {
                                "BoundingBox": {
                                    "Left": 0.1,
                                    "Top": 0.2,
                                    "Width": 0.3,
                                    "Height": 0.6,
                                },
                                "Confidence": 97.0,
                            }
                        ],
                        "Parents": [],
                        "Aliases": [{"Name": "Human"}],
                    },
                    {"Name": "Cardboard", "Confidence": 71.0, "Instances": []},
                ]
            },
            {
                "Image": {"Bytes": b"jpeg"},
                "MinConfidence": 60.0,
                "Features": ["GENERAL_LABELS"],
                "Settings": {
                    "GeneralLabels": {
                        "LabelInclusionFilters": [
                            "Box",
                            "Cardboard",
                            "Carton",
                            "Package",
                            "Person",
                        ]
                    }
                },
            },
        )
        found = detect_labels(clients, b"jpeg", {Label.PERSON, Label.PACKAGE}, 60.0)
        rekognition.assert_no_pending_responses()
    person, cardboard = found
    assert person.aliases == ("Human",)
    assert person.instances[0].box == Box(left=0.1, top=0.2, width=0.3, height=0.6)
    assert person.instances[0].confidence == 97.0
    assert cardboard.instances == ()


def test_detect_labels_refuses_an_image_over_5_mb(clients: AwsClients) -> None:
    with pytest.raises(InvalidInputError):
        detect_labels(clients, b"x" * (5 * 1024 * 1024 + 1), {Label.PERSON}, 50.0)
