"""Ownership markers: every resource the fleet creates carries these tags."""

from __future__ import annotations

from typing import TypedDict

OWNER_KEY = "camera-fleet:fleet"
CAMERA_KEY = "camera-fleet:camera"
MANAGED_BY_KEY = "managed-by"
MANAGED_BY = "camera-fleet"


def fleet_tags(fleet: str, camera_id: str | None = None) -> dict[str, str]:
    tags = {OWNER_KEY: fleet, MANAGED_BY_KEY: MANAGED_BY}
    if camera_id is not None:
        tags[CAMERA_KEY] = camera_id
    return tags


class KeyValueTag(TypedDict):
    """A tag as IAM, SNS, S3 and DynamoDB spell it."""

    Key: str
    Value: str


def as_key_value_list(tags: dict[str, str]) -> list[KeyValueTag]:
    """IAM, SNS, S3 and DynamoDB spell tags as [{"Key": ..., "Value": ...}]."""
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
