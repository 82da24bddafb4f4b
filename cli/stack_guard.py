"""What a command that targets the local stack asks of it: that the parts it uses are up, and
where its Prefect server is. The stack's supervisor is imported only when a function runs against
the local target: a command against AWS never loads it."""

from __future__ import annotations

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
