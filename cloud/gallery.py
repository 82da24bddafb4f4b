"""A camera's detection gallery: the markdown of the Prefect artifact `camera-<id>-detections`
that shows its latest detections as thumbnails. Pure: the links are signed and the clock read by
the caller.

Each detection is a row of an HTML table inside the markdown: its thumbnail (the crop of the
detected object, or the frame without one) linked to the frame, its label and confidence, its
time (UTC), who was recognised, and links to the frame and to the session's clip. HTML, because
both Prefect UIs keep an `<img width=..>` (their sanitizers allow `width`, `src`, `href`) while
a markdown image has no size, and the V1 UI shows a markdown link's text, not an image inside it.
The table is one HTML block: it has no blank line, so the markdown parser hands it over whole.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from datetime import datetime
from html import escape

from cloud.models import Model
from cloud.rekognition_messages import DetectionRecord, faces_summary, readable_utc

THUMBNAIL_WIDTH = 120  # px; the UIs' CSS sets `height: auto`, so only a width sizes it
KEY_PREFIX = "camera-"
KEY_SUFFIX = "-detections"
_NOT_KEY = re.compile(r"[^a-z0-9]+")  # Prefect artifact keys: lowercase letters, digits, dashes
_DIGEST_CHARS = 8

ClipState = Callable[[DetectionRecord], str | None]


def gallery_key(camera_id: str) -> str:
    """The artifact key of a camera's gallery: `camera-<id>-detections`.

    A camera id that is already lowercase letters, digits and single dashes is used as it is.
    Any other (with `_`, `.`, `:`, upper case, repeated dashes) is lowercased, each run of other
    characters becomes one dash, and the first 8 hex digits of the id's SHA-256 are appended, so
    ids that read alike (`front_door`, `front-door`, `Front.Door`) never share a gallery:
    `front_door` -> `camera-front-door-<8 hex>-detections`."""
    slug = _NOT_KEY.sub("-", camera_id.lower()).strip("-")
    if slug == camera_id:
        return f"{KEY_PREFIX}{slug}{KEY_SUFFIX}"
    digest = hashlib.sha256(camera_id.encode()).hexdigest()[:_DIGEST_CHARS]
    return f"{KEY_PREFIX}{slug + '-' if slug else ''}{digest}{KEY_SUFFIX}"


class GalleryEntry(Model):
    """One detection and its signed links (presigned GET URLs, which expire)."""

    record: DetectionRecord
    thumbnail_url: str
    frame_url: str
    clip_url: str
    links_expire_at: datetime
    media_expires_at: datetime | None = None  # when retention deletes its frame and clip


def confidence_text(record: DetectionRecord) -> str:
    """`PERSON 97%` (rounded down, as names' similarities are), or the label alone."""
    if record.confidence is None:
        return record.label
    return f"{record.label} {math.floor(record.confidence)}%"


def render_gallery(
    camera_id: str,
    entries: list[GalleryEntry],
    now: datetime,
    clip_state: ClipState | None = None,
) -> str:
    """The gallery's markdown: a heading, a line saying until when its links work, and the
    detections in the order given (newest first), or a line saying there are none yet.
    `clip_state` may add a word to a clip's link (`clip (failed)`); without it, or when it says
    None, the link reads `clip`: the clip may not exist yet."""
    lines = [f"# Camera {_text(camera_id)}: latest detections", ""]
    if not entries:
        lines.append(f"No detections yet (as of {readable_utc(now)}).")
        return "\n".join(lines) + "\n"
    count = len(entries)
    expiry = min(entry.links_expire_at for entry in entries)
    lines += [
        f"The latest {count} detection{'' if count == 1 else 's'}, newest first, as of "
        f"{readable_utc(now)}. The links work until {readable_utc(expiry)}: "
        "a later detection renews them.",
        "",
        "<table>",
        "<tr><th>image</th><th>detected</th><th>time (UTC)</th><th>who</th><th>links</th></tr>",
    ]
    lines += [_row(entry, now, clip_state) for entry in entries]
    lines.append("</table>")
    return "\n".join(lines) + "\n"


def gallery_description(camera_id: str, entries: list[GalleryEntry]) -> str:
    """The artifact's description: one line."""
    if not entries:
        return f"Camera {camera_id}: no detections yet"
    latest = entries[0].record
    return (
        f"Camera {camera_id}: the latest {len(entries)} detections; newest "
        f"{confidence_text(latest)} at {readable_utc(latest.detected_at)}"
    )


def _row(entry: GalleryEntry, now: datetime, clip_state: ClipState | None) -> str:
    record = entry.record
    what = confidence_text(record)
    when = readable_utc(record.detected_at).removesuffix(" UTC")
    who = _text(faces_summary(record.faces) or "")
    deleted_at = entry.media_expires_at
    if deleted_at is not None and now >= deleted_at:
        image = f"deleted {readable_utc(deleted_at)}"
        media = "media deleted by retention"
    else:
        image = (
            f'<a href="{_attr(entry.frame_url)}"><img src="{_attr(entry.thumbnail_url)}" '
            f'alt="{_attr(what)}" width="{THUMBNAIL_WIDTH}"></a>'
        )
        state = clip_state(record) if clip_state is not None else None
        clip = f"clip ({_text(state)})" if state else "clip"
        media = (
            f'<a href="{_attr(entry.frame_url)}">frame</a> · '
            f'<a href="{_attr(entry.clip_url)}">{clip}</a>'
        )
    cells = (image, f"<b>{_text(what)}</b>", when, who, media)
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _text(value: str) -> str:
    return escape(value, quote=False)


def _attr(value: str) -> str:
    return escape(value, quote=True)
