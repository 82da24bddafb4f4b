"""Whether this fleet created a resource, from the markers registration writes. Pure: no I/O.

A name is never enough. The markers are tags, thing attributes, what the fleet wrote into IoT
policies, role aliases and thing groups, and, for what holds no marker of its own, the resource
that holds it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from cloud.models import Model
from cloud.tags import CAMERA_KEY, MANAGED_BY, MANAGED_BY_KEY, OWNER_KEY


class Verdict(Model):
    ours: bool
    reason: str


def by_tags(tags: Mapping[str, str], fleet: str) -> Verdict:
    owner = tags.get(OWNER_KEY)
    if owner == fleet:
        return Verdict(ours=True, reason=f"tagged {OWNER_KEY}={fleet}")
    if owner:
        return Verdict(ours=False, reason=f"tagged as fleet {owner!r}'s")
    return Verdict(ours=False, reason=f"no {OWNER_KEY} tag: not made by a camera fleet")


def by_attribute(attributes: Mapping[str, str], key: str, fleet: str) -> Verdict:
    owner = attributes.get(key)
    if owner == fleet:
        return Verdict(ours=True, reason=f"attribute {key}={fleet}")
    if owner:
        return Verdict(ours=False, reason=f"attribute {key} says fleet {owner!r}")
    return Verdict(ours=False, reason=f"no {key} attribute: not made by this fleet")


def by_description(description: str, marker: str) -> Verdict:
    if description == marker:
        return Verdict(ours=True, reason=f"described as {marker!r}")
    return Verdict(ours=False, reason=f"described as {description!r}, not {marker!r}")


def camera_of(tags: Mapping[str, str], named: str) -> str:
    """The camera a tagged per-camera resource serves: its camera tag, else its name's camera."""
    return tags.get(CAMERA_KEY) or named


def made_by_a_fleet(tags: Mapping[str, str]) -> bool:
    return tags.get(MANAGED_BY_KEY) == MANAGED_BY or OWNER_KEY in tags


def _statements(document: Mapping[str, Any]) -> Iterator[tuple[set[str], set[str]]]:
    """Each Allow statement's actions and resources (either may be a string or a list)."""
    statements = document.get("Statement", [])
    for statement in [statements] if isinstance(statements, dict) else statements:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        actions, resources = statement.get("Action", []), statement.get("Resource", [])
        yield (
            {actions} if isinstance(actions, str) else set(actions),
            {resources} if isinstance(resources, str) else set(resources),
        )


def grants(document: Mapping[str, Any], action: str, resource: str) -> bool:
    return any(action in a and resource in r for a, r in _statements(document))


def by_policy_grant(document: Mapping[str, Any], action: str, resource: str) -> Verdict:
    if grants(document, action, resource):
        return Verdict(ours=True, reason=f"grants {action} on {resource}")
    return Verdict(ours=False, reason=f"does not grant {action} on {resource}")


def by_role_alias(role_arn: str, producer_role_arn: str, producer_role_ours: bool) -> Verdict:
    if role_arn != producer_role_arn:
        return Verdict(ours=False, reason=f"hands out {role_arn}, not {producer_role_arn}")
    if not producer_role_ours:
        return Verdict(ours=False, reason=f"hands out {role_arn}, which is not this fleet's")
    return Verdict(ours=True, reason=f"hands out the fleet's producer role {role_arn}")


def camera_of_filter_policy(policy: str | None) -> str | None:
    """The camera a subscription is for: its filter policy selects exactly one `camera` value
    (notifications carry the camera as a message attribute); None for any other subscription."""
    if not policy:
        return None
    try:
        document = json.loads(policy)
    except json.JSONDecodeError:
        return None
    cameras = document.get("camera") if isinstance(document, dict) else None
    if isinstance(cameras, list) and len(cameras) == 1 and isinstance(cameras[0], str):
        return cameras[0]
    return None
