"""Who is in a detection's frame: DetectFaces on the frame, then each face's crop searched in the
fleet's collection. It runs on the frame either analyzer stored, with the image APIs that every
account has.

`recognise_frame` never raises for the face APIs' faults: a detection goes on without names
(FAILED, with the reason). A missing collection means nobody is known: every face is unknown.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from cloud.clients import AwsClients
from cloud.errors import FleetError, NotFoundError
from cloud.faces import collection as faces
from cloud.faces import photos as store
from cloud.faces.collection import FaceBox, FaceSearch
from cloud.faces.crop import face_crop
from cloud.faces.models import PERSON_NAME_PATTERN, FaceMatch, FaceRecognition, FaceStatus
from cloud.naming import FleetNames

log = logging.getLogger(__name__)

MAX_FACES = 10  # searched per frame, largest first
_PERSON_NAME = re.compile(PERSON_NAME_PATTERN)


def decide(boxes: Sequence[FaceBox], searches: Sequence[FaceSearch | None]) -> FaceRecognition:
    """The recognition of a frame from its faces and each face's search (None: not searchable,
    or nobody known). Pure."""
    if not boxes:
        return FaceRecognition(status=FaceStatus.NO_FACE)
    matches = []
    for box, search in zip(boxes, searches, strict=True):
        name = search.name if search is not None else None
        if name is not None and not _PERSON_NAME.fullmatch(name):
            log.warning("face matched %r, which is no person name of this fleet: unknown", name)
            name = None
        similarity = search.similarity if search is not None and name is not None else None
        matches.append(FaceMatch(name=name, similarity=similarity, box=box.as_tuple()))
    named = any(m.name is not None for m in matches)
    return FaceRecognition(
        status=FaceStatus.NAMED if named else FaceStatus.UNKNOWN, faces=tuple(matches)
    )


def recognise_frame(
    clients: AwsClients, collection: str, bucket: str, key: str, threshold: float
) -> FaceRecognition:
    """Name the faces of the frame `s3://bucket/key` (up to 10, largest first) at `threshold`
    percent similarity."""
    where = f"s3://{bucket}/{key}"
    try:
        boxes = faces.detect_faces(clients, faces.s3_image(bucket, key), where)[:MAX_FACES]
        if not boxes:
            return decide([], [])
        if len(boxes) == 1:  # the frame's one face is its largest: search the frame in place
            searches = _search_frame(clients, collection, bucket, key, threshold, where)
        else:
            frame = store.read_object(clients, bucket, key)
            searches = _search_each(clients, collection, frame, boxes, threshold, where)
    except FleetError as err:
        log.warning("face recognition of %s failed: %s", where, err)
        return FaceRecognition(status=FaceStatus.FAILED, reason=str(err))
    return decide(boxes, searches)


def _search_frame(
    clients: AwsClients, collection: str, bucket: str, key: str, threshold: float, where: str
) -> list[FaceSearch | None]:
    """SearchFacesByImage searches an image's largest face: with one face in the frame, the
    frame itself (read by Rekognition from S3: no download, no crop)."""
    try:
        return [
            faces.search_face(clients, collection, faces.s3_image(bucket, key), threshold, where)
        ]
    except NotFoundError:  # no collection: nobody is known
        log.debug("no face collection %s: the face of %s is unknown", collection, where)
        return [None]


def _search_each(
    clients: AwsClients,
    collection: str,
    frame: bytes,
    boxes: Sequence[FaceBox],
    threshold: float,
    where: str,
) -> list[FaceSearch | None]:
    searches: list[FaceSearch | None] = []
    for number, box in enumerate(boxes, start=1):
        image = faces.image_bytes(face_crop(frame, box))
        try:
            searches.append(
                faces.search_face(
                    clients, collection, image, threshold, f"face {number} of {where}"
                )
            )
        except NotFoundError:  # no collection: nobody is known
            log.debug("no face collection %s: the faces of %s are unknown", collection, where)
            return searches + [None] * (len(boxes) - len(searches))
    return searches


def quiet_names(clients: AwsClients, names: FleetNames) -> frozenset[str]:
    """The known people marked quiet (recorded, not notified), from their records: a listing of
    the faces prefix and one read per record. Raises FleetError when S3 fails."""
    bucket, prefix = names.results_bucket, names.faces_prefix
    quiet = set()
    for name in store.people_with_records(clients, bucket, prefix):
        person = store.read_person(clients, bucket, prefix, name)
        if person is not None and person.quiet:
            quiet.add(person.name)
    return frozenset(quiet)
