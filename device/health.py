"""What the agent measures for its health report: the video stream, itself, and the host.

`StreamMeter` is pure: it is fed one record per encoded buffer (from the pipeline's `meter`
element) and derives frames per second and bitrate over a sliding window, and dropped frames
from gaps in the presentation timestamps, which is what a viewer would miss.
"""

from __future__ import annotations

import platform
import subprocess
from collections import deque
from importlib import metadata
from pathlib import Path

import psutil

_WINDOW_S = 10.0
_THERMAL_ZONES = Path("/sys/class/thermal")


class StreamMeter:
    def __init__(self, window_s: float = _WINDOW_S):
        self._window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()  # (monotonic time, bytes)
        self._last_pts: int | None = None
        self.dropped_frames = 0
        self.last_buffer_at: float | None = None

    def record(self, now: float, size: int, pts_ns: int | None, duration_ns: int | None) -> None:
        self._samples.append((now, size))
        self.last_buffer_at = now
        if pts_ns is not None and self._last_pts is not None and duration_ns:
            gap = pts_ns - self._last_pts
            if gap > duration_ns * 1.5:
                self.dropped_frames += round(gap / duration_ns) - 1
        if pts_ns is not None:
            self._last_pts = pts_ns
        self._expire(now)

    def restarted(self) -> None:
        """A new child starts its timestamps afresh: no gap across a restart."""
        self._last_pts = None

    def fps(self, now: float) -> float:
        self._expire(now)
        return round(len(self._samples) / self._window_s, 2)

    def bitrate_kbps(self, now: float) -> float:
        self._expire(now)
        return round(sum(size for _, size in self._samples) * 8 / self._window_s / 1000, 1)

    def _expire(self, now: float) -> None:
        while self._samples and self._samples[0][0] < now - self._window_s:
            self._samples.popleft()


class ProcessStats:
    """This process only: the GStreamer child is measured apart from the agent."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first call only starts the measurement

    def cpu_percent(self) -> float:
        return round(float(self._process.cpu_percent(None)), 2)

    def rss_mb(self) -> float:
        return round(float(self._process.memory_info().rss) / 1024 / 1024, 1)


def host_temperature_c(zones: Path = _THERMAL_ZONES) -> float | None:
    """The hottest thermal zone (a Raspberry Pi's SoC is zone 0); None where there is none."""
    readings = []
    for path in zones.glob("thermal_zone*/temp"):
        try:
            readings.append(int(path.read_text().strip()) / 1000)
        except (OSError, ValueError):
            continue
    return round(max(readings), 1) if readings else None


def versions(gst_launch: str) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("camera-fleet", "awsiotsdk", "awscrt"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        out = subprocess.run(
            [gst_launch, "--version"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except OSError:
        return found
    for line in out.splitlines():
        if line.startswith("GStreamer "):
            found["gstreamer"] = line.split()[1]
    return found
