"""Time-limited links to the fleet's stored media: presigned S3 GET URLs anyone holding them can
open with a plain HTTP GET, until they expire.

The links are SigV4 (S3 refuses SigV2 on buckets created since mid-2020, and botocore still
presigns with SigV2 unless told otherwise): on AWS at the bucket's regional virtual-hosted address
(`https://<bucket>.s3.<region>.amazonaws.com/<key>?X-Amz-...`), on the local stack path-style at
its endpoint. A link signed with temporary credentials stops working when they expire, whatever
its lifetime says.
"""

from __future__ import annotations

import re
import threading
import weakref
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.config import Config

from cloud.clients import AwsClients
from cloud.errors import InvalidInputError, aws_call
from cloud.models import Model
from cloud.settings import LOCAL_CREDENTIALS

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

MIN_SECONDS = 1
MAX_SECONDS = 604_800  # SigV4's limit: 7 days
# The bucket part of the fleet's S3 URIs (as `cloud.rekognition_messages.S3Uri`).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_AMZ_DATE = "%Y%m%dT%H%M%SZ"


def bucket_and_key(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` as its parts; InvalidInputError for anything else."""
    if not uri.startswith("s3://"):
        raise InvalidInputError(f"{uri!r} is not an s3://bucket/key URI")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not key:
        raise InvalidInputError(f"{uri!r} names no object (s3://bucket/key)")
    if not _BUCKET.match(bucket):
        raise InvalidInputError(f"{uri!r}: {bucket!r} is not an S3 bucket name")
    return bucket, key


def link_expires_at(url: str) -> datetime:
    """When a SigV4 presigned URL stops working: its signing time plus its lifetime, read from
    the URL itself (so it is right whatever clock the caller keeps)."""
    query = parse_qs(urlsplit(url).query)
    try:
        signed = datetime.strptime(query["X-Amz-Date"][0], _AMZ_DATE).replace(tzinfo=UTC)
        return signed + timedelta(seconds=int(query["X-Amz-Expires"][0]))
    except (KeyError, ValueError) as err:
        raise InvalidInputError(
            f"not a SigV4 presigned URL (X-Amz-Date, X-Amz-Expires): {err}"
        ) from err


class MediaLink(Model):
    """A presigned URL and when it stops working."""

    url: str
    expires_at: datetime


def presigned_link(clients: AwsClients, uri: str, seconds: int) -> MediaLink:
    url = presigned_get(clients, uri, seconds)
    return MediaLink(url=url, expires_at=link_expires_at(url))


def presigned_get(clients: AwsClients, uri: str, seconds: int) -> str:
    """A URL that GETs the object `uri` (`s3://bucket/key`) for `seconds` (1 s to 7 days).
    Signing is local: no request is made, and an object that does not exist gives a link that
    answers 404."""
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise InvalidInputError(
            f"a link's lifetime is {MIN_SECONDS} to {MAX_SECONDS} s (SigV4), not {seconds}"
        )
    bucket, key = bucket_and_key(uri)
    with aws_call(f"sign a link to {uri}"):
        return _signer(clients).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds
        )


_SIGNERS: weakref.WeakKeyDictionary[AwsClients, S3Client] = weakref.WeakKeyDictionary()
_SIGNERS_LOCK = threading.Lock()


def _signer(clients: AwsClients) -> S3Client:
    """The S3 client that signs links, one per `AwsClients`: the same credentials and endpoint as
    `clients.s3`, with SigV4 presigning and, on AWS, the regional virtual-hosted address."""
    with _SIGNERS_LOCK:
        signer = _SIGNERS.get(clients)
        if signer is None:
            signer = _make_signer(clients)
            _SIGNERS[clients] = signer
        return signer


def _make_signer(clients: AwsClients) -> S3Client:
    settings = clients.settings
    if settings.is_local:  # path-style: the endpoint is an IP address
        session = boto3.session.Session(
            region_name=settings.region,
            aws_access_key_id=LOCAL_CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=LOCAL_CREDENTIALS["aws_secret_access_key"],
        )
        config = Config(signature_version="s3v4")
    else:
        session = boto3.session.Session(
            region_name=settings.region, profile_name=settings.aws_profile
        )
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"},
        )
    return session.client("s3", endpoint_url=settings.endpoint_url, config=config)
