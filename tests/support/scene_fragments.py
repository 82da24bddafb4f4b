"""A camera's local fragments made from a scene file, faster than real time.

The agent's recording branch (device/pipeline.py: x264enc with the same settings, h264parse,
splitmuxsink with matroskamux, 2 s fragments) without the real-time `clocksync` and the motion
branch; each fragment is then named by its producer timestamp, `start_ms` plus its running time
from splitmuxsink's fragment-opened message, as device/fragments.py names them.

splitmuxsink (GStreamer 1.22) sometimes never reaches EOS after closing its last fragment (seen
in about 1 run of 4): gst-launch then never exits. So the child is ended once the fragment
holding the scene's last frame is closed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import cv2

from device.gst_output import FragmentClosed, FragmentOpened, parse_line
from device.pipeline import child_env


def scene_duration_ns(scene: Path) -> tuple[int, int]:
    """(duration, frame duration) of a video file, in ns."""
    capture = cv2.VideoCapture(str(scene))
    try:
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = capture.get(cv2.CAP_PROP_FPS)
    finally:
        capture.release()
    frame_ns = round(1e9 / fps)
    return frames * frame_ns, frame_ns


def record_fragments(
    scene: Path,
    directory: Path,
    start_ms: int,
    fragment_seconds: int = 2,
    fps: int = 15,
    timeout: float = 60.0,
) -> list[Path]:
    """Encode `scene` into `directory/<producer ms>.mkv` fragments; return them in order."""
    directory.mkdir(parents=True, exist_ok=True)
    duration_ns, frame_ns = scene_duration_ns(scene)
    run = Path(tempfile.mkdtemp(dir=directory.parent))
    pipeline = (
        f"filesrc location={scene} ! decodebin ! videoconvert ! videoscale ! videorate "
        f"! video/x-raw,width=640,height=480,framerate={fps}/1 ! videoconvert "
        "! video/x-raw,format=I420 "
        f"! x264enc bframes=0 key-int-max={fps * fragment_seconds} bitrate=1000 "
        "tune=zerolatency speed-preset=veryfast ! h264parse "
        "! video/x-h264,stream-format=avc,alignment=au,profile=baseline "
        "! splitmuxsink name=store muxer-factory=matroskamux "
        f"max-size-time={fragment_seconds * 1_000_000_000} send-keyframe-requests=true "
        f"location={run}/%05d.mkv"
    )
    child = subprocess.Popen(
        ["gst-launch-1.0", "-m", *pipeline.split()],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env(dict(os.environ)),
    )
    opened: list[FragmentOpened] = []
    output: list[str] = []
    finished = threading.Event()

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            output.append(line)
            event = parse_line(line)
            if isinstance(event, FragmentOpened):
                opened.append(event)
            elif isinstance(event, FragmentClosed) and event.running_time_ns >= (
                duration_ns - 2 * frame_ns
            ):
                finished.set()
        finished.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not finished.wait(timeout):
            raise RuntimeError("gst-launch did not finish:\n" + "".join(output[-40:]))
        try:
            child.wait(3)
        except subprocess.TimeoutExpired:
            child.kill()  # the EOS hang: every fragment is closed already
        fragments = []
        for event in opened:
            target = directory / f"{start_ms + event.running_time_ns // 1_000_000}.mkv"
            Path(event.location).rename(target)
            fragments.append(target)
        if not fragments:
            raise RuntimeError("gst-launch wrote no fragment:\n" + "".join(output[-40:]))
        return fragments
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        child.wait()
        reader.join(5)
        shutil.rmtree(run, ignore_errors=True)
