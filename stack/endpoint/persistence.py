"""Save and restore the endpoint's state with pickle.

What is saved: moto's backends the fleet uses (``PERSISTED_BACKENDS``; all
accounts and regions) plus the endpoint's own Rekognition state, in
``<state-dir>/aws-state.pickle`` (temp file + rename). Saved on graceful stop
and, debounced, ``delay`` seconds after the last mutating request. Other moto
services are not persisted. The pickle is a local cache tied to the installed
moto version: after an upgrade, wipe the state directory.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from moto.backends import get_backend
from moto.core.base_backend import BackendDict

logger = logging.getLogger(__name__)

STATE_FILE = "aws-state.pickle"
PERSISTED_BACKENDS = (
    "s3",
    "iot",
    "iotdata",
    "kinesisvideo",
    "iam",
    "sns",
    "sqs",
    "sts",
    "dynamodb",
)
FORMAT_VERSION = 1


def moto_snapshot() -> dict[str, Any]:
    return {name: get_backend(name) for name in PERSISTED_BACKENDS}  # type: ignore[call-overload]


def restore_moto(snapshot: dict[str, Any]) -> None:
    """Put saved backends in place of the live (process-global) ones."""
    for name, saved in snapshot.items():
        if name not in PERSISTED_BACKENDS:
            continue
        live = get_backend(name)  # type: ignore[call-overload]
        dict.clear(live)
        for account_id, account_backend in dict.items(saved):
            dict.__setitem__(live, account_id, account_backend)
        instances: list[Any] = BackendDict._instances  # type: ignore[misc]
        if live not in instances:
            instances.append(live)


def write_state(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


_LOCK = type(threading.Lock())
_RLOCK = type(threading.RLock())


class _StatePickler(pickle.Pickler):
    """Locks are not state: they are saved as new, unlocked ones. moto's SQS queues hold a
    `threading.Condition` (for long polling), which pickle refuses otherwise."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, threading.Condition):
            return threading.Condition, ()
        if isinstance(obj, _RLOCK):
            return threading.RLock, ()
        if isinstance(obj, _LOCK):
            return threading.Lock, ()
        return NotImplemented


def dump_state(moto: dict[str, Any], extra: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    _StatePickler(buffer).dump({"version": FORMAT_VERSION, "moto": moto, "extra": extra})
    return buffer.getvalue()


def read_state(path: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    if not path.exists():
        return None
    with path.open("rb") as handle:
        data = pickle.load(handle)  # our own file in our own state dir
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        logger.warning("ignoring %s: unknown state format", path)
        return None
    return data["moto"], data["extra"]


class DebouncedSaver:
    """Calls ``save`` once no mutation was marked for ``delay`` seconds, and at the latest
    ``max_wait`` seconds after the first unsaved one: a steady trickle of writes (the MQTT
    bridge updating shadows) must not put off saving a registration until the endpoint stops."""

    def __init__(self, save: Callable[[], None], delay: float, max_wait: float = 30.0) -> None:
        self._save = save
        self._delay = delay
        self._max_wait = max(max_wait, delay)
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="state-saver", daemon=True)
        self._generation = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def mark_dirty(self) -> None:
        with self._lock:
            self._generation += 1
        self._dirty.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._dirty.wait()
            if self._stopping.is_set():
                return
            first = time.monotonic()
            while True:
                with self._lock:
                    seen = self._generation
                if self._stopping.wait(self._delay):
                    return
                with self._lock:
                    if seen == self._generation or time.monotonic() - first >= self._max_wait:
                        self._dirty.clear()
                        break
            self._save_logged()

    def _save_logged(self) -> None:
        try:
            self._save()
        except Exception:
            logger.exception("saving the endpoint state failed")

    def close(self) -> None:
        """Stop the thread (the owner saves one last time itself)."""
        self._stopping.set()
        self._dirty.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
