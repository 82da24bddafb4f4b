"""H.264 from Matroska fragments into MP4 or MPEG-TS, without re-encoding (GStreamer).

Each call runs ``gst-launch-1.0`` in a child process with a timeout and writes into a temporary
directory; the command line holds only file names. A clip is the fragments in order, played by
``splitmuxsrc`` (which lays each part after the previous one, from 0) into ``mp4mux faststart``
(``moov`` before ``mdat``, so a browser plays it while it downloads). An HLS segment is one
fragment muxed alone: fragmented MP4 (``mp4mux`` with one fragment, a 90 kHz track timescale) or
MPEG-TS (``mpegtsmux``).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

GST_LAUNCH = "gst-launch-1.0"
TIMESCALE = 90_000  # track timescale of the fragmented MP4 segments
DEFAULT_TIMEOUT = 60.0
_H264 = ["h264parse", "!", "video/x-h264,stream-format=avc,alignment=au"]
_H264_ANNEX_B = ["h264parse", "!", "video/x-h264,stream-format=byte-stream,alignment=au"]


class RemuxError(Exception):
    """GStreamer could not remux the fragments."""


def mp4_clip(fragments: Sequence[Path], timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """One MP4 file (``ftyp``, ``moov``, ``mdat``) holding the fragments' video in order."""
    if not fragments:
        raise RemuxError("no fragments to remux")
    with tempfile.TemporaryDirectory(prefix="kvs-clip-") as work:
        parts = Path(work) / "parts"
        parts.mkdir()
        for index, fragment in enumerate(fragments):  # splitmuxsrc plays them in name order
            (parts / f"{index:05d}.mkv").symlink_to(fragment.resolve())
        out = Path(work) / "clip.mp4"
        _run(
            [
                "splitmuxsrc",
                f"location={parts}/*.mkv",
                "!",
                *_H264,
                "!",
                "mp4mux",
                "faststart=true",
                f"faststart-file={work}/moov.tmp",
                "!",
                "filesink",
                f"location={out}",
            ],
            timeout,
        )
        return out.read_bytes()


def fmp4_fragment(fragment: Path, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """One fragment as a fragmented MP4 file: ``ftyp moov moof mdat`` (one movie fragment)."""
    return _single(
        fragment,
        _H264,
        [
            "mp4mux",
            "fragment-duration=3600000",  # longer than any fragment: one moof
            f"trak-timescale={TIMESCALE}",
            "streamable=true",
        ],
        timeout,
    )


def ts_fragment(fragment: Path, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """One fragment as MPEG-TS packets."""
    return _single(fragment, _H264_ANNEX_B, ["mpegtsmux"], timeout)


def _single(fragment: Path, parse: list[str], muxer: list[str], timeout: float) -> bytes:
    with tempfile.TemporaryDirectory(prefix="kvs-hls-") as work:
        out = Path(work) / "segment"
        _run(
            [
                "filesrc",
                f"location={fragment}",
                "!",
                "matroskademux",
                "!",
                *parse,
                "!",
                *muxer,
                "!",
                "filesink",
                f"location={out}",
            ],
            timeout,
        )
        return out.read_bytes()


def _run(pipeline: list[str], timeout: float) -> None:
    try:
        done = subprocess.run(
            [GST_LAUNCH, "-q", *pipeline],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_gst_env(),
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise RemuxError(f"remuxing took longer than {timeout:.0f} s") from err
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RemuxError(f"gst-launch failed ({done.returncode}): {' '.join(detail)}")


def _gst_env() -> dict[str, str]:
    """The child's environment without AWS credentials (it needs none)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
