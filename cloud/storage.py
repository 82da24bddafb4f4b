"""The fleet's results bucket (frames and crops written by the stream processors)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from cloud.clients import AwsClients
from cloud.errors import ConflictError, FleetError, NotFoundError, aws_call
from cloud.paging import listed
from cloud.tags import as_key_value_list

if TYPE_CHECKING:
    from types_boto3_s3.literals import BucketLocationConstraintType

log = logging.getLogger(__name__)

MAX_DELETE_BATCH = 1000  # DeleteObjects' limit
US_EAST_1 = "us-east-1"


def bucket_exists(clients: AwsClients, bucket: str) -> bool:
    try:
        with aws_call(f"head bucket {bucket}"):
            clients.s3.head_bucket(Bucket=bucket)
    except NotFoundError:
        return False
    return True


def ensure_bucket(clients: AwsClients, bucket: str, tags: dict[str, str]) -> bool:
    """Private, encrypted, tagged. Returns True if this call created it."""
    if bucket_exists(clients, bucket):
        return False
    try:
        with aws_call(f"create bucket {bucket}"):
            if clients.region == US_EAST_1:  # the one region that takes no location constraint
                clients.s3.create_bucket(Bucket=bucket)
            else:
                # The stubs list the regions S3 knew of; S3 itself judges the fleet's region.
                region = cast("BucketLocationConstraintType", clients.region)
                clients.s3.create_bucket(
                    Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
                )
    except ConflictError:
        return False  # created concurrently by another registration
    with aws_call(f"configure bucket {bucket}"):
        clients.s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        clients.s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        clients.s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": as_key_value_list(tags)})
    log.info("created results bucket %s", bucket)
    return True


def bucket_tags(clients: AwsClients, bucket: str) -> dict[str, str] | None:
    """The bucket's tags ({} if it has none), or None if there is no such bucket."""
    if not bucket_exists(clients, bucket):
        return None
    try:
        with aws_call(f"get the tags of bucket {bucket}"):
            tag_set = clients.s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    except NotFoundError:  # NoSuchTagSet
        return {}
    return {t["Key"]: t["Value"] for t in tag_set}


def list_keys(clients: AwsClients, bucket: str, prefix: str = "") -> list[str]:
    try:
        objects = listed(
            f"list objects of s3://{bucket}/{prefix}",
            clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix),
            lambda page: page.get("Contents", []),
        )
    except NotFoundError:
        return []
    return [o["Key"] for o in objects]


def delete_prefix(clients: AwsClients, bucket: str, prefix: str) -> int:
    """Delete every object under `prefix`; returns how many there were."""
    keys = list_keys(clients, bucket, prefix)
    for start in range(0, len(keys), MAX_DELETE_BATCH):
        batch = keys[start : start + MAX_DELETE_BATCH]
        with aws_call(f"delete {len(batch)} objects of s3://{bucket}/{prefix}"):
            answer = clients.s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
        errors = answer.get("Errors", [])
        if errors:
            first = errors[0]
            raise FleetError(
                f"s3://{bucket}/{first.get('Key')}: {first.get('Code')}: {first.get('Message')} "
                f"({len(errors)} objects not deleted)"
            )
    if keys:
        log.info("deleted %d objects under s3://%s/%s", len(keys), bucket, prefix)
    return len(keys)


def delete_bucket(clients: AwsClients, bucket: str) -> bool:
    """Empty the bucket (it is not versioned), then delete it."""
    if not bucket_exists(clients, bucket):
        return False
    delete_prefix(clients, bucket, "")
    with aws_call(f"delete bucket {bucket}"):
        clients.s3.delete_bucket(Bucket=bucket)
    log.info("deleted bucket %s", bucket)
    return True
