"""What the agent needs from the output of `gst-launch-1.0 -m -v -e` (and of gst_child.py).

Pure and cheap: the agent reads about two lines per video frame (the meter's `last-message`
as a -v line and again as a -m property-notify message), so each line is rejected or accepted on
its first characters before any regular expression runs. The lines it reads (GStreamer 1.22,
shortened here):

    Setting pipeline to PLAYING ...
    /GstPipeline:pipeline0/GstIdentity:meter: last-message = chain   ******* (meter:sink)
        (341 bytes, dts: ..., pts: 1000:00:00.066666666, duration: 0:00:00.066666666, ...,
        flags: 00002200 marker delta-unit , meta: none) 0x7fcd48135d80
    Got message #388 from element "store" (element): splitmuxsink-fragment-closed,
        location=(string)/run/00000.mkv, running-time=(guint64)2015917211, sink=...;
    Got message #298 from element "motion" (element): motion,
        motion_cells_indices=(string)9:8, motion_begin=(guint64)1800000000;
    ERROR: from element /GstPipeline:pipeline0/GstRTSPSrc:src: Unauthorized
    WARNING: erroneous pipeline: no element "kvssink"
    Got EOS from element "pipeline0".

gst-launch's messages are translated: run it in the C locale (device.pipeline.child_env).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Playing:
    """The pipeline is going to PLAYING: running time 0 is (about) now."""


@dataclass(frozen=True, slots=True)
class MotionBegan:
    running_time_ns: int
    cells: int  # motion cells that moved in the first motion frame (of motioncells' grid)


@dataclass(frozen=True, slots=True)
class MotionFinished:
    running_time_ns: int


@dataclass(frozen=True, slots=True)
class FragmentOpened:
    location: Path
    running_time_ns: int


@dataclass(frozen=True, slots=True)
class FragmentClosed:
    location: Path
    running_time_ns: int


@dataclass(frozen=True, slots=True)
class Buffer:
    """One encoded buffer through the `meter`, just before the sink."""

    size: int
    pts_ns: int | None
    duration_ns: int | None
    keyframe: bool


@dataclass(frozen=True, slots=True)
class PipelineError:
    # The pipeline's element the error came from (`src`, `kvs`, `store`...), or None for
    # the pipeline as a whole, e.g. a description gst-launch cannot parse.
    element: str | None
    message: str


@dataclass(frozen=True, slots=True)
class MissingElement:
    element: str  # an element factory name, or what decodebin could not find ("H.265 decoder")


@dataclass(frozen=True, slots=True)
class EndOfStream:
    pass


GstEvent = (
    Playing
    | MotionBegan
    | MotionFinished
    | FragmentOpened
    | FragmentClosed
    | Buffer
    | PipelineError
    | MissingElement
    | EndOfStream
)

_PLAYING = "Setting pipeline to PLAYING"
_EOS = "Got EOS from element"
_ELEMENT_MESSAGE = '" (element): '
_METER = re.compile(
    r"/\S*:meter: last-message = chain +\*+ \(\S+\) \((\d+) bytes, dts: [^,]*, pts: ([^,]*), "
    r"duration: ([^,]*), offset: [^,]*, offset_end: [^,]*, flags: [0-9a-f]+ ([^,]*),"
)
_TIME = re.compile(r"(\d+):(\d\d):(\d\d)\.(\d{9})")
_ERROR_FROM = re.compile(r"ERROR: from element (\S+): (.*)")
_NO_ELEMENT = re.compile(r'no element "([^"]+)"')
_PIPELINE_NOT_BUILT = (
    "WARNING: erroneous pipeline: ",
    "ERROR: pipeline could not be constructed: ",
)
_GUINT64 = r"=\(guint64\)(\d+)"
_RUNNING_TIME = re.compile(r"running-time" + _GUINT64)
_MOTION_BEGIN = re.compile(r"motion_begin" + _GUINT64)
_MOTION_FINISHED = re.compile(r"motion_finished" + _GUINT64)
# A GstStructure string field: quoted with backslash escapes (octal for non-ASCII), or bare.
_STRING_FIELD = r'=\(string\)("(?:[^"\\]|\\.)*"|[^,;]*)'
_LOCATION = re.compile(r"\blocation" + _STRING_FIELD)
_CELLS = re.compile(r"\bmotion_cells_indices" + _STRING_FIELD)
_PLUGIN = re.compile(r"\bdetail" + _STRING_FIELD + r"|\bname" + _STRING_FIELD)


def parse_line(line: str) -> GstEvent | None:
    """The event a line of gst-launch output reports, or None for all the rest."""
    first = line[:1]
    if first == "/":
        return _buffer(line)
    if first == "G":
        if line.startswith(_EOS):
            return EndOfStream()
        at = line.find(_ELEMENT_MESSAGE)
        return None if at < 0 else _element_message(line[at + len(_ELEMENT_MESSAGE) :])
    if first == "S":
        return Playing() if line.startswith(_PLAYING) else None
    if first in ("E", "W"):
        return _error(line.rstrip("\r\n"))
    return None


def _buffer(line: str) -> Buffer | None:
    match = _METER.match(line)
    if match is None:
        return None
    size, pts, duration, flags = match.groups()
    return Buffer(
        size=int(size),
        pts_ns=_time_ns(pts),
        duration_ns=_time_ns(duration),
        keyframe="delta-unit" not in flags,
    )


def _time_ns(text: str) -> int | None:
    """GStreamer's `H:MM:SS.nnnnnnnnn`; None for `none` (no timestamp)."""
    match = _TIME.fullmatch(text)
    if match is None:
        return None
    hours, minutes, seconds, nanos = (int(g) for g in match.groups())
    if minutes > 59 or seconds > 59:  # 99:99:99.999999999 is GST_CLOCK_TIME_NONE
        return None
    return ((hours * 60 + minutes) * 60 + seconds) * 1_000_000_000 + nanos


def _element_message(structure: str) -> GstEvent | None:
    name = structure[: structure.find(",")]
    if name == "motion":
        if (began := _MOTION_BEGIN.search(structure)) is not None:
            cells = _CELLS.search(structure)
            count = len(_unwrap(cells.group(1)).split(",")) if cells else 0
            return MotionBegan(int(began.group(1)), count)
        if (finished := _MOTION_FINISHED.search(structure)) is not None:
            return MotionFinished(int(finished.group(1)))
        return None
    if name in ("splitmuxsink-fragment-opened", "splitmuxsink-fragment-closed"):
        location, running = _LOCATION.search(structure), _RUNNING_TIME.search(structure)
        if location is None or running is None:
            return None
        path = Path(_unwrap(location.group(1)))
        if name == "splitmuxsink-fragment-opened":
            return FragmentOpened(path, int(running.group(1)))
        return FragmentClosed(path, int(running.group(1)))
    if name == "missing-plugin":  # decodebin found no decoder (or an element is missing)
        found = _PLUGIN.search(structure)
        if found is not None:
            return MissingElement(_unwrap(found.group(1) or found.group(2)))
    return None


def _error(line: str) -> GstEvent | None:
    for prefix in _PIPELINE_NOT_BUILT:
        if line.startswith(prefix):
            missing = _NO_ELEMENT.search(line)
            if missing is not None:
                return MissingElement(missing.group(1))
            return PipelineError(None, line[len(prefix) :].removesuffix("."))
    match = _ERROR_FROM.match(line)
    if match is None:
        return None  # a warning, or a generic line after the real error ("doesn't want to ...")
    path, message = match.groups()
    # /GstPipeline:pipeline0/GstRTSPSrc:src[/GstUDPSrc:udpsrc0...]: the pipeline's element.
    parts = path.split("/")
    element = parts[2].partition(":")[2] if len(parts) > 2 else ""
    return PipelineError(element or None, message)


def _unwrap(value: str) -> str:
    r"""A GstStructure string value: `"a\ b\303\251"` -> `a bé` (bytes as the OS names files)."""
    if not value.startswith('"'):
        return value
    raw = bytearray()
    body, i = value[1:-1], 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            octal = body[i + 1 : i + 4]
            if len(octal) == 3 and all(c in "01234567" for c in octal):
                raw.append(int(octal, 8))
                i += 4
                continue
            char = body[i + 1]
            i += 1
        raw += char.encode()
        i += 1
    return os.fsdecode(bytes(raw))
