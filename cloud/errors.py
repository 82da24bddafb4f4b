"""The project's error hierarchy, and the one place AWS error codes are translated into it."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)


class FleetError(Exception):
    """Base of every error the fleet raises on purpose. The CLI prints its message as one line."""

    exit_code = 1


class InvalidInputError(FleetError, ValueError):
    """The caller asked for something malformed; nothing was created."""

    exit_code = 2


class NotFoundError(FleetError):
    exit_code = 3


class ConflictError(FleetError):
    """The resource exists with settings that cannot be changed in place."""

    exit_code = 4


class QuotaExceededError(FleetError):
    exit_code = 5


class RetryableError(FleetError):
    """Throttling or a transient service fault: safe to try again."""

    exit_code = 6


class AccessDeniedError(FleetError):
    exit_code = 7


class UnavailableError(FleetError):
    """The AWS endpoint cannot be reached, or there are no credentials to call it with."""

    exit_code = 8


_NOT_FOUND = {
    "ResourceNotFoundException",
    "NoSuchEntity",
    "NoSuchBucket",
    "NotFoundException",
    "NotFound",
    "404",  # S3 HeadBucket/HeadObject answer with a bare status code
    "NoSuchKey",
    "NoSuchTagSet",  # S3: a bucket without tags
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
}
_CONFLICT = {
    "ResourceAlreadyExistsException",
    "EntityAlreadyExists",
    "ResourceInUseException",
    "BucketAlreadyOwnedByYou",
    "DeleteConflict",
    "ConflictException",
    "VersionConflictException",
    "ConditionalCheckFailedException",  # DynamoDB: a conditional write found another state
    "QueueNameExists",
    "QueueAlreadyExists",
}
_RETRYABLE = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
    "SlowDown",
    "TransactionConflictException",
    "TransactionInProgressException",
    "AWS.SimpleQueueService.QueueDeletedRecently",
    "QueueDeletedRecently",
}
# DynamoDB TransactWriteItems: why each action was cancelled.
_CANCELLED_RETRYABLE = {
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
}
_QUOTA = {"LimitExceededException", "LimitExceeded", "ServiceQuotaExceededException"}
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
}
_INVALID = {
    "InvalidParameterException",
    "InvalidParameterValue",
    "ValidationException",
    "InvalidRequestException",
    "MalformedPolicyDocument",
    "InvalidArgumentException",
}


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def translate(err: ClientError, what: str) -> FleetError:
    """Turn a botocore ClientError into the project's error, naming what was being done."""
    code = error_code(err)
    message = err.response.get("Error", {}).get("Message", "") or str(err)
    text = f"{what}: {code}: {message}"
    if code == "TransactionCanceledException":
        reasons = {r.get("Code") for r in err.response.get("CancellationReasons", [])}
        if "ConditionalCheckFailed" in reasons:
            return ConflictError(text)
        if reasons & _CANCELLED_RETRYABLE:
            return RetryableError(text)
    if code in _NOT_FOUND:
        return NotFoundError(text)
    if code in _CONFLICT:
        return ConflictError(text)
    if code in _RETRYABLE:
        return RetryableError(text)
    if code in _QUOTA:
        return QuotaExceededError(text)
    if code in _DENIED:
        return AccessDeniedError(text)
    if code in _INVALID:
        return InvalidInputError(text)
    return FleetError(text)


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, RetryableError):
        return True
    return isinstance(exc, ClientError) and error_code(exc) in _RETRYABLE


class aws_call:  # noqa: N801 - used as a context manager, reads like a statement
    """`with aws_call("create KVS stream front-door"):` translates ClientError at the boundary."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, ClientError):
            raise translate(exc, self.what) from exc
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            raise UnavailableError(
                f"{self.what}: no AWS credentials (configure a profile, FLEET_AWS_PROFILE, or "
                "the AWS_* environment variables)"
            ) from exc
        if isinstance(exc, ConnectionError):
            raise UnavailableError(f"{self.what}: cannot reach AWS: {exc}") from exc
        if isinstance(exc, BotoCoreError):
            raise FleetError(f"{self.what}: {exc}") from exc
