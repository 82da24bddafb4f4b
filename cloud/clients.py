"""One boto3 session per process and one client per service, reused (clients are thread-safe)."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from cloud.errors import aws_call
from cloud.settings import LOCAL_CREDENTIALS, FleetSettings

# botocore's standard mode retries throttling and transient errors with exponential backoff and
# full jitter; the pool is sized for concurrent registrations sharing a client.
_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=64,
)


class AwsClients:
    """The composition root builds one of these; everything else receives it."""

    def __init__(self, settings: FleetSettings):
        self.settings = settings
        session_kwargs: dict[str, Any] = {"region_name": settings.region}
        if settings.is_local:
            session_kwargs.update(LOCAL_CREDENTIALS)
        elif settings.aws_profile:
            session_kwargs["profile_name"] = settings.aws_profile
        self._session = boto3.session.Session(**session_kwargs)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._account_id: str | None = None

    @property
    def region(self) -> str:
        return self.settings.region

    def client(self, service: str, endpoint_url: str | None = None) -> Any:
        # Client creation is not thread-safe in boto3, so it happens under a lock, once.
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._session.client(
                    service, endpoint_url=endpoint_url or self.settings.endpoint_url, config=_CONFIG
                )
            return self._clients[service]

    @property
    def account_id(self) -> str:
        if self._account_id is None:
            with aws_call("read the AWS account id (STS GetCallerIdentity)"):
                self._account_id = str(self.client("sts").get_caller_identity()["Account"])
        return self._account_id

    @property
    def kvs(self) -> Any:
        return self.client("kinesisvideo")

    @property
    def rekognition(self) -> Any:
        return self.client("rekognition")

    @property
    def iam(self) -> Any:
        return self.client("iam")

    @property
    def iot(self) -> Any:
        return self.client("iot")

    @property
    def iot_data(self) -> Any:
        """The IoT data plane (thing shadows). On AWS it is the account's own ATS endpoint: the
        SDK's default `data.iot` host serves a legacy certificate chain."""
        if "iot-data" not in self._clients and not self.settings.is_local:
            with aws_call("describe the IoT data endpoint (iot:Data-ATS)"):
                host = self.iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
            return self.client("iot-data", endpoint_url=f"https://{host}")
        return self.client("iot-data")

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def sns(self) -> Any:
        return self.client("sns")

    @property
    def sqs(self) -> Any:
        return self.client("sqs")

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def quotas(self) -> Any:
        return self.client("service-quotas")
