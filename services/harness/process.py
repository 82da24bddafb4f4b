"""What every long-running service process starts with: logging, a stop event that SIGTERM and
SIGINT set, and `run_service`, its `main`. It installs signal handlers only when called."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from cloud.errors import FleetError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

log = logging.getLogger(__name__)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)


def stop_on_signals(what: str) -> threading.Event:
    """An event that SIGTERM and SIGINT set: the process finishes its work and exits cleanly."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping the %s", signum, what)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def run_service(what: str, log_level: str, work: Callable[[threading.Event], None]) -> int:
    """A service's `main`: logging, signals, then `work(stop)`; a FleetError is one log line
    and its exit code, never a traceback."""
    configure_logging(log_level)
    stop = stop_on_signals(what)
    try:
        work(stop)
    except FleetError as err:
        log.error("%s", err)
        return err.exit_code
    return 0
