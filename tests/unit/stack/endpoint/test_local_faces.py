"""The face APIs' pure parts: similarity, the collection's faces, quality bars, requests."""

from __future__ import annotations

import copy
import math
import pickle
from typing import Any

import numpy as np
import pytest

from stack.endpoint.exceptions import InvalidParameterException, ResourceNotFoundException
from stack.endpoint.rekognition import faces_collection, faces_requests, faces_search
from stack.endpoint.rekognition.faces import choose
from stack.endpoint.rekognition.faces_collection import IndexedFace
from stack.endpoint.rekognition.faces_detail import (
    FaceFacts,
    Pose,
    QualityFilter,
    Reason,
    landmarks,
    pose_of,
    reasons_against,
)
from stack.endpoint.rekognition.faces_model import FaceModelPool
from stack.endpoint.rekognition.faces_seen import SeenImages
from stack.endpoint.rekognition.models import Collection, RekognitionBackend

ACCOUNT, REGION = "123456789012", "us-east-1"
IMAGE = {"Bytes": "aW1hZ2U="}


def descriptor(*values: float) -> bytes:
    vector = np.zeros(faces_search.DESCRIPTOR_SIZE, dtype=np.float32)
    vector[: len(values)] = values
    return faces_search.encode(vector)


def face(face_id: str, *values: float, external: str | None = None) -> IndexedFace:
    return IndexedFace(face_id, "img", external, (0.1, 0.2, 0.3, 0.4), 99.0, descriptor(*values))


# -- similarity ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("distance", "low", "high"),
    [(0.0, 99.8, 100.0), (0.25, 98.9, 99.1), (0.6, 79.99, 80.01), (0.84, 30, 31), (1.2, 0, 2)],
)
def test_similarity_maps_dlib_distances_to_rekognition_percentages(
    distance: float, low: float, high: float
) -> None:
    assert low <= faces_search.similarity(distance) <= high


def test_similarity_falls_as_faces_grow_apart() -> None:
    values = [faces_search.similarity(d / 100) for d in range(0, 200, 5)]
    assert values == sorted(values, reverse=True)
    assert len(set(values)) == len(values)


def test_ranked_keeps_threshold_and_count_best_first() -> None:
    candidates = [("b", descriptor(0.5)), ("a", descriptor(0.2)), ("c", descriptor(0.9))]
    ranked = faces_search.ranked(descriptor(), candidates, threshold=0, max_faces=10)
    assert [face_id for face_id, _ in ranked] == ["a", "b", "c"]
    assert ranked[0][1] == pytest.approx(faces_search.similarity(0.2), abs=1e-4)
    assert [i for i, _ in faces_search.ranked(descriptor(), candidates, 80, 10)] == ["a", "b"]
    assert [i for i, _ in faces_search.ranked(descriptor(), candidates, 0, 1)] == ["a"]
    assert faces_search.ranked(descriptor(), [], 0, 5) == []


def test_a_descriptor_must_have_128_values() -> None:
    with pytest.raises(ValueError, match="128"):
        faces_search.encode(np.zeros(127, dtype=np.float32))
    stored = descriptor(0.25, -1.5)
    assert faces_search.decode(stored)[:3].tolist() == [0.25, -1.5, 0.0]


# -- the collection's faces -------------------------------------------------------


def test_a_face_already_held_is_kept_not_duplicated() -> None:
    faces: dict[str, IndexedFace] = {}
    first = faces_collection.add_faces(faces, [face("f1", 0.1, external="x")])
    again = faces_collection.add_faces(faces, [face("f1", 0.7, external="x"), face("f2", 0.3)])
    assert again[0] is first[0]
    assert sorted(faces) == ["f1", "f2"]


def test_ids_are_stable_for_the_same_image_and_external_id() -> None:
    image_id = faces_collection.image_id_of(b"jpeg bytes")
    assert image_id == faces_collection.image_id_of(b"jpeg bytes")
    assert image_id != faces_collection.image_id_of(b"other bytes")
    box = (0.1, 0.2, 0.3, 0.4)
    same = faces_collection.stable_face_id(image_id, "door-1", box)
    assert same == faces_collection.stable_face_id(image_id, "door-1", box)
    assert same != faces_collection.stable_face_id(image_id, "door-2", box)
    assert same != faces_collection.stable_face_id(image_id, "door-1", (0.5, 0.2, 0.3, 0.4))


def test_delete_says_what_was_not_there() -> None:
    faces = {f.face_id: f for f in (face("f1"), face("f2"))}
    assert faces_collection.delete_faces(faces, ["f2", "nope", "f2"]) == (["f2"], ["nope"])
    assert list(faces) == ["f1"]


def test_listing_is_by_face_id_and_filters() -> None:
    faces = {f.face_id: f for f in (face("c"), face("a"), face("b"))}
    assert faces_collection.listed_ids(faces, None, None) == ["a", "b", "c"]
    assert faces_collection.listed_ids(faces, ["c", "zz", "a"], None) == ["a", "c"]
    assert faces_collection.listed_ids(faces, None, "user-1") == []


def test_search_by_face_leaves_the_face_itself_out() -> None:
    backend = RekognitionBackend(ACCOUNT, REGION)
    backend.create_collection("home", {})
    backend.index_faces("home", [face("me", 0.0), face("twin", 0.1), face("far", 2.0)])
    found = backend.search_faces("home", "me", 80.0, 10)
    assert [f.face_id for f, _ in found] == ["twin"]
    assert found[0][1] == pytest.approx(faces_search.similarity(0.1))
    with pytest.raises(InvalidParameterException, match="faceId was not found"):
        backend.search_faces("home", "unknown", 80.0, 10)
    with pytest.raises(ResourceNotFoundException):
        backend.search_faces("away", "me", 80.0, 10)


def test_list_faces_pages_through_everything_once() -> None:
    backend = RekognitionBackend(ACCOUNT, REGION)
    backend.create_collection("home", {})
    backend.index_faces("home", [face(f"f{i}") for i in range(5)])
    seen, token = [], None
    while True:
        page, token = backend.list_faces("home", token, 2)
        seen += [f.face_id for f in page]
        if token is None:
            break
    assert seen == [f"f{i}" for i in range(5)]


def test_a_collection_saved_without_faces_comes_back_with_none() -> None:
    collection = Collection("home", "arn:aws:rekognition:us-east-1:1:collection/home", None)  # type: ignore[arg-type]
    state = collection.__dict__.copy()
    del state["faces"]
    restored = Collection.__new__(Collection)
    restored.__setstate__(state)
    assert restored.faces == {}
    collection.faces["f1"] = face("f1", 0.3)
    assert pickle.loads(pickle.dumps(collection)).faces == collection.faces
    assert copy.deepcopy(collection).faces == collection.faces


# -- quality bars -----------------------------------------------------------------

GOOD = FaceFacts(99.9, 90, 60.0, 90.0, Pose(0.0, 5.0, -3.0))


@pytest.mark.parametrize(
    ("changes", "level", "reasons"),
    [
        ({}, QualityFilter.HIGH, []),
        ({"shorter_side_px": 36}, QualityFilter.AUTO, [Reason.SMALL_BOUNDING_BOX]),
        ({"shorter_side_px": 36}, QualityFilter.LOW, []),
        ({"shorter_side_px": 10, "brightness": 1.0}, QualityFilter.NONE, []),
        ({"brightness": 12.0}, QualityFilter.MEDIUM, [Reason.LOW_BRIGHTNESS]),
        ({"sharpness": 6.0}, QualityFilter.MEDIUM, [Reason.LOW_SHARPNESS]),
        ({"confidence": 85.0}, QualityFilter.HIGH, [Reason.LOW_CONFIDENCE]),
        ({"pose": Pose(0.0, 50.0, 0.0)}, QualityFilter.MEDIUM, [Reason.EXTREME_POSE]),
        ({"pose": Pose(0.0, 0.0, -35.0)}, QualityFilter.HIGH, [Reason.EXTREME_POSE]),
        ({"pose": Pose(80.0, 0.0, 0.0)}, QualityFilter.HIGH, []),  # a leaning head is fine
    ],
)
def test_quality_bars(changes: dict[str, Any], level: QualityFilter, reasons: list[Reason]) -> None:
    facts = FaceFacts(**{**GOOD.__dict__, **changes})
    assert reasons_against(facts, level) == reasons


def test_index_keeps_the_largest_passing_faces_up_to_max_faces() -> None:
    small = FaceFacts(**{**GOOD.__dict__, "shorter_side_px": 20})
    facts = [GOOD, small, GOOD, GOOD]  # largest first
    kept, refused = choose(facts, 2, QualityFilter.AUTO)
    assert kept == [0, 2]
    assert refused == {1: [Reason.SMALL_BOUNDING_BOX], 3: [Reason.EXCEEDS_MAX_FACES]}
    assert choose(facts, None, QualityFilter.NONE) == ([0, 1, 2, 3], {})


# -- landmarks and pose ---------------------------------------------------------------


def frontal_points() -> np.ndarray:
    """The points of an upright frontal face that pose and landmarks use: outer eye corners 100
    pixels apart and 100 above the mouth corners, the nose tip 64 % of the way down."""
    points = np.zeros((68, 2))
    points[36:42] = [(100, 100), (108, 96), (116, 96), (124, 100), (116, 104), (108, 104)]
    points[42:48] = [(176, 100), (184, 96), (192, 96), (200, 100), (192, 104), (184, 104)]
    points[30] = (150, 164)
    points[48], points[54] = (120, 200), (180, 200)
    points[62], points[66] = (150, 196), (150, 204)
    return points


def turned(points: np.ndarray, degrees: float) -> np.ndarray:
    angle = math.radians(degrees)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return np.asarray((points - 150) @ rotation.T + 150, dtype=np.float64)


def test_pose_of_a_frontal_face_and_a_leaning_one() -> None:
    pose = pose_of(frontal_points())
    assert pose.roll == pytest.approx(0, abs=1e-6)
    assert pose.yaw == pytest.approx(0, abs=1e-6)
    assert pose.pitch == pytest.approx(0, abs=1e-6)
    leaning = pose_of(turned(frontal_points(), 20))  # clockwise in the image (y down)
    assert leaning.roll == pytest.approx(20, abs=1e-6)
    assert leaning.yaw == pytest.approx(0, abs=1e-6)


def test_pose_follows_the_nose() -> None:
    right = frontal_points()
    right[30] = (170, 160)  # the nose points to the image's right
    assert pose_of(right).yaw > 20
    up = frontal_points()
    up[30] = (150, 140)  # the nose tip near the eyes: the face tilts up
    assert pose_of(up).pitch > 10


def test_default_landmarks_are_awss_five_all_are_thirty() -> None:
    points = frontal_points()
    default = landmarks(points, 300, 400, every=False)
    assert [m["Type"] for m in default] == [
        "eyeLeft",
        "eyeRight",
        "mouthLeft",
        "mouthRight",
        "nose",
    ]
    assert default[0] == {"Type": "eyeLeft", "X": 112 / 300, "Y": 100 / 400}
    every = landmarks(points, 300, 400, every=True)
    assert len(every) == 30
    assert len({m["Type"] for m in every}) == 30


# -- requests -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"ExternalImageId": "front door"}, "regular expression pattern"),
        ({"ExternalImageId": "x" * 256}, "length less than or equal to 255"),
        ({"CollectionId": "bad id"}, "CollectionId"),
        ({"QualityFilter": "BEST"}, "QualityFilter"),
        ({"DetectionAttributes": ["AGE_RANGE"]}, "does not emulate"),
        ({"DetectionAttributes": ["SMILE", "ALL"]}, "SMILE"),
        ({"Image": {}}, "exactly one of Bytes or S3Object"),
        ({"Image": {**IMAGE, "S3Object": {"Bucket": "bkt", "Name": "k"}}}, "exactly one"),
    ],
)
def test_index_faces_requests_refused(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterException, match=message):
        faces_requests.parse_index_faces({"CollectionId": "home", "Image": IMAGE, **body})


def test_index_faces_defaults() -> None:
    request = faces_requests.parse_index_faces(
        {"CollectionId": "home", "Image": IMAGE, "ExternalImageId": "cam-1:2026.frame_7"}
    )
    assert request.quality_filter is QualityFilter.AUTO
    assert request.max_faces is None
    assert faces_requests.extra_attributes(request.attributes) == ((), False)
    assert faces_requests.extra_attributes((faces_requests.Attribute.ALL,)) == (
        ("EYES_OPEN", "MOUTH_OPEN"),
        True,
    )


@pytest.mark.parametrize(
    "body",
    [{"MaxFaces": 4097}, {"MaxFaces": 0}, {"FaceMatchThreshold": 100.5}],
)
def test_search_limits(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameterException):
        faces_requests.parse_search_faces_by_image({"CollectionId": "c", "Image": IMAGE, **body})
    with pytest.raises(InvalidParameterException):
        faces_requests.parse_search_faces({"CollectionId": "c", "FaceId": FACE_ID, **body})


FACE_ID = "0b6f2a4e-52c4-4a55-9b1d-8a3c7e0f1d2a"


def test_search_defaults_and_face_id_pattern() -> None:
    request = faces_requests.parse_search_faces_by_image({"CollectionId": "c", "Image": IMAGE})
    assert (request.max_faces, request.threshold) == (80, 80.0)
    assert request.quality_filter is QualityFilter.NONE
    with pytest.raises(InvalidParameterException, match="faceId"):
        faces_requests.parse_search_faces({"CollectionId": "c", "FaceId": FACE_ID.upper()})


def test_face_id_lists() -> None:
    assert faces_requests.parse_delete_faces({"CollectionId": "c", "FaceIds": [FACE_ID]})
    for face_ids in ([], ["not-a-face-id"], [FACE_ID] * 4097):
        with pytest.raises(InvalidParameterException):
            faces_requests.parse_delete_faces({"CollectionId": "c", "FaceIds": face_ids})
    with pytest.raises(InvalidParameterException, match="userId"):
        faces_requests.parse_list_faces({"CollectionId": "c", "UserId": "a b"})
    with pytest.raises(InvalidParameterException):
        faces_requests.parse_list_faces({"CollectionId": "c", "MaxResults": 4097})


# -- images looked at -----------------------------------------------------------------


class CountingModel:
    """Finds no face, counts the images it was shown."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def find(self, image: np.ndarray) -> list[Any]:
        self.shapes.append(image.shape)
        return []


def test_an_image_sent_again_is_not_analysed_again_and_large_ones_are_scaled() -> None:
    model = CountingModel()
    images = SeenImages(FaceModelPool(1, lambda: model), capacity=2)  # type: ignore[arg-type, return-value]
    small = np.zeros((100, 120, 3), dtype=np.uint8)
    first = images.look(b"one", small)
    assert images.look(b"one", small) is first
    images.look(b"two", small)
    images.look(b"three", np.zeros((1000, 3000, 3), dtype=np.uint8))
    images.look(b"one", small)  # forgotten: only the last two are remembered
    assert model.shapes == [(100, 120, 3), (100, 120, 3), (683, 2048, 3), (100, 120, 3)]
    assert (first.width, first.height, first.faces) == (120, 100, [])
