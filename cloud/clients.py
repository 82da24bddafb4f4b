"""One boto3 session per process and one typed client per service, made once and reused.

The client types come from the `types-boto3` stubs, a dev dependency imported for type checking
only; an install without them runs the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

import boto3
from botocore.config import Config

from cloud.errors import aws_call
from cloud.settings import LOCAL_CREDENTIALS, FleetSettings

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_iam import IAMClient
    from types_boto3_iot import IoTClient
    from types_boto3_iot_data import IoTDataPlaneClient
    from types_boto3_kinesis_video_archived_media import KinesisVideoArchivedMediaClient
    from types_boto3_kinesisvideo import KinesisVideoClient
    from types_boto3_rekognition import RekognitionClient
    from types_boto3_s3 import S3Client
    from types_boto3_service_quotas import ServiceQuotasClient
    from types_boto3_sns import SNSClient
    from types_boto3_sqs import SQSClient
    from types_boto3_sts import STSClient

# botocore's standard mode retries throttling and transient errors with exponential backoff and
# full jitter; the pool is sized for concurrent registrations sharing a client.
_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=64,
)

_Client = TypeVar("_Client")


class _Once(Generic[_Client]):
    """A client made on first use, under the lock every client of the session shares."""

    def __init__(self, lock: threading.RLock, make: Callable[[], _Client]):
        self._lock = lock
        self._make = make
        self._client: _Client | None = None

    def get(self) -> _Client:
        with self._lock:
            if self._client is None:
                self._client = self._make()
            return self._client


def _session(settings: FleetSettings) -> boto3.session.Session:
    if settings.is_local:
        return boto3.session.Session(
            region_name=settings.region,
            aws_access_key_id=LOCAL_CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=LOCAL_CREDENTIALS["aws_secret_access_key"],
        )
    return boto3.session.Session(region_name=settings.region, profile_name=settings.aws_profile)


class AwsClients:
    """The composition root builds one of these; everything else receives it."""

    def __init__(self, settings: FleetSettings):
        self.settings = settings
        session = _session(settings)
        url = settings.endpoint_url
        # Reentrant: making the IoT data-plane client first reads its endpoint with the IoT client.
        lock = threading.RLock()
        self._account_id: str | None = None
        self._sts = _Once(lock, lambda: session.client("sts", endpoint_url=url, config=_CONFIG))
        self._kvs = _Once(
            lock, lambda: session.client("kinesisvideo", endpoint_url=url, config=_CONFIG)
        )
        self._rekognition = _Once(
            lock, lambda: session.client("rekognition", endpoint_url=url, config=_CONFIG)
        )
        self._iam = _Once(lock, lambda: session.client("iam", endpoint_url=url, config=_CONFIG))
        self._iot = _Once(lock, lambda: session.client("iot", endpoint_url=url, config=_CONFIG))
        self._iot_data = _Once(
            lock,
            lambda: session.client(
                "iot-data", endpoint_url=url or self._iot_data_endpoint(), config=_CONFIG
            ),
        )
        self._s3 = _Once(lock, lambda: session.client("s3", endpoint_url=url, config=_CONFIG))
        self._sns = _Once(lock, lambda: session.client("sns", endpoint_url=url, config=_CONFIG))
        self._sqs = _Once(lock, lambda: session.client("sqs", endpoint_url=url, config=_CONFIG))
        self._dynamodb = _Once(
            lock, lambda: session.client("dynamodb", endpoint_url=url, config=_CONFIG)
        )
        self._lock = lock
        self._session = session
        self._archived_media: dict[str, KinesisVideoArchivedMediaClient] = {}
        self._quotas = _Once(
            lock, lambda: session.client("service-quotas", endpoint_url=url, config=_CONFIG)
        )

    def _iot_data_endpoint(self) -> str:
        """The account's own ATS data endpoint: the SDK's default `data.iot` host serves a
        legacy certificate chain."""
        with aws_call("describe the IoT data endpoint (iot:Data-ATS)"):
            host = self.iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
        return f"https://{host}"

    @property
    def region(self) -> str:
        return self.settings.region

    @property
    def account_id(self) -> str:
        if self._account_id is None:
            with aws_call("read the AWS account id (STS GetCallerIdentity)"):
                self._account_id = self.sts.get_caller_identity()["Account"]
        return self._account_id

    @property
    def sts(self) -> STSClient:
        return self._sts.get()

    @property
    def kvs(self) -> KinesisVideoClient:
        return self._kvs.get()

    @property
    def rekognition(self) -> RekognitionClient:
        return self._rekognition.get()

    @property
    def iam(self) -> IAMClient:
        return self._iam.get()

    @property
    def iot(self) -> IoTClient:
        return self._iot.get()

    @property
    def iot_data(self) -> IoTDataPlaneClient:
        """The IoT data plane (thing shadows): on AWS, at the account's own ATS endpoint."""
        return self._iot_data.get()

    @property
    def s3(self) -> S3Client:
        return self._s3.get()

    @property
    def sns(self) -> SNSClient:
        return self._sns.get()

    @property
    def sqs(self) -> SQSClient:
        return self._sqs.get()

    @property
    def dynamodb(self) -> DynamoDBClient:
        return self._dynamodb.get()

    def archived_media(self, data_endpoint: str) -> KinesisVideoArchivedMediaClient:
        """KVS archived media (GetImages, GetClip, ...) at a stream's data endpoint (from
        GetDataEndpoint): one client per endpoint."""
        with self._lock:
            client = self._archived_media.get(data_endpoint)
            if client is None:
                client = self._session.client(
                    "kinesis-video-archived-media", endpoint_url=data_endpoint, config=_CONFIG
                )
                self._archived_media[data_endpoint] = client
            return client

    @property
    def quotas(self) -> ServiceQuotasClient:
        return self._quotas.get()
