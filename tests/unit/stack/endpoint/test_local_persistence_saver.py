"""The endpoint's debounced state saver: quiet periods save, and so does a steady trickle."""

from __future__ import annotations

import threading
import time

from stack.endpoint.persistence import DebouncedSaver


def test_a_burst_is_saved_once_after_it_ends() -> None:
    saved: list[float] = []
    saver = DebouncedSaver(lambda: saved.append(time.monotonic()), delay=0.1, max_wait=10)
    saver.start()
    try:
        for _ in range(5):
            saver.mark_dirty()
            time.sleep(0.02)
        time.sleep(0.4)
        assert len(saved) == 1
    finally:
        saver.close()


def test_a_steady_trickle_of_mutations_is_still_saved() -> None:
    saved = threading.Event()
    saver = DebouncedSaver(saved.set, delay=0.1, max_wait=0.5)
    saver.start()
    try:
        deadline = time.monotonic() + 2.0
        while not saved.is_set() and time.monotonic() < deadline:
            saver.mark_dirty()  # never 0.1 s of quiet
            time.sleep(0.03)
        assert saved.is_set(), "a mutation every 30 ms put off saving for good"
    finally:
        saver.close()
