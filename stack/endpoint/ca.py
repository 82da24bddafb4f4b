"""The local IoT certificate authority.

AWS IoT signs device certificates with its own CA and ignores the subject of
a CSR; the broker derives a device's identity from the certificate. The local
CA does the same: every certificate it issues gets a subject the CA chooses
(CN = the serial number in hex, unique per CA), and only the CSR's public key
is used. The local mosquitto broker trusts this CA and maps the certificate's
CN to the username its ACL is written for (``use_identity_as_username``).

The CA key is written 0600 and survives restarts (``load_or_create``).
Not emulated: revocation (CRLs/OCSP), certificate policies, CA rotation.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

logger = logging.getLogger(__name__)

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca.key"
CA_COMMON_NAME = "Camera Fleet Local IoT CA"
DEVICE_VALIDITY = dt.timedelta(days=3650)
CA_VALIDITY = dt.timedelta(days=3650)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only (0600), atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def certificate_identity(cert_pem: str) -> str:
    """The identity the broker sees for ``cert_pem``: its subject CN."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise ValueError("certificate has no subject common name")
    value = names[0].value
    return value if isinstance(value, str) else value.decode()


class LocalCA:
    """A small CA: one key, one self-signed certificate, issuing leaf certs."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        self._key = key
        self._cert = cert

    @classmethod
    def load_or_create(cls, directory: Path) -> LocalCA:
        """Load the CA from ``directory`` or create it there (key 0600)."""
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / CA_CERT_FILE, directory / CA_KEY_FILE
        if cert_path.exists() and key_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{key_path} is not an EC private key")
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            logger.info("loaded local IoT CA from %s", directory)
            return cls(key, cert)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Camera Fleet (local)"),
                x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME),
            ]
        )
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        _write_private(key_path, _key_pem(key))
        _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        logger.info("created local IoT CA in %s", directory)
        return cls(key, cert)

    @property
    def cert_pem(self) -> str:
        return self._cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def subject(self) -> x509.Name:
        return self._cert.subject

    def _issue(
        self,
        public_key: CertificatePublicKeyTypes,
        *,
        server_names: list[str] | None = None,
    ) -> x509.Certificate:
        serial = x509.random_serial_number()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, format(serial, "x"))])
        now = _now()
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server_names else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._cert.subject)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + DEVICE_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        if server_names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(_general_names(server_names)), critical=False
            )
        return builder.sign(self._key, hashes.SHA256())

    def sign_csr(self, csr_pem: str) -> str:
        """Issue a client certificate for the CSR's public key.

        The CSR's subject and extensions are ignored, as AWS IoT does: the
        subject CN is the new certificate's serial number in hex.
        """
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        if not csr.is_signature_valid:
            raise ValueError("CSR signature is not valid")
        return self._issue(csr.public_key()).public_bytes(serialization.Encoding.PEM).decode()

    def issue_key_and_cert(self) -> tuple[str, str]:
        """A new RSA-2048 key and a client certificate for it: ``(cert_pem, key_pem)``."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = self._issue(key.public_key())
        return cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key).decode()

    def issue_server_cert(self, hostnames: list[str], directory: Path) -> tuple[Path, Path]:
        """A TLS server certificate for the broker, written to ``directory``.

        The SAN always holds DNS ``localhost`` and IP ``127.0.0.1`` besides
        ``hostnames``. Returns ``(cert_path, key_path)``; the key is 0600.
        """
        names = list(dict.fromkeys([*hostnames, "localhost", "127.0.0.1"]))
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._issue(key.public_key(), server_names=names)
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / "server.pem", directory / "server.key"
        _write_private(key_path, _key_pem(key))
        _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return cert_path, key_path


def _general_names(names: list[str]) -> list[x509.GeneralName]:
    result: list[x509.GeneralName] = []
    for name in names:
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result
