"""What every long-running cloud-side process (the bridge, the results consumer) starts with."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

log = logging.getLogger(__name__)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)


def stop_on_signals(stop: threading.Event, what: str) -> None:
    """SIGTERM and SIGINT set `stop`: the process finishes its work and exits cleanly."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping the %s", signum, what)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
