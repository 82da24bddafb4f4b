"""Recognition of a detection's frame: the decision from the faces found and each face's search,
and the calls as botocore checks them (Stubber: every request has the real API's shape)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from PIL import Image

from cloud.clients import AwsClients
from cloud.faces.collection import FaceBox, FaceSearch
from cloud.faces.crop import MIN_SIDE, crop_box, face_crop
from cloud.faces.models import FaceStatus
from cloud.faces.recognition import MAX_FACES, decide, quiet_names, recognise_frame
from cloud.naming import FleetNames
from cloud.settings import FleetSettings

BUCKET, KEY = "camfleet-results", "cameras/porch/camfleet-porch/s1/PERSON-1/frame.jpg"
COLLECTION = "camfleet-faces"
BIG = FaceBox(left=0.1, top=0.1, width=0.3, height=0.4)
SMALL = FaceBox(left=0.6, top=0.2, width=0.1, height=0.1)


def _frame(width: int = 640, height: int = 480) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def clients(tmp_path: Path) -> AwsClients:
    return AwsClients(FleetSettings(home=tmp_path))


@pytest.fixture
def stubs(clients: AwsClients) -> Iterator[tuple[Stubber, Stubber]]:
    rekognition, s3 = Stubber(clients.rekognition), Stubber(clients.s3)
    with rekognition, s3:
        yield rekognition, s3
        rekognition.assert_no_pending_responses()
        s3.assert_no_pending_responses()


def _detect(stub: Stubber, *boxes: FaceBox) -> None:
    details = [
        {
            "BoundingBox": {"Left": b.left, "Top": b.top, "Width": b.width, "Height": b.height},
            "Confidence": 99.9,
        }
        for b in boxes
    ]
    stub.add_response(
        "detect_faces",
        {"FaceDetails": details},
        {"Image": {"S3Object": {"Bucket": BUCKET, "Name": KEY}}},
    )


def _get_frame(stub: Stubber, body: bytes) -> None:
    stub.add_response(
        "get_object",
        {"Body": StreamingBody(io.BytesIO(body), len(body)), "ContentLength": len(body)},
        {"Bucket": BUCKET, "Key": KEY},
    )


def _search(
    stub: Stubber,
    match: tuple[str, float] | None,
    threshold: float = 95.0,
    image: dict[str, Any] | None = None,
) -> None:
    answer: dict[str, Any] = {
        "SearchedFaceBoundingBox": {"Left": 0.25, "Top": 0.25, "Width": 0.5, "Height": 0.5},
        "SearchedFaceConfidence": 99.0,
        "FaceMatches": [],
    }
    if match is not None:
        answer["FaceMatches"] = [
            {
                "Similarity": match[1],
                "Face": {"FaceId": "f-" + match[0], "ExternalImageId": match[0]},
            }
        ]
    stub.add_response(
        "search_faces_by_image",
        answer,
        {
            "CollectionId": COLLECTION,
            "Image": image or {"Bytes": ANY},
            "MaxFaces": 1,
            "FaceMatchThreshold": threshold,
        },
    )


# The decision: pure.


def test_no_face_is_not_unknown() -> None:
    assert decide([], []).status is FaceStatus.NO_FACE
    assert decide([], []).faces == ()


@pytest.mark.parametrize(
    ("searches", "status", "names"),
    [
        ([FaceSearch(name="alice", similarity=99.2), FaceSearch()], FaceStatus.NAMED, ["alice"]),
        ([FaceSearch(), FaceSearch(name="bob", similarity=97.0)], FaceStatus.NAMED, ["bob"]),
        ([FaceSearch(), None], FaceStatus.UNKNOWN, []),
        ([None, None], FaceStatus.UNKNOWN, []),
        (
            [FaceSearch(name="alice", similarity=99.0), FaceSearch(name="bob", similarity=96.0)],
            FaceStatus.NAMED,
            ["alice", "bob"],
        ),
        # An ExternalImageId no fleet person could have (another tool's face): unknown.
        ([FaceSearch(name="Mallory:1", similarity=99.0), None], FaceStatus.UNKNOWN, []),
    ],
)
def test_any_match_names_the_frame_else_its_faces_are_unknown(
    searches: list[FaceSearch | None], status: FaceStatus, names: list[str]
) -> None:
    recognition = decide([BIG, SMALL], searches)
    assert recognition.status is status
    assert recognition.names == names
    assert [f.box for f in recognition.faces] == [BIG.as_tuple(), SMALL.as_tuple()]
    for face in recognition.faces:  # a similarity only where a name is
        assert (face.similarity is None) == (face.name is None)


# The calls.


def test_each_face_is_searched_largest_first_and_the_frame_read_once(
    clients: AwsClients, stubs: tuple[Stubber, Stubber]
) -> None:
    rekognition, s3 = stubs
    _detect(rekognition, SMALL, BIG)  # Rekognition's order is not by size
    _get_frame(s3, _frame())
    _search(rekognition, ("alice", 99.4), threshold=97.5)
    _search(rekognition, None, threshold=97.5)

    recognition = recognise_frame(clients, COLLECTION, BUCKET, KEY, 97.5)

    assert recognition.status is FaceStatus.NAMED
    assert [(f.name, f.similarity, f.box) for f in recognition.faces] == [
        ("alice", 99.4, BIG.as_tuple()),
        (None, None, SMALL.as_tuple()),
    ]


def test_a_frame_with_one_face_is_searched_in_place_without_reading_it(
    clients: AwsClients, stubs: tuple[Stubber, Stubber]
) -> None:
    rekognition, _ = stubs  # no GetObject is stubbed: a read would fail the recognition
    _detect(rekognition, BIG)
    _search(rekognition, ("alice", 99.1), image={"S3Object": {"Bucket": BUCKET, "Name": KEY}})

    recognition = recognise_frame(clients, COLLECTION, BUCKET, KEY, 95.0)

    assert recognition.status is FaceStatus.NAMED
    assert [(f.name, f.similarity, f.box) for f in recognition.faces] == [
        ("alice", 99.1, BIG.as_tuple())
    ]


def test_a_frame_without_faces_is_no_face_and_nothing_is_searched(
    clients: AwsClients, stubs: tuple[Stubber, Stubber]
) -> None:
    _detect(stubs[0])
    assert recognise_frame(clients, COLLECTION, BUCKET, KEY, 95.0).status is FaceStatus.NO_FACE


def test_at_most_ten_faces_are_searched(
    clients: AwsClients, stubs: tuple[Stubber, Stubber]
) -> None:
    rekognition, s3 = stubs
    boxes = [FaceBox(left=0.05 * i, top=0.1, width=0.04, height=0.04 + i / 1000) for i in range(12)]
    _detect(rekognition, *boxes)
    _get_frame(s3, _frame())
    for _ in range(MAX_FACES):
        _search(rekognition, None)

    recognition = recognise_frame(clients, COLLECTION, BUCKET, KEY, 95.0)

    assert recognition.status is FaceStatus.UNKNOWN
    assert len(recognition.faces) == MAX_FACES
    assert recognition.faces[0].box == boxes[-1].as_tuple()  # the largest


def test_without_a_collection_nobody_is_known(
    clients: AwsClients, stubs: tuple[Stubber, Stubber]
) -> None:
    rekognition, s3 = stubs
    _detect(rekognition, BIG, SMALL)
    _get_frame(s3, _frame())
    rekognition.add_client_error(
        "search_faces_by_image",
        "ResourceNotFoundException",
        "The collection id: camfleet-faces does not exist",
    )

    recognition = recognise_frame(clients, COLLECTION, BUCKET, KEY, 95.0)

    assert recognition.status is FaceStatus.UNKNOWN  # one search told: no more are made
    assert [f.name for f in recognition.faces] == [None, None]


def test_a_crop_rekognition_finds_no_face_in_is_unknown(
    clients: AwsClients, stubs: tuple[Stubber, Stubber]
) -> None:
    rekognition, s3 = stubs
    _detect(rekognition, BIG, SMALL)
    _get_frame(s3, _frame())
    rekognition.add_client_error(
        "search_faces_by_image",
        "InvalidParameterException",
        "There are no faces in the image. Should be at least 1.",
    )
    _search(rekognition, ("bob", 98.0))

    recognition = recognise_frame(clients, COLLECTION, BUCKET, KEY, 95.0)

    assert recognition.status is FaceStatus.NAMED
    assert [f.name for f in recognition.faces] == [None, "bob"]


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("detect_faces", "AccessDeniedException"),
        ("detect_faces", "InvalidS3ObjectException"),
        ("get_object", "NoSuchKey"),
        ("search_faces_by_image", "AccessDeniedException"),
    ],
)
def test_a_fault_of_the_apis_fails_the_recognition_with_its_reason_and_never_raises(
    clients: AwsClients, stubs: tuple[Stubber, Stubber], operation: str, code: str
) -> None:
    rekognition, s3 = stubs
    if operation == "detect_faces":
        rekognition.add_client_error(operation, code, "no")
    elif operation == "get_object":  # read when the frame has more than one face
        _detect(rekognition, BIG, SMALL)
        s3.add_client_error(operation, code, "no")
    else:
        _detect(rekognition, BIG)
        rekognition.add_client_error(operation, code, "no")

    recognition = recognise_frame(clients, COLLECTION, BUCKET, KEY, 95.0)

    assert recognition.status is FaceStatus.FAILED
    assert recognition.reason is not None and code in recognition.reason
    assert recognition.faces == ()


def test_a_frame_that_is_no_image_fails_the_recognition(
    clients: AwsClients, stubs: tuple[Stubber, Stubber]
) -> None:
    rekognition, s3 = stubs
    _detect(rekognition, BIG, SMALL)
    _get_frame(s3, b"not a jpeg")

    recognition = recognise_frame(clients, COLLECTION, BUCKET, KEY, 95.0)

    assert recognition.status is FaceStatus.FAILED
    assert "not an image" in (recognition.reason or "")


# The crop.


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        (FaceBox(left=0.25, top=0.25, width=0.5, height=0.5), (0, 0, 200, 100)),
        (FaceBox(left=0.4, top=0.4, width=0.2, height=0.2), (60, 30, 140, 70)),
        # A box reaching outside the frame (Rekognition answers those) stays inside it.
        (FaceBox(left=-0.1, top=0.9, width=0.3, height=0.3), (0, 75, 70, 100)),
        (FaceBox(left=1.2, top=1.2, width=0.1, height=0.1), (199, 99, 200, 100)),
    ],
)
def test_the_crop_grows_the_face_by_its_margin_inside_the_frame(
    box: FaceBox, expected: tuple[int, int, int, int]
) -> None:
    assert crop_box((200, 100), box, margin=0.5) == expected


def test_a_small_face_is_enlarged_for_the_search() -> None:
    crop = face_crop(_frame(640, 480), FaceBox(left=0.5, top=0.5, width=0.05, height=0.05))
    with Image.open(io.BytesIO(crop)) as image:
        assert image.format == "JPEG"
        assert min(image.size) >= MIN_SIDE


def test_quiet_names_come_from_the_records(
    clients: AwsClients, stubs: tuple[Stubber, Stubber]
) -> None:
    names = FleetNames("camfleet", "123456789012", "eu-west-1", results_bucket=BUCKET)
    _, s3 = stubs
    keys = [
        "faces/alice/person.json",
        "faces/alice/aa.jpg",
        "faces/bob/person.json",
        "faces/carol/cc.jpg",  # photos without a record: not read
    ]
    s3.add_response(
        "list_objects_v2",
        {"Contents": [{"Key": k} for k in keys], "IsTruncated": False},
        {"Bucket": BUCKET, "Prefix": "faces/"},
    )
    for name, quiet in (("alice", True), ("bob", False)):
        body = f'{{"name": "{name}", "quiet": {str(quiet).lower()}}}'.encode()
        s3.add_response(
            "get_object",
            {"Body": StreamingBody(io.BytesIO(body), len(body))},
            {"Bucket": BUCKET, "Key": f"faces/{name}/person.json"},
        )

    assert quiet_names(clients, names) == frozenset({"alice"})
