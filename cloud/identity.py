"""An IoT identity held in a bundle: a certificate issued from the bundle's own key, attached to a
thing and a policy. Shared by camera registration and the MQTT bridge's identity."""

from __future__ import annotations

import logging
from collections.abc import Callable, Set
from dataclasses import dataclass

from cloud import iot
from cloud.bundle import Bundle
from cloud.clients import AwsClients

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CertificateOutcome:
    arn: str
    created: bool
    retired: tuple[str, ...] = ()


def ensure_certificate(
    clients: AwsClients,
    bundle: Bundle,
    thing: str,
    policy: str,
    principals: Set[str],
    *,
    on_created: Callable[[str], None] | None = None,
    retire_others: bool = True,
) -> CertificateOutcome:
    """Reuse the bundle's ACTIVE certificate, or issue one from a CSR of the bundle's key; attach
    it to `thing` and `policy`.

    The certificate is written to the bundle before it is attached, so a crash in between is
    resumed by the next run. `on_created` is told the new certificate's ARN at once (a caller's
    rollback journal). With `retire_others`, certificates attached to the thing whose key this
    bundle does not hold (a lost bundle) are revoked and deleted; an identity shared by several
    hosts (the bridge: one bundle per host) keeps them.
    """
    held = bundle.certificate_arn()
    if held is not None:
        record = iot.describe_certificate(clients, iot.certificate_id(held))
        if record is None or record.status != "ACTIVE":
            bundle.forget_certificate()
            held = None
    created = held is None
    if held is None:
        record, pem = iot.create_certificate_from_csr(clients, bundle.csr(thing))
        held = record.arn
        bundle.write_certificate(pem, held)  # before attaching: a crash here is resumable
        if on_created is not None:
            on_created(held)
    if held not in principals:
        iot.attach_certificate(clients, held, policy, thing)
    retired: list[str] = []
    if retire_others:
        for stale in sorted(set(principals) - {held}):
            log.warning("%s: retiring certificate %s (key not in the bundle)", thing, stale)
            iot.retire_certificate(clients, stale, thing)
            retired.append(stale)
    return CertificateOutcome(arn=held, created=created, retired=tuple(retired))
