"""Fragmented MP4 boxes, cut and edited for HLS (pure).

``mp4mux`` with a fragment duration longer than its input writes one fragment as
``ftyp moov [uuid] moof mdat [mfra]``. HLS wants the ``ftyp moov`` part once (the init fragment)
and the ``moof mdat`` part per segment, each ``moof`` saying where its samples lie on the
session's timeline: its ``tfdt`` (base media decode time, written here as a 64-bit version 1 box)
and its ``mfhd`` sequence number.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

_INIT = (b"ftyp", b"moov")
_MEDIA = (b"moof", b"mdat")
_TRUN_DATA_OFFSET = 0x000001


class BoxError(ValueError):
    """The bytes are not the boxes expected."""


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, offset, size) of each box in ``data[start:end]``."""
    end = len(data) if end is None else end
    at = start
    while at < end:
        if at + 8 > end:
            raise BoxError("a box header is cut short")
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        if size == 1:
            size = struct.unpack(">Q", data[at + 8 : at + 16])[0]
        elif size == 0:
            size = end - at
        if size < 8 or at + size > end:
            raise BoxError(f"box {kind!r} at {at} has a bad size {size}")
        yield kind, at, size
        at += size


def top_level_types(data: bytes) -> list[bytes]:
    return [kind for kind, _, _ in boxes(data)]


def split(data: bytes) -> tuple[bytes, bytes]:
    """(init, media) of one fragmented MP4 file: ``ftyp moov`` and ``moof mdat`` boxes."""
    found = list(boxes(data))
    kinds = {kind for kind, _, _ in found}
    if not {b"moov", b"moof", b"mdat"} <= kinds:
        raise BoxError(f"a fragmented MP4 needs moov, moof and mdat, not {sorted(kinds)}")
    init = b"".join(data[at : at + size] for kind, at, size in found if kind in _INIT)
    media = b"".join(data[at : at + size] for kind, at, size in found if kind in _MEDIA)
    return init, media


def placed(media: bytes, decode_time: int, sequence: int) -> bytes:
    """`media` (``moof mdat`` boxes) with every ``tfdt`` set to `decode_time` (track timescale
    units) and every ``mfhd`` to `sequence`."""
    out = bytearray()
    for kind, at, size in boxes(media):
        box = media[at : at + size]
        out += _moof(box, decode_time, sequence) if kind == b"moof" else box
    return bytes(out)


def _moof(moof: bytes, decode_time: int, sequence: int) -> bytes:
    body = bytearray()
    growth = 0
    for kind, at, size in boxes(moof, 8):
        box = moof[at : at + size]
        if kind == b"mfhd":
            box = box[:12] + struct.pack(">I", sequence)
        elif kind == b"traf":
            box = _traf(box, decode_time)
            growth += len(box) - size
        body += box
    new = struct.pack(">I4s", 8 + len(body), b"moof") + bytes(body)
    return _shift_data_offsets(new, growth) if growth else new


def _traf(traf: bytes, decode_time: int) -> bytes:
    body = bytearray()
    tfdt = struct.pack(">I4sI", 20, b"tfdt", 1 << 24) + struct.pack(">Q", decode_time)
    wrote = False
    for kind, at, size in boxes(traf, 8):
        if kind == b"tfdt":
            body += tfdt
            wrote = True
            continue
        if kind == b"trun" and not wrote:  # tfdt goes before the runs
            body += tfdt
            wrote = True
        body += traf[at : at + size]
    if not wrote:
        body += tfdt
    return struct.pack(">I4s", 8 + len(body), b"traf") + bytes(body)


def _shift_data_offsets(moof: bytes, growth: int) -> bytes:
    """Every ``trun`` data offset (from the moof's start to its samples) moved by `growth`."""
    out = bytearray(moof)
    for kind, at, size in boxes(moof, 8):
        if kind != b"traf":
            continue
        for inner, inner_at, _ in boxes(moof, at + 8, at + size):
            flags = int.from_bytes(moof[inner_at + 9 : inner_at + 12], "big")
            if inner == b"trun" and flags & _TRUN_DATA_OFFSET:
                field = inner_at + 16
                (offset,) = struct.unpack(">i", moof[field : field + 4])
                out[field : field + 4] = struct.pack(">i", offset + growth)
    return bytes(out)
