"""Archived-media errors beyond the endpoint's common ones, each with its AWS error code."""

from __future__ import annotations

from stack.endpoint.exceptions import LocalAwsError, ResourceNotFoundException


class UnsupportedStreamMediaTypeException(LocalAwsError):
    """Track 1 of the first fragment is not H.264 (codec ID ``V_MPEG4/ISO/AVC``)."""

    code = "UnsupportedStreamMediaTypeException"


class InvalidMediaFrameException(LocalAwsError):
    """A frame of the requested clip cannot be parsed (the remux failed)."""

    code = "InvalidMediaFrameException"


class NotAuthorizedException(LocalAwsError):
    """An HLS session token that is unknown or has expired: HTTP 403, as the HLS URLs answer."""

    code = "NotAuthorizedException"
    status = 403


class NoFragmentsException(ResourceNotFoundException):
    """No fragment in the requested range (or, for LIVE, received lately): HTTP 404."""

    status = 404
