"""The fleet's known faces against the local AWS endpoint (real face matching): add, search,
refusals that store nothing, a failure half-way that leaves nothing, remove that leaves nothing
of the person, recognition of a frame, and teardown that deletes the collection and photos."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud import storage
from cloud.errors import AccessDeniedError, ConflictError, InvalidInputError, NotFoundError
from cloud.faces import collection as faces
from cloud.faces import photos as store
from cloud.faces.checks import Photo, check_photo
from cloud.faces.gallery import add_person, list_people, remove_person, search_photo
from cloud.faces.models import FaceStatus
from cloud.faces.photos import PERSON_TAG, QUIET_TAG
from cloud.faces.recognition import quiet_names, recognise_frame
from cloud.registration import RegistrationContext
from cloud.tags import OWNER_KEY
from cloud.teardown.actions import delete
from cloud.teardown.discovery import discover
from cloud.teardown.models import Kind
from cloud.teardown.plan import build_plan
from tests.support import faces as people
from tests.support.endpoint_admin import clear_faults, inject_fault, last_seq, requests_since
from tests.support.registration import registration_context

THRESHOLD = 95.0
WRITES = ("Create", "Index", "Put", "Delete", "Tag")


@pytest.fixture
def ctx(local_endpoint: Any, tmp_path: Path) -> Iterator[RegistrationContext]:
    local_endpoint.reset()
    clear_faults(local_endpoint.url)
    yield registration_context(local_endpoint, tmp_path, name="facefleet")
    clear_faults(local_endpoint.url)


def _photo(label: str, data: bytes) -> Photo:
    return check_photo(label, data)


def _faces_of(ctx: RegistrationContext, name: str) -> list[str]:
    indexed = faces.list_faces(ctx.clients, ctx.names.faces_collection) or []
    return [f.face_id for f in indexed if f.external_image_id == name]


def _keys(ctx: RegistrationContext, under: str = "") -> list[str]:
    return storage.list_keys(ctx.clients, ctx.names.results_bucket, ctx.names.faces_prefix + under)


def _writes_since(endpoint: Any, seq: int) -> list[str]:
    return [
        str(r["operation"])
        for r in requests_since(endpoint.url, seq)
        if str(r["operation"]).startswith(WRITES)
    ]


def test_a_person_added_is_named_in_another_photo_of_them_and_nobody_else_is(
    ctx: RegistrationContext,
) -> None:
    clients, names = ctx.clients, ctx.names

    report = add_person(clients, names, "alice", [_photo("a.jpg", people.person_a())])

    assert report.collection_created and report.changed
    (added,) = report.photos
    assert added.face_id is not None and not added.already
    assert _faces_of(ctx, "alice") == [added.face_id]
    record = store.read_person(clients, names.results_bucket, names.faces_prefix, "alice")
    assert record == report.person
    assert record.face_ids == (added.face_id,) and record.photos == (added.uri,)
    key = added.uri.removeprefix(f"s3://{names.results_bucket}/")
    assert key.startswith("faces/alice/") and key.endswith(".jpg")
    head = clients.s3.head_object(Bucket=names.results_bucket, Key=key)
    assert head["ServerSideEncryption"] == "AES256"
    tags = clients.s3.get_object_tagging(Bucket=names.results_bucket, Key=key)["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags}.items() >= {
        OWNER_KEY: "facefleet",
        PERSON_TAG: "alice",
        QUIET_TAG: "false",
    }.items()
    collection_tags = faces.collection_tags(clients, names.faces_collection_arn())
    assert collection_tags is not None and collection_tags[OWNER_KEY] == "facefleet"

    found = search_photo(clients, names, _photo("a2.jpg", people.person_a_transformed()), THRESHOLD)
    assert (found.status, found.name) == (FaceStatus.NAMED, "alice")
    assert found.similarity is not None and found.similarity >= THRESHOLD
    stranger = search_photo(clients, names, _photo("b.jpg", people.person_b()), THRESHOLD)
    assert (stranger.status, stranger.name) == (FaceStatus.UNKNOWN, None)
    nothing = search_photo(clients, names, _photo("cup.jpg", people.no_face()), THRESHOLD)
    assert (nothing.status, nothing.faces) == (FaceStatus.NO_FACE, 0)


def test_adding_the_same_photo_again_changes_nothing(
    ctx: RegistrationContext, local_endpoint: Any
) -> None:
    photo = _photo("a.jpg", people.person_a())
    first = add_person(ctx.clients, ctx.names, "alice", [photo])
    seq = last_seq(local_endpoint.url)

    again = add_person(ctx.clients, ctx.names, "alice", [_photo("copy.jpg", people.person_a())])

    assert not again.changed and again.photos[0].already
    assert again.person == first.person
    assert _writes_since(local_endpoint, seq) == []
    assert len(_faces_of(ctx, "alice")) == 1


def test_more_photos_add_to_a_person_who_keeps_being_quiet_until_told(
    ctx: RegistrationContext,
) -> None:
    clients, names = ctx.clients, ctx.names
    add_person(clients, names, "alice", [_photo("a.jpg", people.person_a())], quiet=True)
    assert quiet_names(clients, names) == frozenset({"alice"})

    more = add_person(clients, names, "alice", [_photo("a2.jpg", people.person_a_transformed())])
    assert more.person.quiet and len(more.person.face_ids) == 2 and len(more.person.photos) == 2

    loud = add_person(clients, names, "alice", [_photo("a.jpg", people.person_a())], quiet=False)
    assert loud.quiet_changed and not loud.person.quiet
    assert quiet_names(clients, names) == frozenset()
    for uri in loud.person.photos:  # every photo's tag follows the record
        key = uri.removeprefix(f"s3://{names.results_bucket}/")
        tags = clients.s3.get_object_tagging(Bucket=names.results_bucket, Key=key)["TagSet"]
        assert {t["Key"]: t["Value"] for t in tags}[QUIET_TAG] == "false"
    (summary,) = list_people(clients, names)
    assert (summary.name, summary.faces, summary.photos, summary.quiet) == ("alice", 2, 2, False)
    assert summary.problems == ()


@pytest.mark.parametrize(
    ("data", "found"),
    [(people.two_faces, "2 faces found"), (people.no_face, "no face found")],
)
def test_a_photo_without_exactly_one_face_is_refused_and_nothing_is_stored(
    ctx: RegistrationContext, local_endpoint: Any, data: Any, found: str
) -> None:
    seq = last_seq(local_endpoint.url)
    good = _photo("a.jpg", people.person_a())

    with pytest.raises(InvalidInputError) as refused:
        add_person(ctx.clients, ctx.names, "bob", [good, _photo("group.jpg", data())])

    assert f"group.jpg: {found}, a photo of bob must show one face" in str(refused.value)
    assert "a.jpg" not in str(refused.value).replace("group.jpg", "")
    assert _writes_since(local_endpoint, seq) == []
    assert faces.collection_tags(ctx.clients, ctx.names.faces_collection_arn()) is None
    assert _keys(ctx) == []


def test_a_bad_name_is_refused_before_any_call(
    ctx: RegistrationContext, local_endpoint: Any
) -> None:
    seq = last_seq(local_endpoint.url)
    with pytest.raises(InvalidInputError, match="person name 'Bob:1' is not valid"):
        add_person(ctx.clients, ctx.names, "Bob:1", [_photo("a.jpg", people.person_a())])
    assert requests_since(local_endpoint.url, seq) == []


def test_a_failure_half_way_removes_what_the_call_made(
    ctx: RegistrationContext, local_endpoint: Any
) -> None:
    clients, names = ctx.clients, ctx.names
    inject_fault(local_endpoint.url, "rekognition", "IndexFaces")
    with pytest.raises(AccessDeniedError):
        add_person(clients, names, "alice", [_photo("a.jpg", people.person_a())])
    assert faces.collection_tags(clients, names.faces_collection_arn()) is None
    assert _keys(ctx) == []

    add_person(clients, names, "alice", [_photo("a.jpg", people.person_a())])
    inject_fault(local_endpoint.url, "rekognition", "IndexFaces")
    with pytest.raises(AccessDeniedError):  # the second photo fails: the first is undone too
        add_person(
            clients,
            names,
            "bob",
            [_photo("b.jpg", people.person_b()), _photo("a2.jpg", people.person_a_transformed())],
        )
    assert _faces_of(ctx, "bob") == [] and _keys(ctx, "bob/") == []
    assert len(_faces_of(ctx, "alice")) == 1  # the collection, and alice, stay


def test_a_collection_of_that_name_not_made_by_the_fleet_is_refused(
    ctx: RegistrationContext,
) -> None:
    ctx.clients.rekognition.create_collection(CollectionId=ctx.names.faces_collection)
    with pytest.raises(ConflictError, match="is not fleet facefleet's"):
        add_person(ctx.clients, ctx.names, "alice", [_photo("a.jpg", people.person_a())])
    assert _keys(ctx) == []
    assert faces.list_faces(ctx.clients, ctx.names.faces_collection) == []


def test_remove_deletes_every_face_of_the_name_and_their_photos_and_shows_nothing_is_left(
    ctx: RegistrationContext,
) -> None:
    clients, names = ctx.clients, ctx.names
    add_person(clients, names, "alice", [_photo("a.jpg", people.person_a())])
    add_person(clients, names, "bob", [_photo("b.jpg", people.person_b())])
    # A face of alice indexed by hand, without any record: it goes too.
    clients.rekognition.index_faces(
        CollectionId=names.faces_collection,
        Image={"Bytes": people.person_a_transformed()},
        ExternalImageId="alice",
        MaxFaces=1,
    )
    assert len(_faces_of(ctx, "alice")) == 2

    report = remove_person(clients, names, "alice")

    assert (report.faces_deleted, report.objects_deleted) == (2, 2)  # photo and record
    assert report.proof == "alice: 0 faces in facefleet-faces, 0 objects under faces/alice/"
    assert _faces_of(ctx, "alice") == [] and _keys(ctx, "alice/") == []
    assert len(_faces_of(ctx, "bob")) == 1 and _keys(ctx, "bob/") != []
    found = search_photo(clients, names, _photo("a2.jpg", people.person_a_transformed()), 95.0)
    assert found.status is FaceStatus.UNKNOWN
    with pytest.raises(NotFoundError, match="no known person 'alice'"):
        remove_person(clients, names, "alice")


def test_list_shows_faces_indexed_without_a_record(ctx: RegistrationContext) -> None:
    clients, names = ctx.clients, ctx.names
    add_person(clients, names, "alice", [_photo("a.jpg", people.person_a())], quiet=True)
    clients.rekognition.index_faces(
        CollectionId=names.faces_collection,
        Image={"Bytes": people.person_b()},
        ExternalImageId="carol",
        MaxFaces=1,
    )

    alice, carol = list_people(clients, names)

    assert (alice.name, alice.faces, alice.photos, alice.quiet) == ("alice", 1, 1, True)
    assert (carol.name, carol.faces, carol.quiet) == ("carol", 1, None)
    assert "no record" in carol.problems[0]


def test_each_face_of_a_frame_is_named_or_unknown(ctx: RegistrationContext) -> None:
    clients, names = ctx.clients, ctx.names
    bucket, key = names.results_bucket, "cameras/porch/facefleet-porch/s1/PERSON-1/frame.jpg"
    clients.s3.put_object(Bucket=bucket, Key=key, Body=people.two_faces())
    collection = names.faces_collection

    nobody = recognise_frame(clients, collection, bucket, key, THRESHOLD)
    assert nobody.status is FaceStatus.UNKNOWN and len(nobody.faces) == 2

    add_person(clients, names, "alice", [_photo("a.jpg", people.person_a())])
    seen = recognise_frame(clients, collection, bucket, key, THRESHOLD)
    assert seen.status is FaceStatus.NAMED
    assert sorted((f.name or "") for f in seen.faces) == ["", "alice"]
    (alice,) = [f for f in seen.faces if f.name == "alice"]
    assert alice.box[0] < 0.5  # she is on the left of the frame
    assert alice.similarity is not None and alice.similarity >= THRESHOLD

    clients.s3.put_object(Bucket=bucket, Key="cameras/porch/cup.jpg", Body=people.no_face())
    cup = recognise_frame(clients, collection, bucket, "cameras/porch/cup.jpg", THRESHOLD)
    assert cup.status is FaceStatus.NO_FACE


def test_teardown_deletes_the_collection_and_the_photos(
    ctx: RegistrationContext, local_endpoint: Any, tmp_path: Path
) -> None:
    clients, names = ctx.clients, ctx.names
    add_person(clients, names, "alice", [_photo("a.jpg", people.person_a())])
    add_person(clients, names, "bob", [_photo("b.jpg", people.person_b())])
    other = registration_context(local_endpoint, tmp_path / "other", name="otherfleet")
    add_person(other.clients, other.names, "alice", [_photo("a.jpg", people.person_a())])

    inventory = discover(clients, names)
    plan = build_plan(inventory, keep_results=True)  # known faces are not results: they go
    planned = {(s.resource.kind, s.resource.name): s.resource for s in plan.steps}
    assert planned[Kind.FACE_COLLECTION, "facefleet-faces"].count == 2
    photos = planned[Kind.FACE_PHOTOS, "faces/"]
    assert (photos.parent, photos.count) == (names.results_bucket, 4)  # 2 photos, 2 records
    assert Kind.BUCKET in {r.kind for r in plan.kept}

    for step in plan.steps:
        delete(clients, step.resource)

    assert faces.collection_tags(clients, names.faces_collection_arn()) is None
    assert _keys(ctx) == []
    after = {r.kind for r in discover(clients, names).resources}
    assert not after & {Kind.FACE_COLLECTION, Kind.FACE_PHOTOS}
    # Another fleet's collection and photos are untouched.
    assert len(faces.list_faces(other.clients, other.names.faces_collection) or []) == 1
    assert storage.list_keys(other.clients, other.names.results_bucket, "faces/") != []


def test_a_lookalike_collection_is_left_alone(ctx: RegistrationContext) -> None:
    ctx.clients.rekognition.create_collection(
        CollectionId=ctx.names.faces_collection, Tags={OWNER_KEY: "someone-else"}
    )
    inventory = discover(ctx.clients, ctx.names)
    assert not any(r.kind is Kind.FACE_COLLECTION for r in inventory.resources)
    (alone,) = [a for a in inventory.left_alone if a.kind is Kind.FACE_COLLECTION]
    assert "someone-else" in alone.reason


# The command line, on the same endpoint.


def test_the_commands_add_list_search_and_remove(
    ctx: RegistrationContext, local_endpoint: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from cli import faces as cli_faces
    from flows.runtime import Runtime

    runtime = Runtime(ctx.clients.settings)
    monkeypatch.setattr(cli_faces, "_runtime", lambda: runtime)
    (tmp_path / "a.jpg").write_bytes(people.person_a())
    (tmp_path / "a2.jpg").write_bytes(people.person_a_transformed())
    (tmp_path / "group.jpg").write_bytes(people.two_faces())
    monkeypatch.chdir(tmp_path)

    def fleet(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli_faces.app, list(args))
        return result.exit_code, result.output

    code, out = fleet("add", "alice", "group.jpg")
    assert code == 2
    assert "group.jpg: 2 faces found, a photo of alice must show one face" in out

    code, out = fleet("add", "alice", "a.jpg", "--quiet")
    assert code == 0, out
    assert out.startswith("alice: 1 photo added to facefleet-faces (created it), 1 face in all")
    assert "quiet (recorded, not notified)" in out

    code, out = fleet("add", "alice", "a.jpg")
    assert (code, out.splitlines()[0]) == (
        0,
        "alice: nothing to do: every photo is stored already; quiet (recorded, not notified)",
    )

    code, out = fleet("list", "--json")
    assert code == 0
    assert '"name": "alice"' in out and '"faces": 1' in out and '"quiet": true' in out

    assert fleet("search", "a2.jpg")[1].startswith("alice, ")
    assert fleet("search", "group.jpg")[1].strip().endswith("(the largest of 2 faces)")

    code, out = fleet("remove", "alice")
    assert code == 0, out
    assert out.splitlines()[-1] == "alice: 0 faces in facefleet-faces, 0 objects under faces/alice/"

    code, out = fleet("remove", "alice")
    assert code == 3 and "no known person 'alice'" in out
    assert fleet("search", "a2.jpg")[1].startswith("unknown: no known face at 95% or more")
