"""A media answer of the archived-media endpoint: bytes and their content type."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stack.endpoint.kinesisvideo import StreamRef

MP4 = "video/mp4"
MPEG_TS = "video/mp2t"
M3U8 = "application/vnd.apple.mpegurl"


@dataclass(frozen=True)
class Media:
    content_type: str
    body: bytes


def stream_directory(fragment_root: Path | None, stream: StreamRef | str) -> Path | None:
    """Where a stream's fragments are; None without a store or for a name that is no directory."""
    name = stream if isinstance(stream, str) else stream.name
    if fragment_root is None or name in (".", ".."):
        return None
    return fragment_root / name
