"""State survives a restart of ``python -m stack.endpoint`` (SIGTERM saves it)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stack.endpoint.server import start_local_endpoint
from tests.support.endpoint_admin import endpoint_client

if TYPE_CHECKING:
    from types_boto3_iot import IoTClient
    from types_boto3_kinesisvideo import KinesisVideoClient
    from types_boto3_rekognition import RekognitionClient
    from types_boto3_s3 import S3Client

ACCOUNT = "123456789012"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_endpoint(state_dir: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stack.endpoint",
            "--port",
            str(port),
            "--state-dir",
            str(state_dir),
            "--processor-quota",
            "3",
        ],
        cwd=Path(__file__).resolve().parents[2],
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_fleet/health", timeout=1):
                return process
        except OSError:
            if process.poll() is not None:
                raise AssertionError("the endpoint exited at start") from None
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the endpoint did not come up")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0


@dataclass(frozen=True)
class Clients:
    iot: IoTClient
    s3: S3Client
    kinesisvideo: KinesisVideoClient
    rekognition: RekognitionClient


def clients(port: int) -> Clients:
    url = f"http://127.0.0.1:{port}"
    return Clients(
        iot=endpoint_client(url, "iot"),
        s3=endpoint_client(url, "s3"),
        kinesisvideo=endpoint_client(url, "kinesisvideo"),
        rekognition=endpoint_client(url, "rekognition"),
    )


def test_thing_processor_and_object_survive_a_restart(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    port = free_port()
    process = run_endpoint(state_dir, port)
    try:
        aws = clients(port)
        aws.iot.create_thing(thingName="cam-persist")
        aws.s3.create_bucket(Bucket="fleet-frames-persist")
        aws.s3.put_object(Bucket="fleet-frames-persist", Key="cam/1.jpg", Body=b"jpeg")
        stream = aws.kinesisvideo.create_stream(StreamName="cam-persist")["StreamARN"]
        aws.rekognition.create_stream_processor(
            Name="cam-persist",
            Input={"KinesisVideoStream": {"Arn": stream}},
            Output={"S3Destination": {"Bucket": "fleet-frames-persist", "KeyPrefix": "cam"}},
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/rek",
            Settings={"ConnectedHome": {"Labels": ["PERSON"]}},
            NotificationChannel={"SNSTopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:t"},
        )
        aws.rekognition.start_stream_processor(
            Name="cam-persist",
            StartSelector={"KVSStreamStartSelector": {"ProducerTimestamp": 1_767_225_600_000}},
            StopSelector={"MaxDurationInSeconds": 120},
        )
        ca_pem = json.loads(
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_fleet/health").read()
        )["ca_cert_path"]
        ca_before = Path(ca_pem).read_text()
    finally:
        stop(process)
    assert (state_dir / "aws-state.pickle").exists()

    process = run_endpoint(state_dir, port)
    try:
        aws = clients(port)
        assert aws.iot.describe_thing(thingName="cam-persist")["thingName"] == "cam-persist"
        body = aws.s3.get_object(Bucket="fleet-frames-persist", Key="cam/1.jpg")["Body"]
        assert body.read() == b"jpeg"
        described = aws.rekognition.describe_stream_processor(Name="cam-persist")
        assert described["Status"] == "STOPPED"
        assert Path(ca_pem).read_text() == ca_before
    finally:
        stop(process)


def test_mutations_are_saved_after_a_short_delay(tmp_path: Path) -> None:
    with start_local_endpoint(tmp_path, save_delay_seconds=0.2) as endpoint:
        state_file = tmp_path / "aws-state.pickle"
        assert not state_file.exists()
        clients(endpoint.port).iot.create_thing(thingName="cam-debounced")
        deadline = time.monotonic() + 5
        while not state_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state_file.exists()
