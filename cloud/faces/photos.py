"""Known people's photos and records in the results bucket, beside the collection.

Layout under the fleet's faces prefix: `<name>/<sha256>.<jpg|png>` for each photo a person's faces
were indexed from (so the collection can be rebuilt), and `<name>/person.json`, the person's
record (`KnownPerson`), the source of truth for `quiet` and the face ids. Every object is
encrypted at rest (SSE-S3) and tagged with the fleet and the person; the bucket is private.
"""

from __future__ import annotations

import logging
from typing import Final
from urllib.parse import urlencode

from pydantic import ValidationError

from cloud import storage
from cloud.clients import AwsClients
from cloud.errors import FleetError, NotFoundError, aws_call
from cloud.faces.checks import Photo
from cloud.faces.models import KnownPerson
from cloud.paging import listed
from cloud.tags import fleet_tags

log = logging.getLogger(__name__)

RECORD = "person.json"
PERSON_TAG = "camera-fleet:person"
QUIET_TAG = "camera-fleet:quiet"
ENCRYPTION: Final = "AES256"  # SSE-S3


# Keys: pure.


def person_prefix(faces_prefix: str, name: str) -> str:
    return f"{faces_prefix}{name}/"


def record_key(faces_prefix: str, name: str) -> str:
    return f"{person_prefix(faces_prefix, name)}{RECORD}"


def photo_key(faces_prefix: str, name: str, photo: Photo) -> str:
    return f"{person_prefix(faces_prefix, name)}{photo.sha256}.{photo.format.extension}"


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def object_tags(fleet: str, name: str, quiet: bool) -> dict[str, str]:
    return {**fleet_tags(fleet), PERSON_TAG: name, QUIET_TAG: "true" if quiet else "false"}


def _tagging(tags: dict[str, str]) -> str:
    return urlencode(sorted(tags.items()))


# I/O.


def put_photo(
    clients: AwsClients, bucket: str, key: str, photo: Photo, tags: dict[str, str]
) -> None:
    with aws_call(f"store {photo.label} as s3://{bucket}/{key}"):
        clients.s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=photo.data,
            ContentType=photo.format.content_type,
            ServerSideEncryption=ENCRYPTION,
            Tagging=_tagging(tags),
        )


def retag(clients: AwsClients, bucket: str, key: str, tags: dict[str, str]) -> None:
    with aws_call(f"tag s3://{bucket}/{key}"):
        clients.s3.put_object_tagging(
            Bucket=bucket,
            Key=key,
            Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]},
        )


def delete_object(clients: AwsClients, bucket: str, key: str) -> None:
    with aws_call(f"delete s3://{bucket}/{key}"):
        clients.s3.delete_object(Bucket=bucket, Key=key)


def write_person(
    clients: AwsClients, bucket: str, faces_prefix: str, person: KnownPerson, tags: dict[str, str]
) -> None:
    key = record_key(faces_prefix, person.name)
    with aws_call(f"write the record of {person.name} to s3://{bucket}/{key}"):
        clients.s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=person.model_dump_json(indent=2).encode(),
            ContentType="application/json",
            ServerSideEncryption=ENCRYPTION,
            Tagging=_tagging(tags),
        )


def read_person(
    clients: AwsClients, bucket: str, faces_prefix: str, name: str
) -> KnownPerson | None:
    """The person's record; None if there is none (or no bucket)."""
    key = record_key(faces_prefix, name)
    try:
        with aws_call(f"read the record of {name} from s3://{bucket}/{key}"):
            body = clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except NotFoundError:
        return None
    try:
        return KnownPerson.model_validate_json(body)
    except ValidationError as err:
        raise FleetError(f"s3://{bucket}/{key} is not a person record: {err}") from err


def recorded_names(clients: AwsClients, bucket: str, faces_prefix: str) -> list[str]:
    """The names that have a folder under the faces prefix (a record, photos, or both)."""
    try:
        prefixes = listed(
            f"list the people under s3://{bucket}/{faces_prefix}",
            clients.s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=faces_prefix, Delimiter="/"
            ),
            lambda page: page.get("CommonPrefixes", []),
        )
    except NotFoundError:
        return []
    names = (p.get("Prefix", "")[len(faces_prefix) :].rstrip("/") for p in prefixes)
    return sorted(n for n in names if n)


def people_with_records(clients: AwsClients, bucket: str, faces_prefix: str) -> list[str]:
    """The names that have a record: read from one listing, so no record is asked for that is
    not there (a reader allowed only the records and the listing gets AccessDenied for those)."""
    names = []
    for key in storage.list_keys(clients, bucket, faces_prefix):
        name, slash, rest = key[len(faces_prefix) :].partition("/")
        if name and slash and rest == RECORD:
            names.append(name)
    return sorted(names)


def person_keys(clients: AwsClients, bucket: str, faces_prefix: str, name: str) -> list[str]:
    return storage.list_keys(clients, bucket, person_prefix(faces_prefix, name))


def delete_person_objects(clients: AwsClients, bucket: str, faces_prefix: str, name: str) -> int:
    """Delete the person's photos and record; returns how many objects there were."""
    return storage.delete_prefix(clients, bucket, person_prefix(faces_prefix, name))


def read_object(clients: AwsClients, bucket: str, key: str) -> bytes:
    with aws_call(f"read s3://{bucket}/{key}"):
        body: bytes = clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body
