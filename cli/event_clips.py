"""The clips of the detections `fleet camera events` lists: each session's clip state (made, failed
with its reason, or pending) and, for a clip made whose media have not expired, a link."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloud.clients import AwsClients
    from cloud.clip_store import ClipRecord
    from cloud.links import MediaLink
    from cloud.rekognition_messages import DetectionRecord

PENDING = "pending"


def clip_records(
    clients: AwsClients, table: str, found: list[DetectionRecord]
) -> dict[str, ClipRecord | None]:
    """Each listed session's clip outcome (None: not made yet, or its session still runs)."""
    from cloud.clip_store import get_clip_record

    sessions = dict.fromkeys(record.session_id for record in found)
    camera = {record.session_id: record.camera_id for record in found}
    return {s: get_clip_record(clients, table, camera[s], s) for s in sessions}


def clip_links(
    clients: AwsClients,
    records: dict[str, ClipRecord | None],
    expired: dict[str, bool],
    seconds: int,
) -> dict[str, MediaLink]:
    """A link per session whose clip was made and whose media have not expired."""
    from cloud.clip_store import ClipState
    from cloud.links import presigned_link

    return {
        session: presigned_link(clients, clip.uri, seconds)
        for session, clip in records.items()
        if clip is not None and clip.state is ClipState.MADE and not expired.get(session, False)
    }


def clip_document(clip: ClipRecord | None, link: MediaLink | None) -> dict[str, Any]:
    from cloud.rekognition_messages import iso_ms

    return {
        "clip_state": PENDING if clip is None else clip.state.value,
        "clip_reason": None if clip is None else clip.reason,
        "clip_url": None if link is None else link.url,
        "clip_url_expires_at": None if link is None else iso_ms(link.expires_at),
    }


def print_clips(
    found: list[DetectionRecord],
    records: dict[str, ClipRecord | None],
    links: dict[str, MediaLink],
) -> None:
    """One line per session, below the frame links: its clip's link, or why there is none."""
    from cli.output import console
    from cloud.rekognition_messages import iso_ms

    out = console()
    first = {}
    for record in reversed(found):  # each session by its first detection listed
        first[record.session_id] = record
    if not first:
        return
    out.print("clips (one per analysis session):")
    for session, record in sorted(
        first.items(), key=lambda item: item[1].detected_at, reverse=True
    ):
        clip, link = records.get(session), links.get(session)
        if link is not None:
            state = link.url
        elif clip is None:
            state = "not made yet (it is made when the session ends)"
        elif clip.reason is not None:
            state = f"none: {clip.reason}"
        else:
            state = "media expired"
        out.print(
            f"  {iso_ms(record.detected_at)} session {session}: {state}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
