"""A registration context against the local AWS endpoint, for tests that register cameras."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloud.clients import AwsClients
from cloud.fleet import ensure_fleet, fleet_names
from cloud.registration import RegistrationContext
from cloud.settings import FleetSettings


def registration_context(endpoint: Any, home: Path, **settings: Any) -> RegistrationContext:
    """The fleet of `settings` (default settings but for these), ensured, its files under `home`."""
    fleet_settings = FleetSettings(home=home, aws_port=endpoint.port, **settings)
    clients = AwsClients(fleet_settings)
    return RegistrationContext(
        clients=clients,
        names=fleet_names(clients),
        fleet=ensure_fleet(clients),
        bundle_root=fleet_settings.bundles_dir,
        broker_ca_pem=endpoint.ca.cert_pem,
        fragment_root=home / "fragments",
    )
