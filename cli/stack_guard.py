"""What a command that targets the local stack asks of it: that the parts it uses are up, and
where its Prefect server is. The stack's supervisor is imported only when a function runs against
the local target: a command against AWS never loads it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from cloud.errors import UnavailableError

if TYPE_CHECKING:
    from cloud.settings import FleetSettings
    from stack.supervisor.layout import PartName


def require_aws_endpoint(settings: FleetSettings) -> None:
    """For a command that calls AWS and uses nothing else of the stack."""
    from stack.supervisor.layout import PartName

    _require(settings, (PartName.AWS,))


def require_stack(settings: FleetSettings) -> None:
    """For a command that runs a flow or connects to the broker. None needs the MQTT bridge (it
    may be reconnecting after a broker restart) or the results consumer: `fleet status` shows
    them."""
    from stack.supervisor.layout import PartName

    _require(settings, (PartName.AWS, PartName.MOSQUITTO, PartName.PREFECT, PartName.FLOWS))


def prefect_env(settings: FleetSettings) -> dict[str, str]:
    """The environment a client of the local stack's Prefect server needs."""
    from stack.supervisor import local_stack

    return local_stack.prefect_env(settings)


def _require(settings: FleetSettings, parts: tuple[PartName, ...]) -> None:
    """One clear line when a part is down (one not used with this target never is)."""
    from stack.supervisor import local_stack

    down = [p.name for p in local_stack.check(settings, parts) if not (p.healthy or p.skipped)]
    if down:
        raise UnavailableError(
            f"the local stack is not running ({', '.join(down)} down): start it with `fleet up`"
        )


def followed_analyzer(settings: FleetSettings) -> str | None:
    """The fleet's analyzer as the local stack's running bridge follows it (its heartbeat)."""
    from pydantic import ValidationError

    from services.harness.heartbeat import Heartbeat
    from stack.supervisor.layout import StackLayout

    path = StackLayout(settings.stack_dir).bridge_heartbeat
    try:
        return Heartbeat.model_validate_json(path.read_bytes()).facts.get("analyzer")
    except (OSError, ValidationError):
        return None


def await_bridge_analyzer(settings: FleetSettings, analyzer: str, timeout_s: float = 60) -> bool:
    """Wait until the local stack's bridge follows `analyzer` (it re-reads the fleet's every few
    seconds); False if it did not within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if followed_analyzer(settings) == analyzer:
            return True
        time.sleep(0.5)
    return False
