"""dlib's face models on the test photographs: who is found, who is alike, what survives a restart.

The models are the process's (``shared_pool``), as the endpoint's; each photograph is looked at
once (``seen``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from stack.endpoint import persistence
from stack.endpoint.rekognition import faces_search
from stack.endpoint.rekognition.faces_collection import IndexedFace
from stack.endpoint.rekognition.faces_detail import FoundFace
from stack.endpoint.rekognition.faces_model import (
    FaceModel,
    FaceModelPool,
    RgbImage,
    shared_pool,
)
from stack.endpoint.rekognition.models import RekognitionState
from tests.support import faces as photos

ACCOUNT, REGION = "123456789012", "us-east-1"
PHOTOS = {
    "a": photos.person_a,
    "a_transformed": photos.person_a_transformed,
    "b": photos.person_b,
    "two": photos.two_faces,
    "none": photos.no_face,
}


@dataclass(frozen=True)
class Seen:
    image: RgbImage
    faces: list[FoundFace]
    descriptors: list[faces_search.Descriptor]


def rgb(jpeg: bytes) -> RgbImage:
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)


@pytest.fixture(scope="module")
def seen() -> dict[str, Seen]:
    out: dict[str, Seen] = {}
    with shared_pool().lent() as model:
        for name, photo in PHOTOS.items():
            image = rgb(photo())
            found = model.find(image)
            out[name] = Seen(image, found, [model.descriptor(image, face) for face in found])
    return out


def distance(x: faces_search.Descriptor, y: faces_search.Descriptor) -> float:
    return float(np.linalg.norm(x - y))


def test_one_face_each_in_the_portraits_none_in_the_cup(seen: dict[str, Seen]) -> None:
    # The astronaut's badges, flag and helmet make the HOG detector propose more faces.
    for name in ("a", "a_transformed", "b"):
        [face] = seen[name].faces
        assert face.confidence > 99
    assert seen["none"].faces == []


def test_the_two_face_photo_has_both_largest_first(seen: dict[str, Seen]) -> None:
    left, right = seen["two"].faces
    assert left.area > right.area
    assert left.right < 320 <= right.left  # A on the left half, B on the right
    assert all(90 < point[0] < 320 for point in left.points)


def test_same_person_is_close_other_person_far(seen: dict[str, Seen]) -> None:
    [a], [a_transformed], [b] = (seen[n].descriptors for n in ("a", "a_transformed", "b"))
    two_a, two_b = seen["two"].descriptors
    assert distance(a, a_transformed) < 0.35  # measured 0.27
    assert distance(a, two_a) < 0.2
    assert distance(b, two_b) < 0.35
    for other in (distance(a, b), distance(a_transformed, b), distance(a, two_b)):
        assert other > 0.7  # measured 0.80-0.84
    assert faces_search.similarity(distance(a, a_transformed)) > 97
    assert faces_search.similarity(distance(a, b)) < 50


def test_faces_and_their_descriptors_survive_a_saved_state(
    seen: dict[str, Seen], tmp_path: Path
) -> None:
    """What the endpoint pickles on stop and restores at start, with the real descriptors."""
    before = RekognitionState(lambda arn: True)
    backend = before.backend(ACCOUNT, REGION)
    backend.create_collection("home", {})
    face = IndexedFace(
        "6a1f0c2e-8d3b-4c5a-9e7f-0b1c2d3e4f50",
        "1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        "person-a",
        (0.18, 0.18, 0.34, 0.15),
        99.99,
        faces_search.encode(seen["a"].descriptors[0]),
    )
    backend.index_faces("home", [face])
    state_file = tmp_path / persistence.STATE_FILE
    persistence.write_state(
        state_file, persistence.dump_state({}, {"rekognition": before.snapshot()})
    )

    loaded = persistence.read_state(state_file)
    assert loaded is not None
    after = RekognitionState(lambda arn: True)
    after.restore(loaded[1]["rekognition"])
    restored = after.backend(ACCOUNT, REGION)
    assert list(restored.get_collection("home").faces.values()) == [face]
    query = faces_search.encode(seen["a_transformed"].descriptors[0])
    [(match, similarity)] = restored.search_descriptor("home", query, 80.0, 10)
    assert match.external_image_id == "person-a"
    assert similarity > 97


def test_the_pool_lends_each_model_to_one_image_at_a_time() -> None:
    made: list[object] = []
    busy: set[int] = set()
    overlaps: list[int] = []
    lock = threading.Lock()

    def factory() -> FaceModel:
        model = object()
        made.append(model)
        return model  # type: ignore[return-value]

    pool = FaceModelPool(max_parallel=2, factory=factory)

    def use() -> None:
        with pool.lent() as model:
            with lock:
                assert id(model) not in busy
                busy.add(id(model))
                overlaps.append(len(busy))
            time.sleep(0.01)
            with lock:
                busy.discard(id(model))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 <= len(made) <= 2
    assert max(overlaps) <= 2
