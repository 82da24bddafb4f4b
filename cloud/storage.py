"""The fleet's results bucket (frames and crops written by the stream processors)."""

from __future__ import annotations

import logging

from cloud.clients import AwsClients
from cloud.errors import ConflictError, NotFoundError, aws_call
from cloud.tags import as_key_value_list

log = logging.getLogger(__name__)


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
    kwargs: dict[str, object] = {"Bucket": bucket}
    if clients.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": clients.region}
    try:
        with aws_call(f"create bucket {bucket}"):
            clients.s3.create_bucket(**kwargs)
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
