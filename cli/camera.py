"""`fleet camera ...`: register, list, show, overview, events, simulate, remove, and (from
`cli.camera_media`) clip and live.

Each command imports what it uses when it runs: the read commands call AWS without Prefect, the
commands that run a flow import Prefect, and only `simulate` reaches the local stack.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.camera_media import add_media_commands
from cli.errors import handled
from cli.options import DryRun, JsonOption, KeepResults, Scenario, Yes
from cli.settings import current_settings

if TYPE_CHECKING:
    from cloud.clients import AwsClients
    from cloud.links import MediaLink
    from cloud.models import CameraRecord, CameraSpec
    from cloud.rekognition_messages import DetectionRecord
    from cloud.settings import FleetSettings
    from cloud.shadow import CameraStatus
    from flows.register import RegistrationOutcome
    from flows.runtime import Runtime

_READERS = 8  # cameras read at once by `camera list`

app = typer.Typer(
    help="Register, inspect and remove cameras, and list their detections.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command()
@handled
def register(
    camera_id: Annotated[str | None, typer.Argument(help="Camera id (= thing, stream).")] = None,
    labels: Annotated[str | None, typer.Option(help="PERSON,PET,PACKAGE or ALL.")] = None,
    min_confidence: Annotated[float | None, typer.Option(help="0 to 100 (default 50).")] = None,
    retention_hours: Annotated[int | None, typer.Option(help="KVS retention, >= 1.")] = None,
    max_duration: Annotated[
        int | None, typer.Option(help="Seconds per analysis session, 1 to 120.")
    ] = None,
    region_of_interest: Annotated[
        list[str] | None,
        typer.Option(help="box:L,T,W,H or polygon:X,Y;X,Y;X,Y (ratios); repeatable, up to 10."),
    ] = None,
    recognize_faces: Annotated[
        bool,
        typer.Option(
            "--recognize-faces",
            help="Name the people it sees from the fleet's known faces (`fleet faces add`).",
        ),
    ] = False,
    many: Annotated[
        Path | None, typer.Option(help="Register every camera in a file (JSON list or ids).")
    ] = None,
    replace: Annotated[
        bool, typer.Option(help="Re-create a processor whose fixed settings differ.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Register a camera (or --many): provision its AWS resources and write its device bundle."""
    from cli.camera_input import camera_spec, camera_specs_from_file
    from cli.output import console, emit_json
    from cli.prefect_context import run_flow
    from cloud.errors import InvalidInputError
    from flows.register import register_camera_flow

    settings = current_settings()
    if many is not None:
        if camera_id is not None:
            raise InvalidInputError("give either a camera id or --many FILE, not both")
        if recognize_faces:
            raise InvalidInputError(
                "with --many, give recognize_faces per camera in the file (JSON list of cameras)"
            )
        _register_many(settings, camera_specs_from_file(many), replace, json_output)
        return
    if camera_id is None:
        raise InvalidInputError("a camera id is required (or --many FILE)")
    spec = camera_spec(
        camera_id,
        labels,
        min_confidence,
        retention_hours,
        max_duration,
        region_of_interest,
        recognize_faces=recognize_faces,
    )
    result = run_flow(settings, register_camera_flow(camera=spec, replace=replace))
    if json_output:
        emit_json(result)
        return
    console().print(f"camera [bold]{result.camera_id}[/] registered")
    for change in result.changed or ("nothing changed",):
        console().print(f"  {change}")
    console().print(f"  bundle: {result.bundle_dir}")


def _register_many(
    settings: FleetSettings, specs: list[CameraSpec], replace: bool, json_output: bool
) -> None:
    from rich.progress import Progress

    from cli.output import emit_json, err_console
    from cli.prefect_context import run_flow
    from flows.register import progress_reporter, register_cameras_flow

    outcomes: list[RegistrationOutcome] = []
    with Progress(console=err_console()) as progress:
        bar = progress.add_task("registering", total=len(specs))

        def report(outcome: RegistrationOutcome) -> None:
            outcomes.append(outcome)
            progress.advance(bar)
            if outcome.error:
                progress.console.print(f"[red]{outcome.camera_id}[/]: {outcome.error}")

        token = progress_reporter.set(report)
        try:
            run_flow(settings, register_cameras_flow(cameras=specs, replace=replace))
        finally:
            progress_reporter.reset(token)
            if json_output:
                emit_json(sorted(outcomes, key=_camera_of))


@app.command("list")
@handled
def list_cameras(json_output: JsonOption = False) -> None:
    """List the fleet's cameras from the IoT thing registry, with whether each is online."""
    from concurrent.futures import ThreadPoolExecutor
    from functools import partial

    from cli.control_plane import control_plane
    from cli.output import emit_json, emit_table
    from cloud.registry import list_camera_ids

    rt = control_plane(current_settings())
    ids = list_camera_ids(rt.clients, rt.names)
    with ThreadPoolExecutor(max_workers=_READERS) as pool:  # the time goes in waiting for AWS
        cameras = list(pool.map(partial(_read_camera, rt), ids))
    if json_output:
        emit_json([_document(r, s) for r, s in cameras])
        return
    emit_table(
        f"fleet {rt.names.fleet}: {len(cameras)} cameras",
        ["camera", "status", "labels", "confidence", "processor", "stream"],
        [
            (
                r.camera_id,
                _online(s),
                ",".join(r.settings.sorted_labels),
                r.settings.min_confidence,
                r.processor_status,
                r.stream_arn,
            )
            for r, s in cameras
        ],
    )


@app.command()
@handled
def show(camera_id: str, json_output: JsonOption = False) -> None:
    """Show one camera's settings, resources and status (online, last seen, latest health)."""
    from cli.control_plane import control_plane
    from cli.output import emit_json

    record, status = _read_camera(control_plane(current_settings()), camera_id)
    if json_output:
        emit_json(_document(record, status))
        return
    _print_camera(record, status)


@app.command()
@handled
def overview(json_output: JsonOption = False) -> None:
    """Every camera's status, as the fleet-status flow publishes it (the flow runs here, now).

    For the local stack's own parts, see `fleet status`.
    """
    from cli.output import console, emit_json, emit_table
    from cli.prefect_context import run_flow
    from flows.fleet_status import fleet_status_flow
    from flows.fleet_status_report import COLUMNS, summary_line, table_rows

    status = run_flow(current_settings(), fleet_status_flow())
    if json_output:
        emit_json(status)
        return
    emit_table(
        f"fleet {status.fleet}: {summary_line(status)}",
        COLUMNS,
        [list(row.values()) for row in table_rows(status)],
    )
    if status.attention:
        console().print("[bold]needs attention[/]")
        for line in status.attention:
            console().print(f"  {line}", markup=False, highlight=False)


@app.command()
@handled
def events(
    camera_id: str,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 20,
    open_latest: Annotated[
        bool, typer.Option("--open", help="Open the latest detection's frame in a browser.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """List the camera's detections, newest first (label, confidence, who was seen, time,
    session, images), each with a link to its frame and its session's clip that work for
    FLEET_SNAPSHOT_LINK_SECONDS, and when its media expire (FLEET_MEDIA_RETENTION_DAYS): expired
    media get no link."""
    from cli.control_plane import control_plane
    from cli.event_clips import clip_document, clip_links, clip_records, print_clips
    from cli.output import emit_json, emit_table
    from cloud import detections
    from cloud.errors import NotFoundError
    from cloud.naming import validate_camera_id
    from cloud.registry import require_member
    from cloud.retention import media_expired

    validate_camera_id(camera_id)
    settings = current_settings()
    rt = control_plane(settings)
    found = detections.list_detections(rt.clients, rt.names.detections_table, camera_id, limit)
    if not found:
        require_member(rt.clients, rt.names, camera_id)  # none yet, or no such camera
        if open_latest:
            raise NotFoundError(f"camera {camera_id} has no detections yet: no frame to open")
    days, now, seconds = (
        settings.media_retention_days,
        datetime.now(UTC),
        settings.snapshot_link_seconds,
    )
    frames = [
        None if media_expired(r.detected_at, days, now) else _frame_link(rt.clients, r, seconds)
        for r in found
    ]
    if open_latest:
        _open_frame(found[0], frames[0])
    clips = clip_records(rt.clients, rt.names.detections_table, found)
    expired = {r.session_id: media_expired(r.detected_at, days, now) for r in found}
    clip_urls = clip_links(rt.clients, clips, expired, seconds)
    if json_output:
        documents = [
            {
                **_detection_document(r, link, days, now),
                **clip_document(clips[r.session_id], clip_urls.get(r.session_id)),
            }
            for r, link in zip(found, frames, strict=True)
        ]
        emit_json(documents)
        return
    emit_table(
        f"camera {camera_id}: {len(found)} detections, newest first",
        ["time (UTC)", "label", "confidence", "faces", "notified", "session", "media", "frame"],
        [_detection_row(record, days, now) for record in found],
    )
    _print_frame_links(found, frames)
    print_clips(found, clips, clip_urls)


@app.command()
@handled
def simulate(
    camera_id: str,
    scenario: Annotated[Scenario, typer.Option(help="What the camera sees.")],
    seconds: Annotated[int, typer.Option(min=5, max=86_400, help="Run the agent this long.")] = 60,
    wait_seconds: Annotated[
        int, typer.Option(min=0, max=900, help="Then wait at most this long for the analyses.")
    ] = 150,
    json_output: JsonOption = False,
) -> None:
    """Run the camera's agent on a synthetic scene (person, empty or storm) and report the
    motion it published, the analysis sessions it started and their detections."""
    from cli.control_plane import control_plane
    from cli.errors import fail
    from cli.output import emit_json
    from cli.simulate import print_report, run_simulation, scene_kind

    rt = control_plane(current_settings(), whole_stack=True)
    report = run_simulation(rt, camera_id, scene_kind(scenario), seconds, wait_seconds)
    if json_output:
        emit_json(report)
    else:
        print_report(report)
    if report.agent_exit_code != 0:
        fail(f"the agent exited with code {report.agent_exit_code} (its log is above)", 1)


@app.command()
@handled
def remove(
    camera_id: Annotated[str, typer.Argument(help="The camera to remove.")],
    dry_run: DryRun = False,
    yes: Yes = False,
    json_output: JsonOption = False,
    keep_results: KeepResults = False,
) -> None:
    """Remove one camera: everything of it, in order (the teardown-fleet flow for one camera)."""
    from cli.teardown import run_teardown

    run_teardown(
        current_settings(),
        [camera_id],
        dry_run=dry_run,
        yes=yes,
        json_output=json_output,
        keep_results=keep_results,
    )


add_media_commands(app)


def _read_camera(rt: Runtime, camera_id: str) -> tuple[CameraRecord, CameraStatus]:
    """The camera's record and the status the bridge keeps in its shadow."""
    from concurrent.futures import ThreadPoolExecutor

    from cloud.registry import show_camera
    from cloud.shadow import read_status

    with ThreadPoolExecutor(max_workers=1) as pool:  # the shadow is read beside the registry
        status = pool.submit(read_status, rt.clients, rt.names.thing(camera_id))
        record = show_camera(rt.clients, rt.names, camera_id)
    return record, status.result()


def _document(record: CameraRecord, status: CameraStatus) -> dict[str, Any]:
    """The record and, beside it, the status the bridge keeps in the camera's shadow."""
    return {**record.model_dump(mode="json"), **status.model_dump(mode="json", by_alias=True)}


def _online(status: CameraStatus) -> str:
    return {True: "online", False: "offline", None: "never seen"}[status.online]


def _print_camera(record: CameraRecord, status: CameraStatus) -> None:
    from cli.output import console

    out = console()
    for key, value in record.model_dump(mode="json").items():
        out.print(f"[bold]{key}[/]: {value}")
    since = f" since {status.status_since.isoformat()}" if status.status_since else ""
    reason = f" ({status.status_reason})" if status.status_reason else ""
    out.print(f"[bold]online[/]: {_online(status)}{since}{reason}")
    last_seen = status.last_seen.isoformat() if status.last_seen else None
    out.print(f"[bold]last_seen[/]: {last_seen}")
    last_motion = status.last_motion.isoformat() if status.last_motion else None
    out.print(f"[bold]last_motion[/]: {last_motion}")
    health = status.health
    if health is None:
        out.print("[bold]health[/]: None")
        return
    error = f", error: {health.pipeline_error}" if health.pipeline_error else ""
    out.print(
        f"[bold]health[/]: pipeline {health.pipeline.value}{error}; {health.fps:g} fps, "
        f"{health.bitrate_kbps:g} kbps, {health.dropped_frames} dropped frames, "
        f"{health.restarts} restarts, up {health.uptime_seconds:.0f} s, "
        f"{health.motion_count} motions"
    )


def _media_state(record: DetectionRecord, days: int, now: datetime) -> str:
    """`until 2027-01-06` or `expired 2027-01-06` (the frame and crop, by the lifecycle rule)."""
    from cloud.retention import media_expired, media_expires_at

    when = media_expires_at(record.detected_at, days).date().isoformat()
    return f"expired {when}" if media_expired(record.detected_at, days, now) else f"until {when}"


def _detection_row(record: DetectionRecord, days: int, now: datetime) -> tuple[object, ...]:
    from cloud.rekognition_messages import faces_summary, iso_ms

    confidence = f"{record.confidence:.1f}%" if record.confidence is not None else None
    return (
        iso_ms(record.detected_at),
        record.label,
        confidence,
        faces_summary(record.faces),
        record.notification.value,
        record.session_id,
        _media_state(record, days, now),
        record.frame_uri,
    )


def _frame_link(clients: AwsClients, record: DetectionRecord, seconds: int) -> MediaLink | None:
    """A link to the detection's frame, signed now with the CLI's credentials; None (with a
    note on stderr) for a frame URI that is no S3 object."""
    from cli.output import err_console
    from cloud.errors import InvalidInputError
    from cloud.links import presigned_link

    try:
        return presigned_link(clients, record.frame_uri, seconds)
    except InvalidInputError as err:
        err_console().print(f"note: no link to the frame of {record.key}: {err}", markup=False)
        return None


def _detection_document(
    record: DetectionRecord, frame: MediaLink | None, days: int, now: datetime
) -> dict[str, Any]:
    """The record and, beside it, its frame's link (`frame_url`, null if none could be made or
    the media expired) and when its media expire."""
    from cloud.rekognition_messages import iso_ms
    from cloud.retention import media_expired, media_expires_at

    return {
        **record.model_dump(mode="json"),
        "frame_url": None if frame is None else frame.url,
        "frame_url_expires_at": None if frame is None else iso_ms(frame.expires_at),
        "media_expires_at": iso_ms(media_expires_at(record.detected_at, days)),
        "media_expired": media_expired(record.detected_at, days, now),
    }


def _print_frame_links(found: list[DetectionRecord], frames: list[MediaLink | None]) -> None:
    """The links below the table, one per line and unwrapped, so they stay clickable."""
    from cli.output import console
    from cloud.rekognition_messages import iso_ms, readable_utc

    made = [(r, link) for r, link in zip(found, frames, strict=True) if link is not None]
    if not made:
        return
    out = console()
    out.print(f"frame links (each works until {readable_utc(made[0][1].expires_at)}):")
    for record, link in made:
        out.print(
            f"  {iso_ms(record.detected_at)} {record.label}: {link.url}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _open_frame(record: DetectionRecord, frame: MediaLink | None) -> None:
    import webbrowser

    from cli.output import err_console
    from cloud.errors import FleetError

    if frame is None:
        raise FleetError(
            f"no link to the frame of {record.key} ({record.frame_uri}): its media expired, "
            "or it is no S3 object"
        )
    if not webbrowser.open(frame.url):
        raise FleetError(f"no browser to open; the frame's link: {frame.url}")
    err_console().print(f"opened the frame of {record.key} in a browser", markup=False)


def _camera_of(outcome: RegistrationOutcome) -> str:
    return outcome.camera_id
