"""Rekognition's face APIs on the local endpoint, through boto3: real faces, real matches.

The photographs are ``tests/support/faces.py``'s: person A (the astronaut), A mirrored, turned,
darkened and recompressed, person B (the cameraman), both on one photo, and a cup.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import pytest
from botocore.exceptions import ClientError

from stack.endpoint.server import LocalEndpoint
from tests.support import faces as photos
from tests.support.endpoint_admin import endpoint_client

if TYPE_CHECKING:
    from types_boto3_rekognition import RekognitionClient
    from types_boto3_rekognition.type_defs import ImageTypeDef

REGION = "us-east-1"


def code_of(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


@pytest.fixture
def rekognition(local_endpoint: LocalEndpoint) -> RekognitionClient:
    return endpoint_client(local_endpoint.url, "rekognition", region=REGION)


@pytest.fixture
def collection(rekognition: RekognitionClient) -> str:
    collection_id = f"faces-{uuid.uuid4().hex[:8]}"
    rekognition.create_collection(CollectionId=collection_id)
    return collection_id


def face_count(rekognition: RekognitionClient, collection_id: str) -> int:
    return rekognition.describe_collection(CollectionId=collection_id)["FaceCount"]


def test_a_person_is_found_again_in_another_photo(
    rekognition: RekognitionClient, collection: str
) -> None:
    indexed = rekognition.index_faces(
        CollectionId=collection, Image={"Bytes": photos.person_a()}, ExternalImageId="person-a"
    )
    assert indexed["FaceModelVersion"] == "7.0"
    assert indexed["UnindexedFaces"] == []
    [record] = indexed["FaceRecords"]
    face = record["Face"]
    uuid.UUID(face["FaceId"])
    uuid.UUID(face["ImageId"])
    assert face["ExternalImageId"] == "person-a"
    assert face["IndexFacesModelVersion"] == "7.0"
    assert face["Confidence"] > 99
    box = face["BoundingBox"]
    assert 0.3 < box["Left"] < 0.4 and 0.1 < box["Top"] < 0.2  # her face, not her badge
    detail = record["FaceDetail"]
    assert detail["BoundingBox"] == box
    assert [m["Type"] for m in detail["Landmarks"]] == [
        "eyeLeft",
        "eyeRight",
        "mouthLeft",
        "mouthRight",
        "nose",
    ]
    assert set(detail["Pose"]) == {"Roll", "Yaw", "Pitch"}
    assert set(detail["Quality"]) == {"Brightness", "Sharpness"}
    assert face_count(rekognition, collection) == 1

    found = rekognition.search_faces_by_image(
        CollectionId=collection, Image={"Bytes": photos.person_a_transformed()}
    )
    [match] = found["FaceMatches"]
    assert match["Face"]["FaceId"] == face["FaceId"]
    assert match["Face"]["ExternalImageId"] == "person-a"
    assert match["Similarity"] > 95
    assert found["SearchedFaceConfidence"] > 99
    assert 0.4 < found["SearchedFaceBoundingBox"]["Left"] < 0.5  # mirrored: her face moved right
    assert found["FaceModelVersion"] == "7.0"

    other = rekognition.search_faces_by_image(
        CollectionId=collection, Image={"Bytes": photos.person_b()}
    )
    assert other["FaceMatches"] == []
    assert other["SearchedFaceConfidence"] > 90
    low = rekognition.search_faces_by_image(
        CollectionId=collection, Image={"Bytes": photos.person_b()}, FaceMatchThreshold=0
    )
    [unlike] = low["FaceMatches"]
    assert unlike["Similarity"] < 50


def test_two_faces_max_faces_and_threshold(rekognition: RekognitionClient, collection: str) -> None:
    one = rekognition.index_faces(
        CollectionId=collection, Image={"Bytes": photos.two_faces()}, MaxFaces=1
    )
    [record] = one["FaceRecords"]
    [unindexed] = one["UnindexedFaces"]
    assert unindexed["Reasons"] == ["EXCEEDS_MAX_FACES"]
    assert (
        record["Face"]["BoundingBox"]["Left"] < 0.5 < unindexed["FaceDetail"]["BoundingBox"]["Left"]
    )
    assert face_count(rekognition, collection) == 1

    both = rekognition.index_faces(CollectionId=collection, Image={"Bytes": photos.two_faces()})
    assert len(both["FaceRecords"]) == 2
    assert both["UnindexedFaces"] == []
    widths = [r["Face"]["BoundingBox"]["Width"] for r in both["FaceRecords"]]
    assert widths == sorted(widths, reverse=True)
    assert len({r["Face"]["ImageId"] for r in both["FaceRecords"]}) == 1
    rekognition.index_faces(CollectionId=collection, Image={"Bytes": photos.person_a()})
    assert face_count(rekognition, collection) == 4  # A three times (no ExternalImageId), B once

    def similarities(**options: Any) -> list[float]:
        found = rekognition.search_faces_by_image(
            CollectionId=collection, Image={"Bytes": photos.person_a_transformed()}, **options
        )
        return [m["Similarity"] for m in found["FaceMatches"]]

    assert len(similarities()) == 3
    everyone = similarities(FaceMatchThreshold=0)
    assert len(everyone) == 4
    assert everyone == sorted(everyone, reverse=True)
    assert everyone[-1] < 50
    assert len(similarities(MaxFaces=2)) == 2
    assert similarities(FaceMatchThreshold=100) == []


def test_no_face_where_one_is_needed(rekognition: RekognitionClient, collection: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        rekognition.search_faces_by_image(
            CollectionId=collection, Image={"Bytes": photos.no_face()}
        )
    assert code_of(excinfo) == "InvalidParameterException"
    assert excinfo.value.response["Error"]["Message"] == (
        "There are no faces in the image. Should be at least 1."
    )
    indexed = rekognition.index_faces(CollectionId=collection, Image={"Bytes": photos.no_face()})
    assert (indexed["FaceRecords"], indexed["UnindexedFaces"]) == ([], [])
    assert rekognition.detect_faces(Image={"Bytes": photos.no_face()})["FaceDetails"] == []


def test_delete_faces_and_search_finds_nothing(
    rekognition: RekognitionClient, collection: str
) -> None:
    indexed = rekognition.index_faces(CollectionId=collection, Image={"Bytes": photos.person_a()})
    face_id = indexed["FaceRecords"][0]["Face"]["FaceId"]
    unknown = str(uuid.uuid4())
    deleted = rekognition.delete_faces(CollectionId=collection, FaceIds=[face_id, unknown])
    assert deleted["DeletedFaces"] == [face_id]
    assert deleted["UnsuccessfulFaceDeletions"] == [
        {"FaceId": unknown, "Reasons": ["FACE_NOT_FOUND"]}
    ]
    assert face_count(rekognition, collection) == 0
    assert rekognition.list_faces(CollectionId=collection)["Faces"] == []
    found = rekognition.search_faces_by_image(
        CollectionId=collection, Image={"Bytes": photos.person_a_transformed()}
    )
    assert found["FaceMatches"] == []


def test_the_same_image_and_external_id_adds_no_duplicate(
    rekognition: RekognitionClient, collection: str
) -> None:
    def index(**options: Any) -> list[str]:
        answer = rekognition.index_faces(
            CollectionId=collection, Image={"Bytes": photos.two_faces()}, **options
        )
        return [r["Face"]["FaceId"] for r in answer["FaceRecords"]]

    first = index(ExternalImageId="door:2026-01-01T10.00")
    assert index(ExternalImageId="door:2026-01-01T10.00") == first
    assert face_count(rekognition, collection) == 2
    assert not set(index(ExternalImageId="door-again")) & set(first)
    assert face_count(rekognition, collection) == 4


def test_list_and_search_by_face_id(rekognition: RekognitionClient, collection: str) -> None:
    rekognition.index_faces(CollectionId=collection, Image={"Bytes": photos.two_faces()})
    indexed = rekognition.index_faces(
        CollectionId=collection, Image={"Bytes": photos.person_a()}, ExternalImageId="a"
    )
    a_id = indexed["FaceRecords"][0]["Face"]["FaceId"]
    first = rekognition.list_faces(CollectionId=collection, MaxResults=2)
    rest = rekognition.list_faces(CollectionId=collection, NextToken=first["NextToken"])
    listed = [f["FaceId"] for f in first["Faces"] + rest["Faces"]]
    assert listed == sorted(listed) and len(listed) == 3
    assert "NextToken" not in rest
    assert first["FaceModelVersion"] == "7.0"
    only = rekognition.list_faces(CollectionId=collection, FaceIds=[a_id, str(uuid.uuid4())])
    assert [f["ExternalImageId"] for f in only["Faces"]] == ["a"]

    found = rekognition.search_faces(CollectionId=collection, FaceId=a_id)
    assert found["SearchedFaceId"] == a_id
    [match] = found["FaceMatches"]  # the A of the two-face photo; B is no match, A not itself
    assert match["Face"]["FaceId"] != a_id
    assert match["Similarity"] > 95
    with pytest.raises(ClientError) as excinfo:
        rekognition.search_faces(CollectionId=collection, FaceId=str(uuid.uuid4()))
    assert code_of(excinfo) == "InvalidParameterException"


def small(jpeg: bytes, side: int) -> bytes:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    ok, data = cv2.imencode(".png", cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA))
    assert ok
    return data.tobytes()


def test_quality_filter_decides_what_is_indexed(
    rekognition: RekognitionClient, collection: str
) -> None:
    tiny_face = small(photos.person_a(), 200)  # her face is about 36 pixels wide
    refused = rekognition.index_faces(CollectionId=collection, Image={"Bytes": tiny_face})
    assert refused["FaceRecords"] == []
    [unindexed] = refused["UnindexedFaces"]
    assert unindexed["Reasons"] == ["SMALL_BOUNDING_BOX"]
    taken = rekognition.index_faces(
        CollectionId=collection, Image={"Bytes": tiny_face}, QualityFilter="NONE"
    )
    assert len(taken["FaceRecords"]) == 1
    with pytest.raises(ClientError) as excinfo:
        rekognition.search_faces_by_image(
            CollectionId=collection, Image={"Bytes": tiny_face}, QualityFilter="HIGH"
        )
    assert code_of(excinfo) == "InvalidParameterException"


def test_detect_faces_default_and_all(rekognition: RekognitionClient) -> None:
    default = rekognition.detect_faces(Image={"Bytes": photos.two_faces()})["FaceDetails"]
    assert len(default) == 2
    assert all(len(d["Landmarks"]) == 5 and "EyesOpen" not in d for d in default)
    every = rekognition.detect_faces(Image={"Bytes": photos.two_faces()}, Attributes=["ALL"])
    for detail in every["FaceDetails"]:
        assert len(detail["Landmarks"]) == 30
        assert detail["EyesOpen"]["Value"] is True
        assert set(detail["MouthOpen"]) == {"Value", "Confidence"}
        assert "AgeRange" not in detail and "Emotions" not in detail
    with pytest.raises(ClientError) as excinfo:
        rekognition.detect_faces(Image={"Bytes": photos.two_faces()}, Attributes=["AGE_RANGE"])
    assert code_of(excinfo) == "InvalidParameterException"


def test_an_image_in_s3(local_endpoint: LocalEndpoint, collection: str) -> None:
    s3 = endpoint_client(local_endpoint.url, "s3", region=REGION)
    bucket = f"faces-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="people/a.jpg", Body=photos.person_a())
    rekognition = endpoint_client(local_endpoint.url, "rekognition", region=REGION)
    indexed = rekognition.index_faces(
        CollectionId=collection, Image={"S3Object": {"Bucket": bucket, "Name": "people/a.jpg"}}
    )
    assert len(indexed["FaceRecords"]) == 1
    with pytest.raises(ClientError) as excinfo:
        rekognition.detect_faces(Image={"S3Object": {"Bucket": bucket, "Name": "people/b.jpg"}})
    assert code_of(excinfo) == "InvalidS3ObjectException"


def test_requests_refused_as_aws_refuses_them(
    rekognition: RekognitionClient, collection: str
) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    image: ImageTypeDef = {"Bytes": photos.person_a()}
    calls: dict[str, Callable[[], object]] = {
        "IndexFaces": lambda: rekognition.index_faces(CollectionId=missing, Image=image),
        "SearchFacesByImage": lambda: rekognition.search_faces_by_image(
            CollectionId=missing, Image=image
        ),
        "ListFaces": lambda: rekognition.list_faces(CollectionId=missing),
        "DeleteFaces": lambda: rekognition.delete_faces(
            CollectionId=missing, FaceIds=[str(uuid.uuid4())]
        ),
        "SearchFaces": lambda: rekognition.search_faces(
            CollectionId=missing, FaceId=str(uuid.uuid4())
        ),
    }
    for operation, call in calls.items():
        with pytest.raises(ClientError) as excinfo:
            call()
        assert code_of(excinfo) == "ResourceNotFoundException", operation

    for external_image_id in ("front door", "x" * 256):
        with pytest.raises(ClientError) as excinfo:
            rekognition.index_faces(
                CollectionId=collection, Image=image, ExternalImageId=external_image_id
            )
        assert code_of(excinfo) == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        rekognition.search_faces_by_image(CollectionId=collection, Image=image, MaxFaces=5000)
    assert code_of(excinfo) == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        rekognition.index_faces(CollectionId=collection, Image={"Bytes": b"not an image"})
    assert code_of(excinfo) == "InvalidImageFormatException"
    with pytest.raises(ClientError) as excinfo:
        big = photos.person_a() + b"\0" * (5 * 1024 * 1024)
        rekognition.detect_faces(Image={"Bytes": big})
    assert code_of(excinfo) == "ImageTooLargeException"
    assert face_count(rekognition, collection) == 0
