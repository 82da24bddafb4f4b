"""Reading cameras' Prefect events back from the server: by camera and event name, every page.

The names and resources are those of `flows.events`."""

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

from flows.events import camera_resource_id

_PAGE = 50  # the events API's largest page


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
        resource=EventResourceFilter(id=[camera_resource_id(c) for c in camera_ids]),
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
