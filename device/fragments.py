"""The local fragment store: the local stack's stand-in for a Kinesis Video stream.

splitmuxsink writes numbered Matroska files into a fresh directory per pipeline run; the agent
renames each to `<producer timestamp ms>.mkv.partial` when it opens and `<ms>.mkv` when it
closes, so a reader finds video by producer timestamp, as GetMedia does by fragment timestamp.
A fragment cut short by a killed pipeline is still kept: Matroska plays up to the cut.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIX = ".mkv"
PARTIAL = ".mkv.partial"
INCOMING = ".incoming"


def fragment_path(directory: Path, start_ms: int, partial: bool = False) -> Path:
    return directory / f"{start_ms}{PARTIAL if partial else SUFFIX}"


class FragmentStore:
    def __init__(self, directory: Path, retention_ms: int):
        self.directory = directory
        self._retention_ms = retention_ms
        self._open: dict[Path, int] = {}  # splitmuxsink's location -> producer start ms

    def recover(self) -> None:
        """After a crash: keep cut-short fragments, drop runs the agent never saw."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for partial in self.directory.glob(f"*{PARTIAL}"):
            partial.rename(partial.with_name(partial.name.removesuffix(".partial")))
        shutil.rmtree(self.directory / INCOMING, ignore_errors=True)

    def new_run(self, run_id: int) -> Path:
        run_dir = self.directory / INCOMING / str(run_id)
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir

    def opened(self, location: Path, start_ms: int) -> Path | None:
        target = fragment_path(self.directory, start_ms, partial=True)
        try:
            location.rename(target)  # the muxer keeps writing to the same file
        except OSError as err:
            log.warning("fragment %s: cannot rename: %s", location, err)
            return None
        self._open[location] = start_ms
        return target

    def closed(self, location: Path) -> tuple[Path, int] | None:
        start_ms = self._open.pop(location, None)
        if start_ms is None:
            return None
        final = fragment_path(self.directory, start_ms)
        try:
            fragment_path(self.directory, start_ms, partial=True).rename(final)
        except OSError as err:
            log.warning("fragment %s: cannot finalise: %s", final, err)
            return None
        return final, start_ms

    def end_run(self, run_dir: Path) -> None:
        """The child exited: whatever was still open is as complete as it will get."""
        for location in list(self._open):
            self.closed(location)
        shutil.rmtree(run_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # only if no other run is under way
            run_dir.parent.rmdir()

    def prune(self, now_ms: int) -> int:
        oldest = now_ms - self._retention_ms
        removed = 0
        for path in self.directory.glob(f"*{SUFFIX}"):
            stem = path.name.removesuffix(SUFFIX)
            if stem.isdigit() and int(stem) < oldest:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
