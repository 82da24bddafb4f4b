"""Which fragments a clip holds (pure).

The API reference: only fragments that start at or after ``StartTimestamp`` are included; the
``EndTimestamp`` is inclusive and compared with a fragment's start; the MP4 holds "the first
100 MB or the first 200 fragments from the specified start timestamp". So a longer range is cut,
not refused. Start times are producer or server timestamps as the selector says.
"""

from __future__ import annotations

from stack.endpoint.archived_media.selectors import FragmentSelectorType
from stack.endpoint.archived_media.store import StoredFragment

MAX_FRAGMENTS = 200
MAX_BYTES = 100 * 1024 * 1024


def start_of(fragment: StoredFragment, selector: FragmentSelectorType) -> int:
    if selector is FragmentSelectorType.SERVER_TIMESTAMP:
        return fragment.server_ms
    return fragment.producer_ms


def in_range(
    fragments: list[StoredFragment], selector: FragmentSelectorType, start_ms: int, end_ms: int
) -> list[StoredFragment]:
    """The fragments starting within ``[start_ms, end_ms]``, in the order of their starts."""
    chosen = [f for f in fragments if start_ms <= start_of(f, selector) <= end_ms]
    return sorted(chosen, key=lambda f: start_of(f, selector))


def clip_fragments(
    fragments: list[StoredFragment], selector: FragmentSelectorType, start_ms: int, end_ms: int
) -> list[StoredFragment]:
    """The fragments of the clip: those in range, cut at 200 fragments or 100 MB."""
    chosen: list[StoredFragment] = []
    size = 0
    for fragment in in_range(fragments, selector, start_ms, end_ms)[:MAX_FRAGMENTS]:
        if chosen and size + fragment.size > MAX_BYTES:
            break
        chosen.append(fragment)
        size += fragment.size
    return chosen
