"""The MQTT bridge's own IoT identity (policy, thing, per-host certificate): never a camera's.

Each bridge host has its own bundle and certificate, so no host retires another's. Connecting to
the broker is the bridge service's business, not this module's.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cloud import iot
from cloud.bundle import Bundle
from cloud.clients import AwsClients
from cloud.identity import ensure_certificate
from cloud.models import Arn, Change, Model
from cloud.naming import FleetNames
from cloud.policies import PolicyName, render

log = logging.getLogger(__name__)

BRIDGE_ATTRIBUTE = "fleet_bridge"


class BridgeIdentity(Model):
    thing_name: str
    policy_name: str
    certificate_arn: Arn
    bundle_dir: Path
    changed: tuple[str, ...] = ()

    @property
    def bundle(self) -> Bundle:
        return Bundle(self.bundle_dir)


def bridge_policy(names: FleetNames) -> dict[str, object]:
    return render(PolicyName.IOT_BRIDGE, **names.arn_context(), Fleet=names.fleet)


def ensure_bridge_identity(
    clients: AwsClients, names: FleetNames, bundle_dir: Path, broker_ca_pem: str
) -> BridgeIdentity:
    """Idempotent: the policy, the thing, this host's certificate (attached) and its bundle."""
    changed: list[str] = []
    policy_change = iot.ensure_policy(clients, names.bridge_policy, bridge_policy(names))
    if policy_change is not Change.UNCHANGED:
        changed.append(f"{policy_change.value} IoT policy {names.bridge_policy}")
    thing, thing_change = iot.ensure_thing(
        clients, names.bridge_thing, {BRIDGE_ATTRIBUTE: names.fleet}
    )
    if thing_change is not Change.UNCHANGED:
        changed.append(f"{thing_change.value} thing {thing.name}")
    bundle = Bundle(bundle_dir)
    if bundle.ensure_dir():
        changed.append(f"created bundle directory {bundle_dir}")
    outcome = ensure_certificate(
        clients,
        bundle,
        thing.name,
        names.bridge_policy,
        set(thing.principals),
        retire_others=False,
    )
    if outcome.created:
        changed.append("created IoT certificate")
    bundle.write_ca(broker_ca_pem)
    if changed:
        log.info("bridge identity %s: %s", thing.name, "; ".join(changed))
    return BridgeIdentity(
        thing_name=thing.name,
        policy_name=names.bridge_policy,
        certificate_arn=outcome.arn,
        bundle_dir=bundle_dir,
        changed=tuple(changed),
    )
