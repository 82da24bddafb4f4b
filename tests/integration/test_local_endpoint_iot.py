"""IoT certificates from the local CA, stable endpoints, the generated broker ACL."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from stack.endpoint.ca import LocalCA, certificate_identity
from stack.endpoint.server import LocalEndpoint, start_local_endpoint

ARN = "arn:aws:iot:us-east-1:123456789012"


def iot_client(endpoint: LocalEndpoint) -> Any:
    return boto3.client(
        "iot",
        endpoint_url=endpoint.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def assert_issued_by(ca: LocalCA, cert_pem: str) -> x509.Certificate:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.encode())
    assert cert.issuer == ca_cert.subject
    cert.verify_directly_issued_by(ca_cert)
    return cert


def test_keys_and_certificate_chain_to_the_ca(local_endpoint: LocalEndpoint) -> None:
    iot = iot_client(local_endpoint)
    created = iot.create_keys_and_certificate(setAsActive=True)
    cert = assert_issued_by(local_endpoint.ca, created["certificatePem"])
    key = serialization.load_pem_private_key(created["keyPair"]["PrivateKey"].encode(), None)
    assert cert.public_key() == key.public_key()
    der = cert.public_bytes(serialization.Encoding.DER)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    assert created["certificateId"] == digest.finalize().hex()
    assert certificate_identity(created["certificatePem"]) == format(cert.serial_number, "x")


def test_csr_public_key_is_used_and_subject_ignored(local_endpoint: LocalEndpoint) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "admin")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    created = iot_client(local_endpoint).create_certificate_from_csr(
        certificateSigningRequest=csr, setAsActive=True
    )
    cert = assert_issued_by(local_endpoint.ca, created["certificatePem"])
    assert cert.public_key() == key.public_key()
    assert certificate_identity(created["certificatePem"]) != "admin"
    assert certificate_identity(created["certificatePem"]) == format(cert.serial_number, "x")


def test_describe_endpoint_is_stable(local_endpoint: LocalEndpoint) -> None:
    iot = iot_client(local_endpoint)
    ats = {iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"] for _ in range(3)}
    assert ats == {"127.0.0.1"}
    creds = {
        iot.describe_endpoint(endpointType="iot:CredentialProvider")["endpointAddress"]
        for _ in range(3)
    }
    assert len(creds) == 1


def test_a_thing_without_a_thing_type_has_at_most_three_attributes(
    local_endpoint: LocalEndpoint,
) -> None:
    iot = iot_client(local_endpoint)
    name = f"attrs-{uuid.uuid4().hex[:8]}"
    four = {"attributes": {"a": "1", "b": "2", "c": "3", "d": "4"}}
    with pytest.raises(iot.exceptions.InvalidRequestException, match="at most 3 attributes"):
        iot.create_thing(thingName=name, attributePayload=four)
    iot.create_thing(thingName=name, attributePayload={"attributes": {"a": "1", "b": "2"}})
    merged = {"attributes": {"c": "3", "d": "4"}, "merge": True}
    with pytest.raises(iot.exceptions.InvalidRequestException, match="would have 4"):
        iot.update_thing(thingName=name, attributePayload=merged)
    # Replacing or removing keeps within the limit; a thing type lifts it (to AWS's 50).
    iot.update_thing(
        thingName=name, attributePayload={"attributes": {"a": "", "c": "3"}, "merge": True}
    )
    assert iot.describe_thing(thingName=name)["attributes"] == {"b": "2", "c": "3"}
    iot.create_thing_type(thingTypeName=f"type-{name}")
    iot.update_thing(thingName=name, thingTypeName=f"type-{name}", attributePayload=four)
    assert len(iot.describe_thing(thingName=name)["attributes"]) == 4


def test_a_thing_is_found_by_its_name_and_gone_once_deleted(
    local_endpoint: LocalEndpoint,
) -> None:
    """The endpoint finds a thing by its key (moto walked every thing); the answers are AWS's."""
    iot = iot_client(local_endpoint)
    data = boto3.client(
        "iot-data",
        endpoint_url=local_endpoint.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = f"found-{uuid.uuid4().hex[:8]}"
    iot.create_thing(thingName=name)
    assert iot.describe_thing(thingName=name)["thingArn"] == f"{ARN}:thing/{name}"
    data.update_thing_shadow(thingName=name, payload=b'{"state": {"reported": {"a": 1}}}')
    shadow = json.loads(data.get_thing_shadow(thingName=name)["payload"].read())
    assert shadow["state"]["reported"] == {"a": 1}
    iot.delete_thing(thingName=name)
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_thing(thingName=name)
    with pytest.raises(data.exceptions.ResourceNotFoundException):
        data.get_thing_shadow(thingName=name)


def test_ca_survives_reload_and_issues_server_certs(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path)
    assert (tmp_path / "ca.key").stat().st_mode & 0o777 == 0o600
    assert LocalCA.load_or_create(tmp_path).cert_pem == ca.cert_pem
    cert_path, key_path = ca.issue_server_cert(["broker.local"], tmp_path / "tls")
    cert = assert_issued_by(ca, cert_path.read_text())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert key_path.stat().st_mode & 0o777 == 0o600


CAMERA_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "iot:Connect",
            "Resource": f"{ARN}:client/${{iot:Connection.Thing.ThingName}}",
        },
        {
            "Effect": "Allow",
            "Action": "iot:Publish",
            "Resource": f"{ARN}:topic/fleet/${{iot:Connection.Thing.ThingName}}/*",
        },
    ],
}

HUP_RECORDER = """
import signal, sys, time
path = sys.argv[1]
signal.signal(signal.SIGHUP, lambda *_: open(path, "a").write("hup\\n"))
open(path, "a").write("ready\\n")
while True:
    time.sleep(0.1)
"""


@pytest.fixture()
def broker(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A stand-in broker process that records SIGHUPs: (pid file, record file)."""
    record = tmp_path / "hups.txt"
    process = subprocess.Popen([sys.executable, "-c", HUP_RECORDER, str(record)])
    deadline = time.monotonic() + 10
    while not record.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    pid_file = tmp_path / "broker.pid"
    pid_file.write_text(str(process.pid))
    yield pid_file, record
    process.kill()
    process.wait()


def hups(record: Path) -> int:
    return record.read_text().count("hup")


def wait_hups(record: Path, count: int) -> None:
    deadline = time.monotonic() + 5
    while hups(record) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert hups(record) >= count


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """The ACL is regenerated off the request path, a few tens of milliseconds later."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the ACL did not follow within the timeout"
        time.sleep(0.02)


def test_acl_file_follows_attach_detach_and_deactivate(
    tmp_path: Path, broker: tuple[Path, Path]
) -> None:
    pid_file, record = broker
    acl = tmp_path / "acl"
    with start_local_endpoint(
        tmp_path / "state", acl_file=acl, broker_pid_file=pid_file
    ) as endpoint:
        iot = iot_client(endpoint)
        thing = f"cam-{uuid.uuid4().hex[:6]}"
        policy = f"camera-{thing}"
        cert = iot.create_keys_and_certificate(setAsActive=True)
        identity = certificate_identity(cert["certificatePem"])
        iot.create_thing(thingName=thing)
        iot.create_policy(policyName=policy, policyDocument=json.dumps(CAMERA_POLICY))
        before = hups(record)
        iot.attach_policy(policyName=policy, target=cert["certificateArn"])
        iot.attach_thing_principal(thingName=thing, principal=cert["certificateArn"])
        eventually(lambda: f"user {identity}\ntopic write fleet/{thing}/#" in acl.read_text())
        wait_hups(record, before + 1)

        iot.detach_thing_principal(thingName=thing, principal=cert["certificateArn"])
        eventually(lambda: f"fleet/{thing}/" not in acl.read_text())
        iot.attach_thing_principal(thingName=thing, principal=cert["certificateArn"])
        eventually(lambda: f"fleet/{thing}/#" in acl.read_text())

        iot.update_certificate(certificateId=cert["certificateId"], newStatus="INACTIVE")
        eventually(lambda: identity not in acl.read_text())
        iot.update_certificate(certificateId=cert["certificateId"], newStatus="ACTIVE")
        iot.detach_policy(policyName=policy, target=cert["certificateArn"])
        eventually(lambda: identity not in acl.read_text())
        wait_hups(record, before + 4)
