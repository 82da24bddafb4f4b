"""Retry only what is retryable: throttling and transient faults, never a user's mistake."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from cloud.errors import is_retryable

T = TypeVar("T")


def retry_if_retryable(task: Any, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except Exception as err:
        return is_retryable(err)
    return False


RETRIES = 3
RETRY_DELAYS = [1.0, 4.0, 10.0]
RETRY_JITTER = 0.5

# The task options of every task that calls AWS: `@task(name=..., **AWS_RETRY)`.
AWS_RETRY: dict[str, Any] = {
    "retries": RETRIES,
    "retry_delay_seconds": RETRY_DELAYS,
    "retry_jitter_factor": RETRY_JITTER,
    "retry_condition_fn": retry_if_retryable,
}


def retrying(
    action: Callable[[], T],
    *,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> T:
    """`action`, tried again after each of RETRY_DELAYS (± RETRY_JITTER) while it fails
    retryably: the AWS_RETRY policy, for one call inside a task that must not fail as a whole."""
    for delay in RETRY_DELAYS:
        try:
            return action()
        except Exception as err:
            if not is_retryable(err):
                raise
            sleep(delay * (1 + RETRY_JITTER * (2 * rand() - 1)))
    return action()
