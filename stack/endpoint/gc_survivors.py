"""Full garbage collections that do not grow with the endpoint's state.

A full collection walks every object the collector tracks and stops every thread meanwhile, so
its pause grows with the endpoint's state and every AWS request waits. What survives a full
collection is long-lived state: moving it to the permanent generation leaves the next full
collection only what is new. The price: a reference cycle among frozen objects is never collected
(objects freed by their reference count still are), which a local emulator can afford.
"""

from __future__ import annotations

import gc
from typing import Any


def _freeze_after_full_collection(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


def freeze_survivors() -> None:
    """From now on, what survives each full collection is frozen (once per process)."""
    gc.freeze()  # what start-up made
    if _freeze_after_full_collection not in gc.callbacks:
        gc.callbacks.append(_freeze_after_full_collection)
