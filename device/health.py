"""What the agent measures for its health report: the video stream, itself, and the host.

`StreamMeter` does no I/O: it is fed one record per encoded buffer (from the pipeline's `meter`
element) and derives frames per second and bitrate over a sliding window, and dropped frames
from gaps in the presentation timestamps, which is what a viewer would miss.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import threading
import time
from collections import deque
from pathlib import Path

import awscrt
import awsiot

from device import AGENT_VERSION

_WINDOW_S = 10.0
_THERMAL_ZONES = Path("/sys/class/thermal")


class StreamMeter:
    """Fed by the pipeline's reader thread, read by the agent's main loop: hence the lock (an
    unlocked health report once died of "deque mutated during iteration" mid-restart)."""

    def __init__(self, window_s: float = _WINDOW_S):
        self._window_s = window_s
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, int]] = deque()  # (monotonic time, bytes)
        self._last_pts: int | None = None
        self.dropped_frames = 0

    def record(self, now: float, size: int, pts_ns: int | None, duration_ns: int | None) -> None:
        with self._lock:
            self._samples.append((now, size))
            if pts_ns is not None and self._last_pts is not None and duration_ns:
                gap = pts_ns - self._last_pts
                if gap > duration_ns * 1.5:
                    self.dropped_frames += round(gap / duration_ns) - 1
            if pts_ns is not None:
                self._last_pts = pts_ns
            self._expire(now)

    def restarted(self) -> None:
        """A new child starts its timestamps afresh: no gap across a restart."""
        with self._lock:
            self._last_pts = None

    def fps(self, now: float) -> float:
        with self._lock:
            self._expire(now)
            return round(len(self._samples) / self._window_s, 2)

    def bitrate_kbps(self, now: float) -> float:
        with self._lock:
            self._expire(now)
            total = sum(size for _, size in self._samples)
        return round(total * 8 / self._window_s / 1000, 1)

    def _expire(self, now: float) -> None:
        while self._samples and self._samples[0][0] < now - self._window_s:
            self._samples.popleft()


class ProcessStats:
    """This process only (children excluded), from the kernel: no psutil on a camera host."""

    def __init__(self) -> None:
        self._last = (time.monotonic(), self._cpu_seconds())

    @staticmethod
    def _cpu_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def cpu_percent(self) -> float:
        """Since the previous call, in percent of one core."""
        now, cpu = time.monotonic(), self._cpu_seconds()
        (then, before), self._last = self._last, (now, cpu)
        return round(100 * (cpu - before) / max(now - then, 1e-6), 2)

    def rss_mb(self, statm: Path = Path("/proc/self/statm")) -> float:
        resident_pages = int(statm.read_text().split()[1])
        return round(resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


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
    # Module attributes, not importlib.metadata: that would load email, zipfile and more.
    found = {
        "python": platform.python_version(),
        "agent": AGENT_VERSION,
        "awsiotsdk": awsiot.__version__,
        "awscrt": awscrt.__version__,
    }
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
