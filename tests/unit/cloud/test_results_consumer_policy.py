"""The results consumer's own credentials for known faces: least privilege, fleet by fleet."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pytest

from cloud.naming import FleetNames
from cloud.policies import PolicyName, render
from tests.support.policy_grants import as_list

FLEET = FleetNames("camfleet", "123456789012", "eu-west-1")
OTHER = FleetNames("camfleet-2", "123456789012", "eu-west-1")


def _statements(names: FleetNames = FLEET) -> list[dict[str, Any]]:
    document = render(
        PolicyName.RESULTS_CONSUMER,
        **names.arn_context(),
        Fleet=names.fleet,
        Bucket=names.results_bucket,
    )
    statements: list[dict[str, Any]] = document["Statement"]
    return statements


def _granting(action: str, names: FleetNames = FLEET) -> list[dict[str, Any]]:
    return [s for s in _statements(names) if action in as_list(s["Action"])]


def test_detect_faces_has_no_resource_level_permissions_and_is_kept_to_the_region() -> None:
    (statement,) = _granting("rekognition:DetectFaces")
    assert statement["Resource"] == "*"
    assert statement["Condition"] == {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}


def test_only_detect_faces_is_on_every_resource() -> None:
    everywhere = [s for s in _statements() if "*" in as_list(s["Resource"])]
    assert [s["Action"] for s in everywhere] == ["rekognition:DetectFaces"]


def test_the_consumer_searches_only_its_fleets_collection_and_changes_none() -> None:
    (statement,) = _granting("rekognition:SearchFacesByImage")
    assert statement["Resource"] == FLEET.faces_collection_arn()
    (theirs,) = _granting("rekognition:SearchFacesByImage", OTHER)
    assert not fnmatchcase(theirs["Resource"], statement["Resource"])
    granted = {a for s in _statements() for a in as_list(s["Action"])}
    assert not {a for a in granted if a.startswith("rekognition:")} - {
        "rekognition:DetectFaces",
        "rekognition:SearchFacesByImage",
    }


@pytest.mark.parametrize(
    ("key", "allowed"),
    [
        ("cameras/porch/camfleet-porch/s1/PERSON-1/frame.jpg", True),
        ("faces/alice/person.json", True),
        ("faces/alice/370adb9c.jpg", False),  # the photos of known people: never
        ("faces/person.json", False),
        ("exports/porch.jpg", False),
    ],
)
def test_the_consumer_reads_frames_and_records_not_the_photos(key: str, allowed: bool) -> None:
    resources = [r for s in _granting("s3:GetObject") for r in as_list(s["Resource"])]
    arn = f"arn:aws:s3:::{FLEET.results_bucket}/{key}"
    assert any(fnmatchcase(arn, r) for r in resources) is allowed
    other = f"arn:aws:s3:::{OTHER.results_bucket}/{key}"
    assert not any(fnmatchcase(other, r) for r in resources)


def test_the_consumer_lists_only_the_faces_prefix() -> None:
    (statement,) = _granting("s3:ListBucket")
    assert statement["Resource"] == f"arn:aws:s3:::{FLEET.results_bucket}"
    assert statement["Condition"] == {"StringEquals": {"s3:prefix": FLEET.faces_prefix}}


@pytest.mark.parametrize(
    ("key", "allowed"),
    [
        ("cameras/porch/camfleet-porch/s1/clip.mp4", True),
        ("cameras/porch/camfleet-porch/s1/PERSON-1/frame.jpg", False),  # the analyzer's
        ("faces/alice/clip.mp4", False),
    ],
)
def test_the_consumer_writes_only_clips_under_the_cameras(key: str, allowed: bool) -> None:
    resources = [r for s in _granting("s3:PutObject") for r in as_list(s["Resource"])]
    assert any(fnmatchcase(f"arn:aws:s3:::{FLEET.results_bucket}/{key}", r) for r in resources) is (
        allowed
    )


def test_the_consumer_cuts_clips_only_from_its_fleets_streams() -> None:
    (statement,) = _granting("kinesisvideo:GetClip")
    assert statement["Condition"] == {
        "StringEquals": {"aws:ResourceTag/camera-fleet:fleet": FLEET.fleet}
    }
    granted = {a for s in _statements() for a in as_list(s["Action"])}
    assert {a for a in granted if a.startswith("kinesisvideo:")} == {
        "kinesisvideo:GetDataEndpoint",
        "kinesisvideo:GetClip",
    }
    (queue,) = _granting("sqs:SendMessage", FLEET)[:1]
    assert queue["Resource"].endswith(":camfleet-results")  # its own clip jobs


def test_the_consumer_queries_only_its_fleets_detections() -> None:
    (statement,) = _granting("dynamodb:Query")
    assert statement["Resource"] == (
        f"arn:aws:dynamodb:eu-west-1:123456789012:table/{FLEET.detections_table}"
    )
    assert "dynamodb:Scan" not in {a for s in _statements() for a in as_list(s["Action"])}
