"""Reading back the video the agent recorded, with GStreamer itself."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from device.gst_output import Buffer, parse_line
from device.pipeline import child_env


def decoded_frames(fragment: Path) -> int:
    """Frames a fragment decodes to (0 if it does not decode), counted by the same parser."""
    run = subprocess.run(
        [
            "gst-launch-1.0",
            "-v",
            "filesrc",
            f"location={fragment}",
            "!",
            "matroskademux",
            "!",
            "h264parse",
            "!",
            "avdec_h264",
            "!",
            "identity",
            "name=meter",
            "silent=false",
            "!",
            "fakesink",
        ],
        capture_output=True,
        text=True,
        env=child_env(dict(os.environ)),
        timeout=30,
        check=False,
    )
    if run.returncode != 0:
        return 0
    return sum(isinstance(parse_line(line), Buffer) for line in run.stdout.splitlines())
