"""The fleet's known people: add, list, remove, search (what `fleet faces` runs).

Adding checks the name and every photo (DetectFaces: exactly one face) before anything is stored,
and undoes what it made when a later step fails. Removing finds a person's faces by their
ExternalImageId (ListFaces), so faces indexed without a record go too, and then counts what is
left of them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from cloud import storage
from cloud.clients import AwsClients
from cloud.errors import ConflictError, FleetError, InvalidInputError, NotFoundError
from cloud.faces import collection as faces
from cloud.faces import photos as store
from cloud.faces.checks import Photo, face_count_problem, validate_person_name
from cloud.faces.models import FaceStatus, KnownPerson
from cloud.models import Model
from cloud.naming import FleetNames
from cloud.tags import fleet_tags
from cloud.teardown.ownership import by_tags

log = logging.getLogger(__name__)


class AddedPhoto(Model):
    label: str
    uri: str
    face_id: str | None = None  # None: the photo was stored already; nothing was done
    already: bool = False


class AddReport(Model):
    person: KnownPerson
    collection: str
    photos: tuple[AddedPhoto, ...]
    collection_created: bool = False
    quiet_changed: bool = False

    @property
    def changed(self) -> bool:
        return self.quiet_changed or any(not p.already for p in self.photos)


class PersonSummary(Model):
    name: str
    quiet: bool | None  # None: no record
    faces: int  # in the collection, by ExternalImageId
    photos: int  # in the record
    problems: tuple[str, ...] = ()


class RemovalReport(Model):
    name: str
    collection: str
    prefix: str
    faces_deleted: int
    objects_deleted: int
    faces_left: int
    objects_left: int

    @property
    def proof(self) -> str:
        return (
            f"{self.name}: {self.faces_left} faces in {self.collection}, "
            f"{self.objects_left} objects under {self.prefix}"
        )


class PhotoSearch(Model):
    photo: str
    status: FaceStatus  # NAMED, UNKNOWN or NO_FACE
    faces: int  # faces DetectFaces found in the photo; the largest is searched
    threshold: float
    name: str | None = None
    similarity: float | None = None


@dataclass
class _Journal:
    """Undo actions for what this call made, newest last."""

    undo: list[tuple[str, Callable[[], object]]] = field(default_factory=list)

    def made(self, what: str, undo: Callable[[], object]) -> None:
        self.undo.append((what, undo))

    def rollback(self, name: str) -> list[str]:
        """Undo newest first; keep going past failures and return what could not be undone."""
        left: list[str] = []
        for what, action in reversed(self.undo):
            try:
                action()
                log.info("person %s: rolled back %s", name, what)
            except Exception as err:  # report, keep undoing the rest
                log.error("person %s: could not roll back %s: %s", name, what, err)
                left.append(f"{what} ({err})")
        self.undo.clear()
        return left


# Add.


def check_photos(clients: AwsClients, name: str, photos: Sequence[Photo]) -> list[Photo]:
    """The distinct photos (by content) if each shows exactly one face; else InvalidInputError
    naming every photo refused and what was found in it. Stores nothing."""
    distinct = list({p.sha256: p for p in reversed(photos)}.values())[::-1]
    if not distinct:
        raise InvalidInputError(f"no photo of {name} given")
    problems = []
    for photo in distinct:
        found = faces.detect_faces(clients, faces.image_bytes(photo.data), photo.label)
        problem = face_count_problem(photo, len(found), name)
        if problem:
            problems.append(problem)
    if problems:
        raise InvalidInputError("; ".join(problems) + ". Nothing was stored")
    return distinct


def add_person(
    clients: AwsClients,
    names: FleetNames,
    name: str,
    photos: Sequence[Photo],
    *,
    quiet: bool | None = None,
) -> AddReport:
    """Index each photo's face as `name` and keep the photo; `quiet` None keeps the person's
    setting (a new person is not quiet). A photo stored for them already is left as it is."""
    name = validate_person_name(name)
    distinct = check_photos(clients, name, photos)
    bucket = names.results_bucket
    if not storage.bucket_exists(clients, bucket):
        raise NotFoundError(
            f"fleet {names.fleet} has no results bucket {bucket} to keep photos in: run "
            "`fleet init` first. Nothing was stored"
        )
    journal = _Journal()
    try:
        return _add(clients, names, name, distinct, quiet, journal)
    except BaseException as err:
        left = journal.rollback(name)
        if left and isinstance(err, FleetError):
            raise type(err)(f"{err} (rollback left: {', '.join(left)})") from err
        raise


def _add(
    clients: AwsClients,
    names: FleetNames,
    name: str,
    photos: list[Photo],
    quiet: bool | None,
    journal: _Journal,
) -> AddReport:
    bucket, prefix, collection = names.results_bucket, names.faces_prefix, names.faces_collection
    before = store.read_person(clients, bucket, prefix, name) or KnownPerson(name=name)
    now_quiet = before.quiet if quiet is None else quiet
    created = _ensure_collection(clients, names, journal)
    tags = store.object_tags(names.fleet, name, now_quiet)
    added: list[AddedPhoto] = []
    face_ids: list[str] = []
    for photo in photos:
        key = store.photo_key(prefix, name, photo)
        uri = store.s3_uri(bucket, key)
        if uri in before.photos:
            added.append(AddedPhoto(label=photo.label, uri=uri, already=True))
            continue
        store.put_photo(clients, bucket, key, photo, tags)
        journal.made(uri, partial(store.delete_object, clients, bucket, key))
        face_id = _index(clients, collection, name, photo)
        journal.made(f"face {face_id}", partial(faces.delete_faces, clients, collection, [face_id]))
        face_ids.append(face_id)
        added.append(AddedPhoto(label=photo.label, uri=uri, face_id=face_id))
    after = before.model_copy(
        update={
            "quiet": now_quiet,
            "face_ids": before.face_ids + tuple(face_ids),
            "photos": before.photos + tuple(p.uri for p in added if not p.already),
        }
    )
    report = AddReport(
        person=after,
        collection=collection,
        photos=tuple(added),
        collection_created=created,
        quiet_changed=now_quiet != before.quiet,
    )
    if report.quiet_changed:
        _retag(clients, names, before, tags, journal)
    if report.changed:
        store.write_person(clients, bucket, prefix, after, tags)
        log.info("person %s: %d photos added, quiet %s", name, len(face_ids), now_quiet)
    return report


def _ensure_collection(clients: AwsClients, names: FleetNames, journal: _Journal) -> bool:
    """The fleet's collection, created (and, on failure, removed again) if absent; one that is
    not tagged as the fleet's is refused. True if this call created it."""
    collection, arn = names.faces_collection, names.faces_collection_arn()
    tags = faces.collection_tags(clients, arn)
    if tags is None:
        if faces.ensure_collection(clients, collection, fleet_tags(names.fleet)):
            journal.made(
                f"face collection {collection}",
                partial(faces.delete_collection, clients, collection),
            )
            return True
        tags = faces.collection_tags(clients, arn) or {}  # created meanwhile by another call
    verdict = by_tags(tags, names.fleet)
    if not verdict.ours:
        raise ConflictError(
            f"face collection {collection} exists but is not fleet {names.fleet}'s "
            f"({verdict.reason}): nothing was stored"
        )
    return False


def _index(clients: AwsClients, collection: str, name: str, photo: Photo) -> str:
    outcome = faces.index_face(
        clients, collection, faces.image_bytes(photo.data), name, photo.label
    )
    if outcome.face_id is None:
        why = ", ".join(outcome.unindexed_reasons) or "no reason given"
        raise InvalidInputError(
            f"{photo.label}: Rekognition did not index the face ({why}): use a sharper, "
            "brighter photo with the face larger and turned to the camera"
        )
    return outcome.face_id


def _retag(
    clients: AwsClients,
    names: FleetNames,
    before: KnownPerson,
    tags: dict[str, str],
    journal: _Journal,
) -> None:
    """The person's photos stored before this call get the new quiet tag."""
    bucket = names.results_bucket
    old = store.object_tags(names.fleet, before.name, before.quiet)
    for uri in before.photos:
        key = uri.removeprefix(f"s3://{bucket}/")
        store.retag(clients, bucket, key, tags)
        journal.made(f"tags of {uri}", partial(store.retag, clients, bucket, key, old))


# List.


def list_people(clients: AwsClients, names: FleetNames) -> list[PersonSummary]:
    """Everyone with a record or a face in the collection, and where the two disagree."""
    bucket, prefix = names.results_bucket, names.faces_prefix
    indexed = faces.list_faces(clients, names.faces_collection) or []
    per_name = Counter(f.external_image_id or "" for f in indexed)
    people = []
    for name in sorted(set(store.recorded_names(clients, bucket, prefix)) | set(per_name)):
        record = store.read_person(clients, bucket, prefix, name) if name else None
        count = per_name.get(name, 0)
        problems = []
        if record is None:
            problems.append("no record: faces indexed without `fleet faces add`")
        elif len(record.face_ids) != count:
            problems.append(f"the record lists {len(record.face_ids)} faces")
        people.append(
            PersonSummary(
                name=name or "(no name)",
                quiet=record.quiet if record else None,
                faces=count,
                photos=len(record.photos) if record else 0,
                problems=tuple(problems),
            )
        )
    return people


# Remove.


def remove_person(clients: AwsClients, names: FleetNames, name: str) -> RemovalReport:
    """Delete every face indexed as `name`, their photos and record; then count what is left."""
    name = validate_person_name(name)
    bucket, collection = names.results_bucket, names.faces_collection
    prefix = store.person_prefix(names.faces_prefix, name)
    tags = faces.collection_tags(clients, names.faces_collection_arn())
    if tags is not None and not (verdict := by_tags(tags, names.fleet)).ours:
        raise ConflictError(
            f"face collection {collection} is not fleet {names.fleet}'s ({verdict.reason}): "
            "nothing was deleted"
        )
    theirs = _face_ids(clients, collection, name)
    keys = store.person_keys(clients, bucket, names.faces_prefix, name)
    if not theirs and not keys:
        raise NotFoundError(
            f"no known person {name!r} in fleet {names.fleet}: no face in {collection} and "
            f"nothing under s3://{bucket}/{prefix} (`fleet faces list` shows who is known)"
        )
    deleted = faces.delete_faces(clients, collection, theirs)
    objects = store.delete_person_objects(clients, bucket, names.faces_prefix, name)
    log.info("person %s: deleted %d faces and %d objects", name, deleted, objects)
    return RemovalReport(
        name=name,
        collection=collection,
        prefix=prefix,
        faces_deleted=deleted,
        objects_deleted=objects,
        faces_left=len(_face_ids(clients, collection, name)),
        objects_left=len(store.person_keys(clients, bucket, names.faces_prefix, name)),
    )


def _face_ids(clients: AwsClients, collection: str, name: str) -> list[str]:
    indexed = faces.list_faces(clients, collection) or []
    return [f.face_id for f in indexed if f.external_image_id == name]


# Search.


def search_photo(
    clients: AwsClients, names: FleetNames, photo: Photo, threshold: float
) -> PhotoSearch:
    """Who the largest face of `photo` is, at `threshold` percent similarity."""
    image = faces.image_bytes(photo.data)
    found = faces.detect_faces(clients, image, photo.label)
    result = PhotoSearch(
        photo=photo.label, status=FaceStatus.NO_FACE, faces=len(found), threshold=threshold
    )
    if not found:
        return result
    try:
        match = faces.search_face(clients, names.faces_collection, image, threshold, photo.label)
    except NotFoundError:  # no collection yet: nobody is known
        return result.model_copy(update={"status": FaceStatus.UNKNOWN})
    if match is None:
        return result
    if match.name is None:
        return result.model_copy(update={"status": FaceStatus.UNKNOWN})
    return result.model_copy(
        update={"status": FaceStatus.NAMED, "name": match.name, "similarity": match.similarity}
    )
