"""`fleet faces ...`: the fleet's known people (add, list, remove, search).

The photos are read here; everything else is `cloud.faces.gallery`, imported when a command runs.
No command runs a flow: they call AWS directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.errors import fail, handled
from cli.options import JsonOption
from cli.settings import current_settings

if TYPE_CHECKING:
    from cloud.faces.checks import Photo
    from cloud.faces.gallery import AddReport, PhotoSearch
    from flows.runtime import Runtime

app = typer.Typer(
    help="The fleet's known faces: who a PERSON detection is named as (biometric data: see the "
    "README for what is stored where, and `fleet faces remove` to erase a person).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

Name = Annotated[str, typer.Argument(help="The person's name: a-z, 0-9, '.', '-', '_'.")]


def _runtime() -> Runtime:
    from cli.control_plane import control_plane

    return control_plane(current_settings())


def read_photo(path: Path) -> Photo:
    """The file as a photo the gallery takes (JPEG or PNG, at most 5 MB), read no further than
    that limit."""
    from cloud.errors import InvalidInputError
    from cloud.faces.checks import MAX_IMAGE_BYTES, check_photo

    label = str(path)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_IMAGE_BYTES + 1)
            size = path.stat().st_size
    except FileNotFoundError as err:
        raise InvalidInputError(f"{label}: no such file") from err
    except IsADirectoryError as err:
        raise InvalidInputError(f"{label}: a directory, not a photo") from err
    except OSError as err:
        raise InvalidInputError(f"{label}: cannot be read: {err.strerror or err}") from err
    if size > len(data):  # larger than the limit: say how large
        raise InvalidInputError(
            f"{label}: {size:,} bytes, more than the {MAX_IMAGE_BYTES:,} bytes (5 MB) "
            "Rekognition takes: make it smaller"
        )
    return check_photo(label, data)


@app.command()
@handled
def add(
    name: Name,
    photos: Annotated[
        list[Path], typer.Argument(help="Photos of the person, each showing one face.")
    ],
    quiet: Annotated[
        bool | None,
        typer.Option(
            "--quiet/--notify",
            help="Quiet: their detections are recorded, not notified (a household member). "
            "Not given: a new person is notified, a known one keeps their setting.",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Add a person (or more photos of one): each photo must show exactly one face. Every photo
    is checked before anything is stored; the photos are kept, private and encrypted, beside the
    collection."""
    from cli.output import emit_json
    from cloud.faces.checks import validate_person_name
    from cloud.faces.gallery import add_person

    validate_person_name(name)
    read = [read_photo(p) for p in photos]
    rt = _runtime()
    report = add_person(rt.clients, rt.names, name, read, quiet=quiet)
    if json_output:
        emit_json(report)
        return
    _show_added(report)


def _say(text: str) -> None:
    """One line as it is: no markup, no colouring, never wrapped (people grep these)."""
    from cli.output import console

    console().print(text, markup=False, highlight=False, soft_wrap=True)


def _count(number: int, what: str) -> str:
    return f"{number} {what}" if number == 1 else f"{number} {what}s"


def _show_added(report: AddReport) -> None:
    person = report.person
    added = [p for p in report.photos if not p.already]
    quiet = "quiet (recorded, not notified)" if person.quiet else "notified"
    if not report.changed:
        _say(f"{person.name}: nothing to do: every photo is stored already; {quiet}")
    else:
        created = " (created it)" if report.collection_created else ""
        _say(
            f"{person.name}: {_count(len(added), 'photo')} added to {report.collection}{created}, "
            f"{_count(len(person.face_ids), 'face')} in all; {quiet}"
        )
    for photo in report.photos:
        what = "already stored: nothing done" if photo.already else f"face {photo.face_id}"
        _say(f"  {photo.label}  {what}  {photo.uri}")


@app.command("list")
@handled
def list_(json_output: JsonOption = False) -> None:
    """The known people: faces in the collection, photos kept, quiet or not."""
    from cli.output import emit_json, emit_table
    from cloud.faces.gallery import list_people

    rt = _runtime()
    people = list_people(rt.clients, rt.names)
    if json_output:
        emit_json(people)
        return
    if not people:
        _say(f"fleet {rt.names.fleet} knows nobody yet: `fleet faces add NAME PHOTO` adds someone")
        return
    emit_table(
        f"known people of fleet {rt.names.fleet} ({rt.names.faces_collection})",
        ("name", "faces", "photos", "quiet", "note"),
        [
            (
                p.name,
                p.faces,
                p.photos,
                "?" if p.quiet is None else ("yes" if p.quiet else "no"),
                "; ".join(p.problems),
            )
            for p in people
        ],
    )


@app.command()
@handled
def remove(name: Name, json_output: JsonOption = False) -> None:
    """Erase a person: every face indexed under their name, their photos and their record;
    then show that nothing of them is left."""
    from cli.output import emit_json
    from cloud.faces.gallery import remove_person

    rt = _runtime()
    report = remove_person(rt.clients, rt.names, name)
    if json_output:
        emit_json(report)
    else:
        _say(
            f"removed {report.name}: {_count(report.faces_deleted, 'face')} deleted from "
            f"{report.collection}, {_count(report.objects_deleted, 'object')} deleted under "
            f"s3://{rt.names.results_bucket}/{report.prefix}"
        )
        _say(report.proof)
    if report.faces_left or report.objects_left:
        fail(f"something of {report.name} is left: {report.proof}; run the command again")


@app.command()
@handled
def search(
    photo: Annotated[Path, typer.Argument(help="A photo (JPEG or PNG) to search for.")],
    json_output: JsonOption = False,
) -> None:
    """Who the largest face of the photo is, at the fleet's match threshold
    (FLEET_FACE_MATCH_THRESHOLD)."""
    from cli.output import emit_json
    from cloud.faces.gallery import search_photo

    read = read_photo(photo)
    rt = _runtime()
    result = search_photo(rt.clients, rt.names, read, rt.settings.face_match_threshold)
    if json_output:
        emit_json(result)
        return
    _say(search_line(result))


def search_line(result: PhotoSearch) -> str:
    """`alice, 99.2%`, `unknown`, or `no face in PHOTO`, with how many faces were seen."""
    from cloud.faces.models import FaceStatus

    if result.status is FaceStatus.NO_FACE:
        return f"no face in {result.photo}"
    largest = f" (the largest of {result.faces} faces)" if result.faces > 1 else ""
    if result.status is FaceStatus.NAMED:
        return f"{result.name}, {result.similarity or 0:.1f}%{largest}"
    return f"unknown: no known face at {result.threshold:g}% or more{largest}"
