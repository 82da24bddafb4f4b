"""Make moto's IoT backend issue certificates from the local CA.

Patched on ``moto.iot.models.IoTBackend`` (process-wide, at endpoint start):

- ``create_keys_and_certificate``: a new key and a certificate from the CA;
- ``create_certificate_from_csr``: the CSR's *public key* in a certificate from
  the CA, its subject ignored (moto's own ignores the key and self-signs);
- ``_generate_certificate_pem``: CA-signed too, for any other moto path;
- ``describe_endpoint``: a stable address (moto makes a random host per
  call): the configured MQTT host for ``iot:Data-ATS``/``iot:Data``, a
  fixed placeholder host for ``iot:CredentialProvider`` and ``iot:Jobs``;
- ``delete_thing``: the thing leaves its thing groups too, as in AWS (moto's
  keeps listing a deleted thing in its groups);
- ``create_thing``, ``update_thing``: a thing without a thing type has at most
  three attributes (AWS IoT's developer guide, "Thing types"; moto has no limit).

moto's ``iot.use_valid_cert`` is switched on so certificate ids are the
SHA-256 of the DER, as AWS computes them.

Which CA and host a request uses comes from ``IotContext``: the endpoint
activates its own around each request (a context variable), so several
endpoints in one process each sign with their own CA; outside a request the
last installed context applies.
"""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from moto.core.config import default_user_config
from moto.iot import models as iot_models
from moto.iot.exceptions import InvalidRequestException, ResourceNotFoundException
from moto.utilities.utils import get_partition

from stack.endpoint.ca import LocalCA

logger = logging.getLogger(__name__)

CREDENTIAL_PROVIDER_HOST = "credentials.iot.local.fleet"
JOBS_HOST = "jobs.iot.local.fleet"


@dataclass(frozen=True)
class IotContext:
    ca: LocalCA
    mqtt_host: str = "127.0.0.1"


_current: contextvars.ContextVar[IotContext | None] = contextvars.ContextVar(
    "local_iot_context", default=None
)
_default: list[IotContext] = []
_ORIGINALS: dict[str, Any] = {}
MAX_UNTYPED_ATTRIBUTES = 3


def current_context() -> IotContext:
    context = _current.get()
    if context is not None:
        return context
    if not _default:
        raise RuntimeError("the local IoT CA is not installed")
    return _default[-1]


def activate(context: IotContext) -> contextvars.Token[IotContext | None]:
    return _current.set(context)


def deactivate(token: contextvars.Token[IotContext | None]) -> None:
    _current.reset(token)


def _create_keys_and_certificate(self: Any, set_as_active: bool) -> tuple[Any, dict[str, str]]:
    cert_pem, key_pem = current_context().ca.issue_key_and_cert()
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    public_pem = cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    status = "ACTIVE" if set_as_active else "INACTIVE"
    certificate = iot_models.FakeCertificate(cert_pem, status, self.account_id, self.region_name)
    self.certificates[certificate.certificate_id] = certificate
    return certificate, {"PublicKey": public_pem.decode(), "PrivateKey": key_pem}


def _create_certificate_from_csr(self: Any, csr: str, set_as_active: bool) -> Any:
    try:
        cert_pem = current_context().ca.sign_csr(csr)
    except ValueError as err:
        raise InvalidRequestException(f"The CSR is not valid: {err}") from err
    return self.register_certificate(
        cert_pem, ca_certificate_pem=None, set_as_active=set_as_active, status="INACTIVE"
    )


def _generate_certificate_pem(
    self: Any, domain_name: str, subject: x509.Name, key: Any = None
) -> str:
    if key is None:
        cert_pem, _ = current_context().ca.issue_key_and_cert()
        return cert_pem
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return current_context().ca.sign_csr(csr.public_bytes(serialization.Encoding.PEM).decode())


def _describe_endpoint(self: Any, endpoint_type: str) -> Any:
    endpoint = iot_models.FakeEndpoint(endpoint_type, self.region_name)
    if endpoint_type in ("iot:Data", "iot:Data-ATS"):
        endpoint.endpoint = current_context().mqtt_host
    elif endpoint_type == "iot:CredentialProvider":
        endpoint.endpoint = CREDENTIAL_PROVIDER_HOST
    else:
        endpoint.endpoint = JOBS_HOST
    self.endpoint = endpoint
    return endpoint


def _describe_thing(self: Any, thing_name: str) -> Any:
    """The thing by its ARN, the key moto keeps things under (moto walks every thing, and every
    shadow read and write describes the thing: at 10,000 things that is most of a write)."""
    partition = get_partition(self.region_name)
    arn = f"arn:{partition}:iot:{self.region_name}:{self.account_id}:thing/{thing_name}"
    thing = self.things.get(arn)
    if thing is None:
        raise ResourceNotFoundException()
    return thing


def _delete_thing(self: Any, thing_name: str) -> None:
    arn = self.describe_thing(thing_name).arn
    _ORIGINALS["delete_thing"](self, thing_name)
    for group in self.thing_groups.values():
        group.things.pop(arn, None)


def _check_untyped_attributes(thing_name: str, typed: bool, attributes: dict[str, Any]) -> None:
    if not typed and len(attributes) > MAX_UNTYPED_ATTRIBUTES:
        raise InvalidRequestException(
            msg=f"A thing without a thing type can have at most {MAX_UNTYPED_ATTRIBUTES} "
            f"attributes; {thing_name} would have {len(attributes)}."
        )


def _create_thing(
    self: Any,
    thing_name: str,
    thing_type_name: str,
    attribute_payload: dict[str, Any] | None,
    billing_group_name: str | None = None,
) -> Any:
    attributes = (attribute_payload or {}).get("attributes") or {}
    _check_untyped_attributes(thing_name, bool(thing_type_name), attributes)
    return _ORIGINALS["create_thing"](
        self, thing_name, thing_type_name, attribute_payload, billing_group_name
    )


def _update_thing(
    self: Any,
    thing_name: str,
    thing_type_name: str,
    attribute_payload: dict[str, Any] | None,
    remove_thing_type: bool,
) -> None:
    thing = self.describe_thing(thing_name)
    attributes = dict(thing.attributes)
    if attribute_payload is not None and "attributes" in attribute_payload:
        given = attribute_payload["attributes"]
        attributes = {**attributes, **given} if attribute_payload.get("merge") else dict(given)
        attributes = {key: value for key, value in attributes.items() if value}
    typed = bool(thing_type_name) or (thing.thing_type is not None and not remove_thing_type)
    _check_untyped_attributes(thing_name, typed, attributes)
    _ORIGINALS["update_thing"](
        self, thing_name, thing_type_name, attribute_payload, remove_thing_type
    )


_PATCHES = {
    "create_keys_and_certificate": _create_keys_and_certificate,
    "create_certificate_from_csr": _create_certificate_from_csr,
    "_generate_certificate_pem": _generate_certificate_pem,
    "describe_endpoint": _describe_endpoint,
    "describe_thing": _describe_thing,
    "delete_thing": _delete_thing,
    "create_thing": _create_thing,
    "update_thing": _update_thing,
}


def install(context: IotContext) -> None:
    """Patch moto's IoT backend (once) and make ``context`` the default."""
    default_user_config.setdefault("iot", {})["use_valid_cert"] = True
    backend_class = iot_models.IoTBackend
    for name, function in _PATCHES.items():
        if name not in _ORIGINALS:
            _ORIGINALS[name] = getattr(backend_class, name)
            setattr(backend_class, name, function)
    _default.append(context)
    logger.debug("local IoT CA installed in moto's IoT backend")


def uninstall(context: IotContext) -> None:
    """Forget ``context``; restore moto's methods when no endpoint is left."""
    if context in _default:
        _default.remove(context)
    if not _default:
        for name, function in _ORIGINALS.items():
            setattr(iot_models.IoTBackend, name, function)
        _ORIGINALS.clear()
