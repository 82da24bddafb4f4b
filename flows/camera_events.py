"""Prefect event resources for the fleet: each camera is `camera.<id>`, related to its fleet, so
the UI's event feed filters by camera."""

from __future__ import annotations


def camera_resource(camera_id: str) -> dict[str, str]:
    return {"prefect.resource.id": f"camera.{camera_id}", "prefect.resource.name": camera_id}


def fleet_related(fleet: str) -> list[dict[str, str]]:
    return [
        {
            "prefect.resource.id": f"fleet.{fleet}",
            "prefect.resource.role": "fleet",
            "prefect.resource.name": fleet,
        }
    ]
