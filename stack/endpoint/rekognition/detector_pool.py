"""Loaded detectors, lent for one image at a time (stream processor sessions, DetectLabels).

Loading a Haar cascade costs CPU the endpoint's requests need, so detectors are not made per
session or per request. A cascade is not safe to share between threads, so each is lent to one
image at a time; at most `max_parallel` images are analysed at once, so at most that many are
loaded per label set, and a pool that analyses nothing loads none.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from stack.endpoint.rekognition.detection import Detector, Label

DetectorFactory = Callable[[frozenset[Label]], Detector]


class DetectorPool:
    def __init__(self, factory: DetectorFactory, max_parallel: int) -> None:
        self._factory = factory
        self._cpu = threading.BoundedSemaphore(max_parallel)
        self._lock = threading.Lock()
        self._idle: dict[frozenset[Label], list[Detector]] = {}

    @contextmanager
    def lent(self, labels: frozenset[Label]) -> Iterator[Detector]:
        with self._cpu:
            with self._lock:
                idle = self._idle.setdefault(labels, [])
                detector = idle.pop() if idle else None
            if detector is None:
                detector = self._factory(labels)
            try:
                yield detector
            finally:
                with self._lock:
                    self._idle[labels].append(detector)
