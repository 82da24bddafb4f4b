"""Server timestamps of the local fragment store, as well as it can tell them (pure).

On Kinesis Video Streams a fragment's server timestamp is when the service received it. The local
store keeps no such time: a fragment file's modification time is when the agent last wrote to it,
so a fragment is taken as received over its own duration, ending at its modification time. Its
video then lies at a constant offset on the server clock (``received_ms - end_ms``), and a
server time maps to the producer time at that offset inside the fragment whose received span
holds it. A fragment ends where the next one starts; the last one ends where its video does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FragmentSpan:
    start_ms: int  # producer time of its first frame
    end_ms: int  # producer time where its video ends
    received_ms: int  # server time its last byte arrived (the file's modification time)

    @property
    def offset_ms(self) -> int:
        return self.received_ms - self.end_ms

    def holds_server_time(self, server_ms: int) -> bool:
        return self.start_ms + self.offset_ms <= server_ms < self.end_ms + self.offset_ms


def producer_times(spans: Iterable[FragmentSpan], server_times: Iterable[int]) -> dict[int, int]:
    """Server time -> producer time, for the server times some fragment holds."""
    spans = list(spans)
    mapped = {}
    for server_ms in server_times:
        for span in spans:
            if span.holds_server_time(server_ms):
                mapped[server_ms] = server_ms - span.offset_ms
                break
    return mapped
