"""An image request's ``Image.S3Object``, read from moto's S3 as Rekognition reads it.

The bucket must be in the request's region. A missing bucket, key or version, or a bucket in
another region: ``InvalidS3ObjectException`` with AWS's message.
"""

from __future__ import annotations

from moto.backends import get_backend
from moto.utilities.utils import get_partition

from stack.endpoint.exceptions import InvalidS3ObjectException

UNREADABLE = (
    "Unable to get object metadata from S3. Check object key, region and/or access permissions."
)


def read_s3_object(
    account_id: str, region: str, bucket: str, key: str, version: str | None
) -> bytes:
    backend = get_backend("s3")[account_id][get_partition(region)]
    try:
        found_bucket = backend.get_bucket(bucket)
    except Exception as err:  # moto's MissingBucket
        raise InvalidS3ObjectException(UNREADABLE) from err
    if getattr(found_bucket, "region_name", region) != region:
        raise InvalidS3ObjectException(UNREADABLE)
    try:
        found = backend.get_object(bucket, key, version_id=version)
    except Exception as err:  # moto's errors for a malformed version id
        raise InvalidS3ObjectException(UNREADABLE) from err
    if found is None:
        raise InvalidS3ObjectException(UNREADABLE)
    return bytes(found.value)
