import stat
from pathlib import Path

from cryptography import x509

from cloud.bundle import Bundle
from device.config import (
    AgentConfig,
    AwsConfig,
    MqttConfig,
    SinkConfig,
    SinkKind,
    load_agent_config,
)


def test_key_is_private_and_reused(tmp_path: Path) -> None:
    bundle = Bundle(tmp_path / "cam1")
    assert bundle.ensure_dir() is True
    first = bundle.ensure_key()
    assert stat.S_IMODE(bundle.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(bundle.dir.stat().st_mode) == 0o700
    assert bundle.ensure_key().private_numbers() == first.private_numbers()
    csr = x509.load_pem_x509_csr(bundle.csr("cam1").encode())
    assert csr.is_signature_valid
    assert csr.public_key() == first.public_key()


def test_certificate_is_held_only_for_the_bundles_key(tmp_path: Path) -> None:
    bundle = Bundle(tmp_path / "cam1")
    bundle.ensure_dir()
    other = Bundle(tmp_path / "other")
    other.ensure_dir()
    # A self-signed stand-in certificate for another key does not count as this bundle's.
    import datetime as dt

    from cryptography.hazmat.primitives import hashes, serialization

    key = other.ensure_key()
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "x")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    bundle.write_certificate(pem, "arn:aws:iot:us-east-1:1:cert/abc")
    assert bundle.certificate_arn() is None
    other.write_certificate(pem, "arn:aws:iot:us-east-1:1:cert/abc")
    assert other.certificate_arn() == "arn:aws:iot:us-east-1:1:cert/abc"


def test_agent_config_round_trip_with_env_override(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bundle = Bundle(tmp_path / "cam1")
    bundle.ensure_dir()
    config = AgentConfig(
        camera_id="cam1",
        mqtt=MqttConfig(endpoint="127.0.0.1", port=8883, client_id="cam1"),
        aws=AwsConfig(region="us-east-1", credentials_endpoint="c.example", role_alias="ra"),
        sink=SinkConfig(kind=SinkKind.LOCAL, stream_name="cam1", fragment_dir=Path("frags")),
    )
    bundle.write_agent_config(config)
    loaded = load_agent_config(bundle.config_path)
    assert loaded.mqtt.cert == bundle.dir / "certificate.pem.crt"
    assert loaded.sink.fragment_dir == bundle.dir / "frags"
    monkeypatch.setenv("FLEET_AGENT_MQTT__PORT", "9999")
    assert load_agent_config(bundle.config_path).mqtt.port == 9999
