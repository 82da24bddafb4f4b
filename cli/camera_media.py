"""`fleet camera clip` and `fleet camera live`: a camera's recorded video as an MP4 file, and its
video live or around a moment as an HLS URL. Operator commands: they call KVS with the
operator's credentials.

TIME is ISO-8601 with its timezone (`2026-12-07T18:04:01Z`, `...+01:00`), or a time ago: a
number and a unit, `90s`, `10m`, `2h`, `1d`. A time without a timezone is refused rather than
guessed.
"""

from __future__ import annotations

import os
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.errors import handled
from cli.options import JsonOption
from cli.settings import current_settings

if TYPE_CHECKING:
    from cloud.links import MediaLink
    from flows.runtime import Runtime

BEFORE_SECONDS = 10
AFTER_SECONDS = 20
MAX_SIDE_SECONDS = 43_200  # before + after stays within GetClip's 24 hours
EXPIRES_SECONDS = 3600
FILE_MODE = 0o644
_AGO = re.compile(r"^(\d+)(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}

TIME_HELP = (
    "ISO-8601 with a timezone (2026-12-07T18:04:01Z, ...+01:00), or a time ago (90s, 10m, 2h, 1d)."
)
Before = Annotated[
    int | None,
    typer.Option(
        min=0, max=MAX_SIDE_SECONDS, help=f"Seconds before TIME (default {BEFORE_SECONDS})."
    ),
]
After = Annotated[
    int | None,
    typer.Option(
        min=0, max=MAX_SIDE_SECONDS, help=f"Seconds after TIME (default {AFTER_SECONDS})."
    ),
]


def parse_time(text: str, now: datetime) -> datetime:
    """TIME as an aware UTC datetime: ISO-8601 with a timezone, or `<n><s|m|h|d>` before `now`."""
    from cloud.errors import InvalidInputError

    value = text.strip()
    ago = _AGO.match(value)
    if ago:
        try:
            return now - timedelta(seconds=int(ago.group(1)) * _UNIT_SECONDS[ago.group(2)])
        except OverflowError as err:
            raise InvalidInputError(f"TIME {text!r} is before any date") from err
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as err:
        raise InvalidInputError(
            f"TIME {text!r} is neither ISO-8601 (2026-12-07T18:04:01Z) nor a time ago (10m)"
        ) from err
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInputError(
            f"TIME {text!r} has no timezone: add Z for UTC or an offset such as +01:00"
        )
    return moment.astimezone(UTC)


def window(at: datetime, before: int | None, after: int | None) -> tuple[datetime, datetime]:
    """The range around `at`: `before` seconds before it to `after` seconds after it."""
    from cloud.errors import InvalidInputError

    try:
        start = at - timedelta(seconds=BEFORE_SECONDS if before is None else before)
        end = at + timedelta(seconds=AFTER_SECONDS if after is None else after)
    except OverflowError as err:
        raise InvalidInputError(f"the range around {at.isoformat()} is out of any date") from err
    if end <= start:
        raise InvalidInputError("--before and --after are both 0: the range is empty")
    return start, end


def hms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M:%S")


def check_writable(path: Path) -> None:
    """Refuse, before anything is downloaded, a FILE that cannot be written."""
    from cloud.errors import InvalidInputError

    folder = path.parent
    if not folder.is_dir():
        raise InvalidInputError(f"cannot write {path}: the folder {folder} does not exist")
    if path.is_dir():
        raise InvalidInputError(f"cannot write {path}: it is a folder")
    if not os.access(folder, os.W_OK):
        raise InvalidInputError(f"cannot write {path}: the folder {folder} is not writable")


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` (mode 0644) so that the file is whole or absent: a temporary file
    in the same folder, flushed to disk, renamed over it."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def clip(
    camera_id: Annotated[str, typer.Argument(help="The camera.")],
    at: Annotated[str, typer.Option("--at", metavar="TIME", help=TIME_HELP)],
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="FILE", help="Write the MP4 here.")
    ],
    before: Before = None,
    after: After = None,
) -> None:
    """Save the camera's video around TIME (10 s before to 20 s after, unless told) as an MP4
    (KVS GetClip: at most 100 MB or 200 fragments). FILE is replaced whole, or left as it was if
    no clip can be made."""
    from cli.output import console
    from cloud.clips import get_clip

    now = datetime.now(UTC)
    start, end = window(parse_time(at, now), before, after)
    check_writable(output)
    rt = _camera_runtime(camera_id)
    _check_kept(rt, camera_id, start, end, now)
    data = get_clip(rt.clients, rt.names.stream(camera_id), start, end)
    write_atomically(output, data)
    console().print(
        f"wrote {output} ({len(data)} bytes, {hms(start)}\N{EN DASH}{hms(end)} UTC)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def live(
    camera_id: Annotated[str, typer.Argument(help="The camera.")],
    open_url: Annotated[bool, typer.Option("--open", help="Open the URL in a browser.")] = False,
    at: Annotated[
        str | None,
        typer.Option("--at", metavar="TIME", help=f"Replay around TIME instead: {TIME_HELP}"),
    ] = None,
    before: Before = None,
    after: After = None,
    expires: Annotated[
        int, typer.Option(min=300, max=43_200, help="Seconds the URL works (300 to 43200).")
    ] = EXPIRES_SECONDS,
    json_output: JsonOption = False,
) -> None:
    """Print an HLS URL of the camera's video: live, or with --at recorded around TIME (10 s
    before to 20 s after, unless told). The URL lets anyone holding it watch until it expires;
    give each player its own."""
    from cli.output import emit_json
    from cloud.errors import InvalidInputError
    from cloud.live import PlaybackMode, live_url, on_demand_url

    if at is None and (before is not None or after is not None):
        raise InvalidInputError("--before and --after go with --at (a replay around TIME)")
    now = datetime.now(UTC)
    span = None if at is None else window(parse_time(at, now), before, after)
    rt = _camera_runtime(camera_id)
    stream = rt.names.stream(camera_id)
    if span is not None:
        _check_kept(rt, camera_id, *span, now)
    if span is None:
        mode, link = PlaybackMode.LIVE, live_url(rt.clients, stream, expires)
    else:
        mode, link = PlaybackMode.ON_DEMAND, on_demand_url(rt.clients, stream, *span, expires)
    if open_url:
        _open(camera_id, link)
    if json_output:
        emit_json(_live_document(camera_id, mode.value, link))
        return
    _print_link(camera_id, mode.value, link)


def _camera_runtime(camera_id: str) -> Runtime:
    """The runtime, once the camera is known to be one of the fleet's (NotFoundError if not)."""
    from cli.control_plane import control_plane
    from cloud.naming import validate_camera_id
    from cloud.registry import require_member

    validate_camera_id(camera_id)
    rt = control_plane(current_settings())
    require_member(rt.clients, rt.names, camera_id)
    return rt


def kept_since(retention_hours: int, now: datetime) -> datetime:
    """The oldest moment a stream that keeps `retention_hours` of video still has."""
    return now - timedelta(hours=retention_hours)


def _check_kept(rt: Runtime, camera_id: str, start: datetime, end: datetime, now: datetime) -> None:
    """Refuse a range that ended before the oldest video the camera's stream keeps, saying so
    (KVS would only answer that it has no video there)."""
    from cloud.archived_media import NO_RETENTION, MediaUnavailableError
    from cloud.errors import NotFoundError
    from cloud.kvs import describe_stream
    from cloud.rekognition_messages import readable_utc

    stream = describe_stream(rt.clients, rt.names.stream(camera_id))
    if stream is None:
        raise NotFoundError(f"camera {camera_id} has no KVS stream")
    what = f"video of camera {camera_id}"
    if stream.retention_hours == 0:
        raise MediaUnavailableError(what, NO_RETENTION, permanent=True)
    oldest = kept_since(stream.retention_hours, now)
    if end < oldest:
        raise MediaUnavailableError(
            what,
            f"{hms(start)}\N{EN DASH}{hms(end)} UTC is older than the {stream.retention_hours} h "
            f"of video its stream keeps (since {readable_utc(oldest)})",
            permanent=True,
        )


def _live_document(camera_id: str, mode: str, link: MediaLink) -> dict[str, Any]:
    from cloud.rekognition_messages import iso_ms

    return {
        "camera_id": camera_id,
        "mode": mode,
        "url": link.url,
        "expires_at": iso_ms(link.expires_at),
    }


def _print_link(camera_id: str, mode: str, link: MediaLink) -> None:
    """The URL alone on stdout (to pipe into a player), what it is on stderr."""
    from cli.output import console, err_console
    from cloud.rekognition_messages import readable_utc

    console().print(link.url, markup=False, highlight=False, soft_wrap=True)
    err_console().print(
        f"camera {camera_id}: {mode} HLS session, works until {readable_utc(link.expires_at)}",
        markup=False,
        highlight=False,
    )


def _open(camera_id: str, link: MediaLink) -> None:
    import webbrowser

    from cli.output import err_console
    from cloud.errors import FleetError

    if not webbrowser.open(link.url):
        raise FleetError(f"no browser to open; the HLS URL: {link.url}")
    err_console().print(f"opened camera {camera_id}'s video in a browser", markup=False)


def add_media_commands(app: typer.Typer) -> None:
    """Add `clip` and `live` to the `camera` app."""
    app.command()(handled(clip))
    app.command()(handled(live))
