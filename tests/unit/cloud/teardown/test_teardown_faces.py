"""Known faces in a teardown plan: the collection and the photos go before the bucket, and go
with `--keep-results` too (they are biometric data, not results)."""

from __future__ import annotations

from cloud.naming import FleetNames
from cloud.teardown.models import Inventory, Kind, Resource, Service
from cloud.teardown.plan import build_plan

NAMES = FleetNames("camfleet", "123456789012", "eu-west-1")
COLLECTION = Resource(kind=Kind.FACE_COLLECTION, name=NAMES.faces_collection, count=3)
PHOTOS = Resource(
    kind=Kind.FACE_PHOTOS, name=NAMES.faces_prefix, parent=NAMES.results_bucket, count=5
)
BUCKET = Resource(kind=Kind.BUCKET, name=NAMES.results_bucket, count=9)
PORCH = Resource(kind=Kind.RESULTS, name="cameras/porch/", camera="porch", parent="b", count=4)


def _plan(*, keep_results: bool, cameras: tuple[str, ...] | None = None) -> list[Kind]:
    inventory = Inventory(
        fleet="camfleet", cameras=cameras, resources=(BUCKET, PHOTOS, PORCH, COLLECTION)
    )
    return [s.resource.kind for s in build_plan(inventory, keep_results=keep_results).steps]


def test_the_faces_go_before_the_bucket() -> None:
    assert _plan(keep_results=False) == [
        Kind.RESULTS,
        Kind.FACE_COLLECTION,
        Kind.FACE_PHOTOS,
        Kind.BUCKET,
    ]


def test_keep_results_keeps_the_frames_and_the_bucket_not_the_faces() -> None:
    assert _plan(keep_results=True) == [Kind.FACE_COLLECTION, Kind.FACE_PHOTOS]


def test_removing_cameras_leaves_the_fleets_faces() -> None:
    assert _plan(keep_results=False, cameras=("porch",)) == [Kind.RESULTS]


def test_how_the_faces_read_in_the_plan_and_the_proof() -> None:
    assert COLLECTION.label == "face collection camfleet-faces (3)"
    assert PHOTOS.label == f"S3 face photos faces/ in {NAMES.results_bucket} (5)"
    assert (COLLECTION.kind.service, PHOTOS.kind.service) == (Service.REKOGNITION, Service.S3)
    assert NAMES.faces_collection_arn() == (
        "arn:aws:rekognition:eu-west-1:123456789012:collection/camfleet-faces"
    )
