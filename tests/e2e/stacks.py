"""Local stacks for the e2e tests, and the stream processor room a module asks for.

`running_stack(home)` starts a stack on free loopback ports in `home` and wipes it afterwards;
`prefect_environment(settings)` points in-process Prefect clients at it for a while;
`make_room(...)` sets the stack's processor quota to what is in use plus what a module needs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cloud import rekognition
from cloud.clients import AwsClients
from cloud.settings import FleetSettings
from stack.supervisor.local_stack import down, prefect_env, up
from stack.supervisor.models import StackStatus
from tests.support.endpoint_admin import set_processor_quota
from tests.support.ports import free_ports

Stack = tuple[FleetSettings, StackStatus]

# The stack's scheduled fleet-status runs read every camera's stores; once an hour keeps them out
# of the tests that assert a command made no AWS call at all. test_fleet_status runs it itself.
STATUS_INTERVAL_S = 3600
# The stack's automations, declared disabled: the modules stop cameras all the time, and the
# notifications that would follow must not land in another module's notification queue.
# test_automations enables them, with short windows, while it runs.
AUTOMATIONS = """
version = 1
[camera_offline]
enabled = false
offline_seconds = 600
[pipeline_failed]
enabled = false
cooldown_seconds = 1800
[analyses_failing]
enabled = false
failures = 3
within_seconds = 900
"""


def stack_settings(home: Path) -> FleetSettings:
    """A stack's settings: free loopback ports, the e2e automations and status interval."""
    aws_port, mqtt_port, prefect_port = free_ports(3)
    automations = home / "automations.toml"
    automations.write_text(AUTOMATIONS, encoding="utf-8")
    return FleetSettings(
        home=home,
        aws_port=aws_port,
        mqtt_port=mqtt_port,
        prefect_port=prefect_port,
        status_interval_seconds=STATUS_INTERVAL_S,
        automations_file=automations,
    )


@contextmanager
def running_stack(home: Path) -> Iterator[Stack]:
    """A stack started in `home`, stopped and wiped on the way out."""
    settings = stack_settings(home)
    try:
        yield settings, up(settings)
    finally:
        down(settings, wipe=True)


def _refresh_prefect_settings() -> None:
    """Prefect reads the environment once, when `prefect.context` is imported: re-read it."""
    if "prefect.context" in sys.modules:
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()


@contextmanager
def prefect_environment(settings: FleetSettings) -> Iterator[None]:
    """`prefect_env(settings)` (PREFECT_API_URL, PREFECT_HOME, ...) in os.environ meanwhile; the
    events sent meanwhile are delivered before it ends."""
    env = prefect_env(settings)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    _refresh_prefect_settings()
    try:
        yield
    finally:
        # Events still queued for this server go now: sent later, to a server that is gone, they
        # would hold up whatever drains Prefect's workers next (a test harness waits on them).
        if "prefect.events.worker" in sys.modules:
            from prefect.events.worker import EventsWorker

            EventsWorker.drain_all(timeout=15)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _refresh_prefect_settings()


def make_room(stack: Stack, processors: int) -> int:
    """Set the stack's stream processor quota to what is in use plus `processors`; returns it."""
    settings, status = stack
    in_use = len(rekognition.list_processor_names(AwsClients(settings)))
    return set_processor_quota(status.aws_endpoint, in_use + processors)
