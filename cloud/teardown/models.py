"""What a teardown finds and deletes: the fleet's resources, by kind, camera and service."""

from __future__ import annotations

from enum import StrEnum

from cloud.models import Model


def short_arn(name: str) -> str:
    """An ARN's resource part (`cert/<id>`, a topic's name), for people; any other name as is."""
    return name.split(":", 5)[-1] if name.startswith("arn:") else name


class Service(StrEnum):
    """The services the proof of a teardown lists again, one row each."""

    IOT = "IoT Core"
    IOT_DATA = "IoT shadows"
    KVS = "Kinesis Video Streams"
    REKOGNITION = "Rekognition"
    IAM = "IAM"
    S3 = "S3"
    SNS = "SNS"
    SQS = "SQS"
    DYNAMODB = "DynamoDB"


class Kind(StrEnum):
    SESSION = "analysis session"
    PROCESSOR = "stream processor"
    CERTIFICATE = "IoT certificate"
    SHADOW = "thing shadow"
    THING = "IoT thing"
    STREAM = "KVS stream"
    ROLE = "IAM role"
    RESULTS = "S3 result objects"
    DETECTIONS = "detection records"
    ANALYSIS_ITEM = "analysis item"
    SUBSCRIPTION = "SNS subscription"
    TOPIC = "SNS topic"
    QUEUE = "SQS queue"
    TABLE = "DynamoDB table"
    ANALYSIS_TABLE = "analysis table"
    FACE_COLLECTION = "face collection"
    FACE_PHOTOS = "S3 face photos"
    BUCKET = "S3 bucket"
    IOT_POLICY = "IoT policy"
    ROLE_ALIAS = "IoT role alias"
    THING_GROUP = "IoT thing group"

    @property
    def service(self) -> Service:
        return _SERVICES[self]


_SERVICES = {
    Kind.SESSION: Service.REKOGNITION,
    Kind.PROCESSOR: Service.REKOGNITION,
    Kind.CERTIFICATE: Service.IOT,
    Kind.SHADOW: Service.IOT_DATA,
    Kind.THING: Service.IOT,
    Kind.STREAM: Service.KVS,
    Kind.ROLE: Service.IAM,
    Kind.RESULTS: Service.S3,
    Kind.DETECTIONS: Service.DYNAMODB,
    Kind.ANALYSIS_ITEM: Service.DYNAMODB,
    Kind.SUBSCRIPTION: Service.SNS,
    Kind.TOPIC: Service.SNS,
    Kind.QUEUE: Service.SQS,
    Kind.TABLE: Service.DYNAMODB,
    Kind.ANALYSIS_TABLE: Service.DYNAMODB,
    Kind.FACE_COLLECTION: Service.REKOGNITION,
    Kind.FACE_PHOTOS: Service.S3,
    Kind.BUCKET: Service.S3,
    Kind.IOT_POLICY: Service.IOT,
    Kind.ROLE_ALIAS: Service.IOT,
    Kind.THING_GROUP: Service.IOT,
}


class Resource(Model):
    """One thing to delete. `name` is what its delete call takes (a name, an ARN, a key prefix);
    `parent` is what it lives in (a certificate's or a shadow's thing, a subscription's topic,
    result objects' bucket, detection records' or an analysis item's table). `camera` is None for
    fleet-level ones."""

    kind: Kind
    name: str
    camera: str | None = None
    parent: str | None = None
    count: int | None = None
    detail: str = ""

    @property
    def key(self) -> str:
        """Unique within a fleet: shadows share names across things, so the parent counts."""
        return f"{self.kind.value}:{self.parent or ''}:{self.name}"

    @property
    def short_name(self) -> str:
        return short_arn(self.name)

    @property
    def label(self) -> str:
        """How a person reads it: the kind, the name and, where it helps, where it lives."""
        where = f" of {self.parent}" if self.parent and self.kind is Kind.SHADOW else ""
        if self.kind in (Kind.RESULTS, Kind.FACE_PHOTOS, Kind.DETECTIONS, Kind.ANALYSIS_ITEM):
            where = f" in {self.parent}"
        count = f" ({self.count})" if self.count is not None else ""
        return f"{self.kind.value} {self.short_name}{where}{count}"


class LeftAlone(Model):
    """Something named like the fleet's that the fleet did not create: never deleted."""

    kind: Kind
    name: str
    reason: str


class Inventory(Model):
    """What discovery found the fleet owns, in one scope: `cameras` None is the whole fleet."""

    fleet: str
    cameras: tuple[str, ...] | None = None
    resources: tuple[Resource, ...] = ()
    left_alone: tuple[LeftAlone, ...] = ()

    @property
    def whole_fleet(self) -> bool:
        return self.cameras is None
