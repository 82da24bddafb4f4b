"""When a class counts as detected in a session. Pure.

A class is confirmed once it is seen in `needed` sampled images in a row, `interval_ms` apart
(the confirmation interval; the session samples at it while a row is going on): a sampled image
without it, or a sample that could not be analysed (a gap in the video, an image KVS could not
make), breaks the row. Each class is confirmed once per session; a session that already
published a class (a redelivered session) starts with it confirmed and never looks for it again.
The session can stop early once every class the camera asks for is confirmed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cloud.analysis.labels import Sighting
from cloud.models import Label

# A sample further than this many intervals from the previous analysed one is not "in a row".
_ROW_TOLERANCE = 1.5


class Confirmations:
    def __init__(
        self,
        wanted: Iterable[Label],
        needed: int,
        interval_ms: int,
        confirmed: Iterable[Label] = (),
    ) -> None:
        if needed < 1:
            raise ValueError("a class needs at least one image to be confirmed")
        self.wanted = frozenset(wanted)
        self.needed = needed
        self._max_step_ms = interval_ms * _ROW_TOLERANCE
        self.confirmed: set[Label] = set(confirmed) & self.wanted
        self._streaks: dict[Label, int] = {}
        self._last_ms: int | None = None

    @property
    def remaining(self) -> frozenset[Label]:
        return self.wanted - self.confirmed

    @property
    def confirming(self) -> bool:
        """A class was seen in the last image and is not confirmed yet: its row goes on."""
        return bool(self._streaks)

    @property
    def complete(self) -> bool:
        """Every wanted class is confirmed: nothing is left to look for."""
        return not self.remaining

    def observe(self, timestamp_ms: int, seen: Mapping[Label, Sighting]) -> list[Sighting]:
        """The classes this image confirms (in class order), each with its sighting here."""
        if self._last_ms is not None and timestamp_ms - self._last_ms > self._max_step_ms:
            self._streaks.clear()
        self._last_ms = timestamp_ms
        newly = []
        for label in sorted(self.remaining):
            sighting = seen.get(label)
            if sighting is None:
                self._streaks.pop(label, None)
                continue
            self._streaks[label] = self._streaks.get(label, 0) + 1
            if self._streaks[label] >= self.needed:
                self.confirmed.add(label)
                self._streaks.pop(label)
                newly.append(sighting)
        return newly
