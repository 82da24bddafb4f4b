"""Prefect event resources for the fleet: each camera is `camera.<id>`, related to its fleet, so
the UI's event feed filters by camera. And reading a camera's events back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from prefect.client.orchestration import get_client
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventResourceFilter,
)
from prefect.events.schemas.events import ReceivedEvent

_PAGE = 50  # the events API's largest page


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


async def read_camera_events(
    camera_id: str, names: Sequence[str], since: datetime
) -> list[ReceivedEvent]:
    """The camera's events with these names since `since`, oldest first, every page."""
    return await read_cameras_events([camera_id], names, since)


async def read_cameras_events(
    camera_ids: Sequence[str], names: Sequence[str], since: datetime
) -> list[ReceivedEvent]:
    """The events with these names of any of these cameras since `since`, oldest first."""
    event_filter = EventFilter(
        event=EventNameFilter(name=list(names)),
        resource=EventResourceFilter(
            id=[camera_resource(c)["prefect.resource.id"] for c in camera_ids]
        ),
        # The default window ends when the filter is made: make it end now, explicitly.
        occurred=EventOccurredFilter(since=since, until=datetime.now(UTC)),
    )
    async with get_client() as client:
        page = await client.read_events(filter=event_filter, limit=_PAGE)
        events = list(page.events)
        while page.next_page is not None:
            page = await client.read_events_page(str(page.next_page))
            events.extend(page.events)
    return sorted(events, key=lambda e: e.occurred)
