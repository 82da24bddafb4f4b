"""The gst-launch output parser, on lines captured from real runs (GStreamer 1.22, LC_ALL=C).

Sources: the plans of device.pipeline run by gst-launch-1.0 (test source, ball, local sink in a
directory with a space) and by gst_child.py (RTSP); error lines from failing pipelines.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.gst_output import (
    Buffer,
    EndOfStream,
    FragmentClosed,
    FragmentOpened,
    GstEvent,
    MissingElement,
    MotionBegan,
    MotionFinished,
    PipelineError,
    Playing,
    parse_line,
)

KEYFRAME = "/GstPipeline:pipeline0/GstIdentity:meter: last-message = chain   ******* (meter:sink) (2081 bytes, dts: 1000:00:00.000000000, pts: 1000:00:00.000000000, duration: 0:00:00.066666666, offset: 0, offset_end: -1, flags: 00000640 discont marker header , meta: GstVideoSEIUserDataUnregisteredMeta) 0x7f0238138480"
DELTA = "/GstPipeline:pipeline0/GstIdentity:meter: last-message = chain   ******* (meter:sink) (340 bytes, dts: 1000:00:00.066666666, pts: 1000:00:00.066666666, duration: 0:00:00.066666666, offset: 2081, offset_end: -1, flags: 00002200 marker delta-unit , meta: none) 0x7f0238128120"
LATER_KEYFRAME = "/GstPipeline:pipeline0/GstIdentity:meter: last-message = chain   ******* (meter:sink) (1590 bytes, dts: 1000:00:02.000000000, pts: 1000:00:02.000000000, duration: 0:00:00.066666666, offset: 15386, offset_end: -1, flags: 00000600 marker header , meta: none) 0x7f0238166900"
# gst_child.py, RTSP passthrough: no dts, pts in running time.
RTSP_KEYFRAME = "/GstPipeline:pipeline0/GstIdentity:meter: last-message = chain   ******* (meter:sink) (1682 bytes, dts: none, pts: 0:00:00.071553349, duration: 0:00:00.066666666, offset: 0, offset_end: -1, flags: 00000640 discont marker header , meta: GstVideoSEIUserDataUnregisteredMeta) 0x7f4c20040000"
# fakesrc ! identity name=meter silent=false: a buffer without timestamps.
NO_PTS = "/GstPipeline:pipeline0/GstIdentity:meter: last-message = chain   ******* (meter:sink) (10 bytes, dts: 0:00:00.000000000, pts: none, duration: none, offset: 0, offset_end: -1, flags: 00004040 discont tag-memory , meta: none) 0x55f9118f55a0"

CASES: list[tuple[str, GstEvent | None]] = [
    ("Setting pipeline to PLAYING ...\n", Playing()),
    ("Setting pipeline to PAUSED ...", None),
    (
        KEYFRAME + "\n",
        Buffer(size=2081, pts_ns=3_600_000_000_000_000, duration_ns=66_666_666, keyframe=True),
    ),
    (DELTA, Buffer(size=340, pts_ns=3_600_000_066_666_666, duration_ns=66_666_666, keyframe=False)),
    (
        LATER_KEYFRAME,
        Buffer(size=1590, pts_ns=3_600_002_000_000_000, duration_ns=66_666_666, keyframe=True),
    ),
    (RTSP_KEYFRAME, Buffer(size=1682, pts_ns=71_553_349, duration_ns=66_666_666, keyframe=True)),
    (NO_PTS, Buffer(size=10, pts_ns=None, duration_ns=None, keyframe=True)),
    # The same buffer again, as -m prints the property-notify message: read once, from -v.
    (
        r'Got message #205 from element "meter" (property-notify): GstMessagePropertyNotify, property-name=(string)last-message, property-value=(string)"chain\ \ \ \*\*\*\*\*\*\*\ \(meter:sink\)\ \(2081\ bytes\,\ dts:\ 1000:00:00.000000000\,\ pts:\ 1000:00:00.000000000\,\ duration:\ 0:00:00.066666666\,\ offset:\ 0\,\ offset_end:\ -1\,\ flags:\ 00000640\ discont\ marker\ header\ \,\ meta:\ GstVideoSEIUserDataUnregisteredMeta\)\ 0x7f0238138480";',
        None,
    ),
    (
        "/GstPipeline:pipeline0/GstIdentity:meter: last-message = event   ******* (meter:sink) E (type: stream-start (10254), GstEventStreamStart, stream-id=(string)d44fde4fed26e6e350d7cb7d571fb45e, flags=(GstStreamFlags)GST_STREAM_FLAG_NONE, group-id=(uint)1;) 0x559bc3df7600",
        None,
    ),
    (
        "/GstPipeline:pipeline0/GstSplitMuxSink:store/GstFileSink:sink: location = /tmp/gx/te st/00000.mkv",
        None,
    ),
    (
        r'Got message #225 from element "store" (element): splitmuxsink-fragment-opened, location=(string)"/tmp/gx/te\ st/00000.mkv", running-time=(guint64)13316161, sink=(GstElement)"\(GstFileSink\)\ sink";',
        FragmentOpened(Path("/tmp/gx/te st/00000.mkv"), 13_316_161),
    ),
    (
        r'Got message #388 from element "store" (element): splitmuxsink-fragment-closed, location=(string)"/tmp/gx/te\ st/00000.mkv", running-time=(guint64)2013316161, sink=(GstElement)"\(GstFileSink\)\ sink";',
        FragmentClosed(Path("/tmp/gx/te st/00000.mkv"), 2_013_316_161),
    ),
    (
        r'Got message #388 from element "store" (element): splitmuxsink-fragment-closed, location=(string)/tmp/gx/00000.mkv, running-time=(guint64)2015917211, sink=(GstElement)"\(GstFileSink\)\ sink";',
        FragmentClosed(Path("/tmp/gx/00000.mkv"), 2_015_917_211),
    ),
    # Non-ASCII is octal-escaped (bytes of UTF-8).
    (
        r'Got message #67 from element "store" (element): splitmuxsink-fragment-opened, location=(string)"/tmp/gx/cam\303\251ra\ 1/00000.mkv", running-time=(guint64)0, sink=(GstElement)"\(GstFileSink\)\ sink";',
        FragmentOpened(Path("/tmp/gx/caméra 1/00000.mkv"), 0),
    ),
    (
        'Got message #300 from element "motion" (element): motion, motion_cells_indices=(string)9:8, motion_begin=(guint64)1800000000;',
        MotionBegan(1_800_000_000, cells=1),
    ),
    (
        r'Got message #84 from element "motion" (element): motion, motion_cells_indices=(string)"4:4\,4:5\,5:4\,5:5", motion_begin=(guint64)200000000;',
        MotionBegan(200_000_000, cells=4),
    ),
    (
        'Got message #96 from element "motion" (element): motion, motion_finished=(guint64)1800000000;',
        MotionFinished(1_800_000_000),
    ),
    (
        r'Got message #358 from element "rtpsession0" (element): application/x-rtp-source-sdes, cname=(string)"user4155354292\@host-9e0ca86e", tool=(string)GStreamer;',
        None,
    ),
    (
        r'Got message #117 from element "pipeline0" (new-clock): GstMessageNewClock, clock=(GstClock)"\(GstSystemClock\)\ GstSystemClock";',
        None,
    ),
    ('Got EOS from element "pipeline0".\n', EndOfStream()),
    ('Got message #504 from element "pipeline0" (eos): no message details', None),
    (
        "ERROR: from element /GstPipeline:pipeline0/GstRTSPSrc:src: Unauthorized",
        PipelineError("src", "Unauthorized"),
    ),
    (
        "ERROR: from element /GstPipeline:pipeline0/GstV4l2Src:src: Cannot identify device '/dev/video9'.",
        PipelineError("src", "Cannot identify device '/dev/video9'."),
    ),
    (
        "ERROR: from element /GstPipeline:pipeline0/GstFileSrc:src: Resource not found.\n",
        PipelineError("src", "Resource not found."),
    ),
    # From inside a bin: the pipeline's element is named.
    (
        "ERROR: from element /GstPipeline:pipeline0/GstDecodeBin:decodebin0/GstTypeFindElement:typefind: Internal data stream error.",
        PipelineError("decodebin0", "Internal data stream error."),
    ),
    ("ERROR: pipeline doesn't want to preroll.", None),  # follows the real error
    ("Additional debug info:", None),
    ("Unauthorized (401)", None),
    ('WARNING: erroneous pipeline: no element "kvssink"\n', MissingElement("kvssink")),
    (
        'ERROR: pipeline could not be constructed: no element "motioncells".',
        MissingElement("motioncells"),
    ),
    (
        'WARNING: erroneous pipeline: no property "foo" in element "videotestsrc"',
        PipelineError(None, 'no property "foo" in element "videotestsrc"'),
    ),
    (
        "WARNING: erroneous pipeline: could not link videotestsrc0 to audioconvert0",
        PipelineError(None, "could not link videotestsrc0 to audioconvert0"),
    ),
    (
        r'Got message #48 from element "decodebin0" (element): missing-plugin, type=(string)decoder, detail=(GstCaps)video/x-h266, name=(string)"video/x-h266\ decoder";',
        MissingElement("video/x-h266 decoder"),
    ),
    # -m's copy of an error: the ERROR line says it better (gerror is not serialised).
    (
        r'Got message #26 from element "typefind" (error): GstMessageError, gerror=(GError)NULL, debug=(string)"../plugins/elements/gsttypefindelement.c\(1257\):\ gst_type_find_element_loop\ \(\):\ /GstPipeline:pipeline0/GstDecodeBin:decodebin0/GstTypeFindElement:typefind:\012streaming\ stopped\,\ reason\ error\ \(-5\)", details=(structure)"details\,\ flow-return\=\(int\)-5\;";',
        None,
    ),
    ("EOS on shutdown enabled -- Forcing EOS on the pipeline", None),
    ("", None),
]


@pytest.mark.parametrize(("line", "expected"), CASES)
def test_parse_line(line: str, expected: GstEvent | None) -> None:
    assert parse_line(line) == expected


def test_a_meter_of_another_name_is_not_read() -> None:
    other = KEYFRAME.replace("GstIdentity:meter:", "GstIdentity:identity0:")
    assert parse_line(other) is None


@given(st.text())
def test_never_raises_on_any_text(line: str) -> None:
    parse_line(line)


@given(
    st.sampled_from([line for line, _ in CASES if line]), st.integers(0, 400), st.text(max_size=5)
)
def test_never_raises_on_damaged_lines(line: str, at: int, junk: str) -> None:
    """A line cut short (a killed child) or garbled still gives an event or None."""
    parse_line(line[:at] + junk)
