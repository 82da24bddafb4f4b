"""The device bundle: what a camera host needs to connect, written to a directory.

The private key is generated here and never leaves the bundle (0600); AWS issues the certificate
from a CSR. A bundle's key and certificate are reused when registration runs again.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import tomli_w
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cloud.errors import InvalidInputError
from device.config import AgentConfig

log = logging.getLogger(__name__)

KEY_FILE = "private.pem.key"
CERT_FILE = "certificate.pem.crt"
CERT_ARN_FILE = "certificate.arn"
CA_FILE = "root-ca.pem"
AGENT_CONFIG_FILE = "agent.toml"


def _write(path: Path, data: str, mode: int) -> None:
    """Atomic write with the final mode set before any byte lands on disk."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # O_CREAT's mode is masked by the umask; be explicit
        os.write(fd, data.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class Bundle:
    def __init__(self, directory: Path):
        self.dir = directory

    @property
    def key_path(self) -> Path:
        return self.dir / KEY_FILE

    @property
    def cert_path(self) -> Path:
        return self.dir / CERT_FILE

    @property
    def config_path(self) -> Path:
        return self.dir / AGENT_CONFIG_FILE

    def ensure_dir(self) -> bool:
        created = not self.dir.exists()
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as err:
            raise InvalidInputError(f"bundle directory {self.dir}: {err.strerror}") from err
        if not os.access(self.dir, os.W_OK):
            raise InvalidInputError(f"bundle directory {self.dir} is not writable")
        return created

    def ensure_key(self) -> ec.EllipticCurvePrivateKey:
        """The camera's key (ECDSA P-256, which AWS IoT accepts): reused if present."""
        if self.key_path.exists():
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise InvalidInputError(f"{self.key_path} is not an EC private key")
            return key
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write(self.key_path, pem.decode(), 0o600)
        return key

    def csr(self, camera_id: str) -> str:
        key = self.ensure_key()
        request = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, camera_id)]))
            .sign(key, hashes.SHA256())
        )
        return request.public_bytes(serialization.Encoding.PEM).decode()

    def certificate_arn(self) -> str | None:
        """The certificate this bundle holds, if it holds one for its current key."""
        arn_file = self.dir / CERT_ARN_FILE
        if not (arn_file.exists() and self.cert_path.exists() and self.key_path.exists()):
            return None
        cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        key_pub = (
            self.ensure_key()
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        cert_pub = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return arn_file.read_text().strip() if key_pub == cert_pub else None

    def write_certificate(self, pem: str, arn: str) -> None:
        _write(self.cert_path, pem, 0o644)
        _write(self.dir / CERT_ARN_FILE, arn + "\n", 0o644)

    def forget_certificate(self) -> None:
        for name in (CERT_FILE, CERT_ARN_FILE):
            (self.dir / name).unlink(missing_ok=True)

    def write_ca(self, pem: str) -> None:
        _write(self.dir / CA_FILE, pem, 0o644)

    def write_agent_config(self, config: AgentConfig) -> None:
        _write(self.config_path, tomli_w.dumps(config.to_toml_dict()), 0o644)

    def remove(self) -> None:
        """Rollback: delete everything this bundle holds, key first."""
        for name in (KEY_FILE, CERT_FILE, CERT_ARN_FILE, CA_FILE, AGENT_CONFIG_FILE):
            (self.dir / name).unlink(missing_ok=True)
        try:
            self.dir.rmdir()
        except OSError:
            log.debug("bundle directory %s not empty; left in place", self.dir)
