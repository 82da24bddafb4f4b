"""Which images a GetImages request asks for, page by page (pure).

The images are at ``StartTimestamp + k * SamplingInterval`` for every ``k`` that stays within
``[StartTimestamp, EndTimestamp]``, both ends included (the API reference: the timestamps form
"an inclusive range"); a range shorter than the interval gives the one image at
``StartTimestamp``. A page holds at most 25 images, fewer if ``MaxResults`` says so (the API
reference: a larger ``MaxResults`` still gives pages of 25), and a ``NextToken`` while images
remain.

A token is the base64 of the index of the next image and a digest of the request's window
(stream, selector, range, interval), so it is refused (``InvalidArgumentException``) with any
other window.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass

from stack.endpoint.exceptions import InvalidArgumentException

MAX_PAGE = 25


def sample_times(start_ms: int, end_ms: int, interval_ms: int) -> list[int]:
    """Every sampled time of the window, in order."""
    count = (end_ms - start_ms) // interval_ms + 1
    return [start_ms + k * interval_ms for k in range(count)]


def window_key(*parts: object) -> str:
    """A short digest of what identifies a window, for its tokens."""
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


def encode_token(index: int, key: str) -> str:
    return base64.b64encode(json.dumps({"i": index, "w": key}).encode()).decode()


def decode_token(token: str, key: str) -> int:
    """The index a token continues from; refused unless it came from the same window."""
    try:
        payload = json.loads(base64.b64decode(token.encode(), validate=True))
        index, issued_for = payload["i"], payload["w"]
    except (ValueError, KeyError, TypeError, binascii.Error) as err:
        raise InvalidArgumentException("NextToken is not valid.") from err
    if issued_for != key or not isinstance(index, int) or index < 0:
        raise InvalidArgumentException("NextToken does not belong to this request.")
    return index


@dataclass(frozen=True)
class Page:
    times: list[int]
    next_token: str | None


def page_of(times: list[int], max_results: int | None, token: str | None, key: str) -> Page:
    first = decode_token(token, key) if token else 0
    size = min(max_results or MAX_PAGE, MAX_PAGE)
    chosen = times[first : first + size]
    after = first + size
    return Page(chosen, encode_token(after, key) if after < len(times) else None)
