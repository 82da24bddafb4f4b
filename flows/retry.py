"""Retry only what is retryable: throttling and transient faults, never a user's mistake."""

from __future__ import annotations

from typing import Any

from cloud.errors import is_retryable


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
