"""Errors of the local AWS endpoint, each carrying its AWS error code.

Models raise these; the wire layer turns them into the protocol's error body
(HTTP 400 JSON ``{"__type": code, "Message": ...}`` for the JSON services we
emulate), so botocore raises ``ClientError`` with the same code as AWS.
"""

from __future__ import annotations


class LocalAwsError(Exception):
    """An AWS API error: ``code`` is what botocore reports as ``Error.Code``."""

    code = "InternalServerError"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ResourceNotFoundException(LocalAwsError):
    code = "ResourceNotFoundException"


class ResourceInUseException(LocalAwsError):
    code = "ResourceInUseException"


class ResourceAlreadyExistsException(LocalAwsError):
    code = "ResourceAlreadyExistsException"


class InvalidParameterException(LocalAwsError):
    code = "InvalidParameterException"


class InvalidPaginationTokenException(LocalAwsError):
    code = "InvalidPaginationTokenException"


class LimitExceededException(LocalAwsError):
    code = "LimitExceededException"


class NoSuchResourceException(LocalAwsError):
    """Service Quotas' "not found" error."""

    code = "NoSuchResourceException"


class UnknownOperationException(LocalAwsError):
    code = "UnknownOperationException"


class AccessDeniedException(LocalAwsError):
    code = "AccessDeniedException"


class InvalidImageFormatException(LocalAwsError):
    code = "InvalidImageFormatException"


class ImageTooLargeException(LocalAwsError):
    code = "ImageTooLargeException"


class InvalidS3ObjectException(LocalAwsError):
    code = "InvalidS3ObjectException"


class InvalidArgumentException(LocalAwsError):
    """Kinesis Video Streams' "invalid input" error."""

    code = "InvalidArgumentException"


class StreamNotFoundException(ResourceNotFoundException):
    """Kinesis Video Streams' "no such stream": HTTP 404, as its APIs answer."""

    status = 404


class NoDataRetentionException(LocalAwsError):
    """Archived media asked of a stream that keeps no data (``DataRetentionInHours`` 0)."""

    code = "NoDataRetentionException"
