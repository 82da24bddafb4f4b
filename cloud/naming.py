"""Resource names derived from the fleet and camera ids. Pure: no I/O.

The camera id is, by contract, the IoT thing name, the MQTT client id and the KVS stream name, so it
must satisfy every one of those name patterns at once, plus the IAM role name that embeds it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cached_property

from cloud.errors import InvalidInputError

# The intersection of the services' patterns, lower case so that IAM (case-insensitive names) and
# S3 (lower-case buckets) never see two cameras collide:
#   KVS stream [a-zA-Z0-9_.-]{1,256}, IoT thing [a-zA-Z0-9:_-]{1,128}, Rekognition processor
#   [a-zA-Z0-9_.\-]{1,128}, IAM role [\w+=,.@-]{1,64}, MQTT topic level without + # /.
CAMERA_ID_MAX = 32
FLEET_NAME_MAX = 16
CAMERA_ID_PATTERN = rf"^[a-z0-9][a-z0-9_-]{{0,{CAMERA_ID_MAX - 1}}}$"
_CAMERA_ID = re.compile(CAMERA_ID_PATTERN)
RESULTS_ROOT = "cameras/"  # every camera's results are under cameras/<id>/ in the bucket
FACES_ROOT = "faces/"  # known people's photos and records: faces/<name>/ in the bucket
_FLEET_NAME = re.compile(rf"^[a-z][a-z0-9-]{{0,{FLEET_NAME_MAX - 1}}}$")


def name_problems(value: str, max_length: int, symbols: str) -> list[str]:
    """Why `value` is not a name of a-z, 0-9 and `symbols`, 1 to `max_length` characters,
    starting with a letter or digit: each reason in a few words (none: it is one)."""
    reasons = []
    if not value:
        reasons.append("it is empty")
    if len(value) > max_length:
        reasons.append(f"it is {len(value)} characters long (at most {max_length})")
    bad = sorted({c for c in value if not (c in symbols or re.fullmatch(r"[a-z0-9]", c))})
    if bad:
        reasons.append("it contains " + " ".join(repr(c) for c in bad))
    if value and not re.fullmatch(r"[a-z0-9]", value[0]):
        reasons.append("it does not start with a lower-case letter or digit")
    return reasons


def validate_camera_id(value: str) -> str:
    if _CAMERA_ID.fullmatch(value):
        return value
    reasons = name_problems(value, CAMERA_ID_MAX, "_-")
    raise InvalidInputError(
        f"camera id {value!r} is not valid: {', '.join(reasons)}. A camera id is the KVS stream, "
        "IoT thing and MQTT client name, so it may use only a-z, 0-9, '-' and '_' "
        f"(1 to {CAMERA_ID_MAX} characters, starting with a letter or digit)"
    )


def validate_fleet_name(value: str) -> str:
    if _FLEET_NAME.fullmatch(value):
        return value
    raise InvalidInputError(
        f"fleet name {value!r} is not valid: use 1 to {FLEET_NAME_MAX} characters of a-z, "
        "0-9 and '-', starting with a letter"
    )


class FleetNames:
    """Every name the fleet gives a resource: one place, so discovery and teardown agree."""

    def __init__(
        self,
        fleet: str,
        account_id: str | Callable[[], str],
        region: str,
        results_bucket: str | None = None,
    ):
        """`account_id` may be a function, asked on the first name that embeds the account (an
        ARN, the default results bucket): the names of a camera's resources need no AWS call."""
        self.fleet = validate_fleet_name(fleet)
        self._account_id = account_id
        self.region = region
        self._results_bucket = results_bucket

    @cached_property
    def account_id(self) -> str:
        return self._account_id if isinstance(self._account_id, str) else self._account_id()

    # Fleet-level resources.
    @property
    def thing_group(self) -> str:
        return self.fleet

    @property
    def iot_policy(self) -> str:
        return f"{self.fleet}-camera"

    @property
    def bridge_thing(self) -> str:
        """The MQTT bridge's IoT identity: one thing, one certificate per bridge host."""
        return f"{self.fleet}-bridge"

    @property
    def bridge_policy(self) -> str:
        return f"{self.fleet}-bridge"

    @property
    def bridge_share_group(self) -> str:
        """The MQTT shared-subscription group every bridge replica joins."""
        return f"{self.fleet}-bridge"

    @property
    def bridge_client_prefix(self) -> str:
        """Bridge replicas connect as `<prefix><replica>`: the bridge policy allows no other id."""
        return f"{self.fleet}-bridge-"

    @property
    def producer_role(self) -> str:
        return f"{self.fleet}-kvs-producer"

    @property
    def role_alias(self) -> str:
        return f"{self.fleet}-kvs-producer"

    def role_alias_arn(self) -> str:
        return self.iot_arn(f"rolealias/{self.role_alias}")

    def iot_arn(self, resource: str) -> str:
        """An IoT ARN of the fleet's account and region: `resource` is `<type>/<name>`."""
        return f"arn:{self.partition}:iot:{self.region}:{self.account_id}:{resource}"

    def role_arn(self, role: str) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:role/{role}"

    @property
    def results_bucket(self) -> str:
        return self._results_bucket or f"{self.fleet}-results-{self.account_id}-{self.region}"

    @property
    def notification_topic(self) -> str:
        return f"{self.fleet}-rekognition"

    @property
    def partition(self) -> str:
        return "aws-cn" if self.region.startswith("cn-") else "aws"

    def arn_context(self) -> dict[str, str]:
        """The ARN parts the policy documents in infra/ leave as placeholders."""
        return {"Partition": self.partition, "Region": self.region, "AccountId": self.account_id}

    def topic_arn(self) -> str:
        return f"arn:{self.partition}:sns:{self.region}:{self.account_id}:{self.notification_topic}"

    # The results pipeline: Rekognition's topic -> queue (+ dead letters) -> detections, and the
    # topic that tells people (`notification_topic` above is Rekognition's, not theirs).
    @property
    def results_queue(self) -> str:
        return f"{self.fleet}-results"

    @property
    def results_dlq(self) -> str:
        return f"{self.fleet}-results-dlq"

    @property
    def detections_table(self) -> str:
        return f"{self.fleet}-detections"

    # The frames analyzer: sessions queued for the analysis workers (+ dead letters), and one
    # item per camera holding its regions of interest and its current session.
    @property
    def analysis_queue(self) -> str:
        return f"{self.fleet}-analysis"

    @property
    def analysis_dlq(self) -> str:
        return f"{self.fleet}-analysis-dlq"

    @property
    def analysis_table(self) -> str:
        return f"{self.fleet}-analysis"

    # Known faces: a Rekognition collection, and the photos it was indexed from (with each
    # person's record) under one prefix of the results bucket, so the collection can be rebuilt.
    @property
    def faces_collection(self) -> str:
        return f"{self.fleet}-faces"

    def faces_collection_arn(self) -> str:
        return (
            f"arn:{self.partition}:rekognition:{self.region}:{self.account_id}:"
            f"collection/{self.faces_collection}"
        )

    @property
    def faces_prefix(self) -> str:
        return FACES_ROOT

    @property
    def user_notifications_topic(self) -> str:
        return f"{self.fleet}-notifications"

    def user_notifications_topic_arn(self) -> str:
        return (
            f"arn:{self.partition}:sns:{self.region}:{self.account_id}:"
            f"{self.user_notifications_topic}"
        )

    def queue_arn(self, queue: str) -> str:
        return f"arn:{self.partition}:sqs:{self.region}:{self.account_id}:{queue}"

    # Per-camera resources.
    def stream(self, camera_id: str) -> str:
        return validate_camera_id(camera_id)

    def thing(self, camera_id: str) -> str:
        validate_camera_id(camera_id)
        if camera_id == self.bridge_thing:
            raise InvalidInputError(
                f"camera id {camera_id!r} is the fleet's MQTT bridge identity; choose another id"
            )
        return camera_id

    def processor(self, camera_id: str) -> str:
        return f"{self.fleet}-{validate_camera_id(camera_id)}"

    def camera_from_processor(self, processor: str) -> str:
        """The inverse of `processor`: the camera a stream processor of this fleet serves."""
        prefix = f"{self.fleet}-"
        if not processor.startswith(prefix):
            raise InvalidInputError(
                f"stream processor {processor!r} is not one of fleet {self.fleet} "
                f"(its names start with {prefix!r})"
            )
        return validate_camera_id(processor[len(prefix) :])

    def processor_arn(self, camera_id: str) -> str:
        return (
            f"arn:{self.partition}:rekognition:{self.region}:{self.account_id}:"
            f"streamprocessor/{self.processor(camera_id)}"
        )

    def rekognition_role(self, camera_id: str) -> str:
        return f"{self.rekognition_role_prefix}{validate_camera_id(camera_id)}"

    def camera_from_role(self, role: str) -> str:
        """The inverse of `rekognition_role`: the camera a Rekognition role of this fleet serves."""
        prefix = self.rekognition_role_prefix
        if not role.startswith(prefix):
            raise InvalidInputError(f"IAM role {role!r} is not a camera role of fleet {self.fleet}")
        return validate_camera_id(role[len(prefix) :])

    @property
    def rekognition_role_prefix(self) -> str:
        return f"{self.fleet}-rekognition-"

    def results_prefix(self, camera_id: str) -> str:
        return f"{RESULTS_ROOT}{validate_camera_id(camera_id)}"

    def camera_from_results_key(self, key: str) -> str | None:
        """The camera whose results prefix holds the S3 object `key`, if it is under one."""
        camera, slash, _ = key.removeprefix(RESULTS_ROOT).partition("/")
        if not key.startswith(RESULTS_ROOT) or not slash or not _CAMERA_ID.fullmatch(camera):
            return None
        return camera

    def stream_arn_pattern(self, camera_id: str) -> str:
        return (
            f"arn:{self.partition}:kinesisvideo:{self.region}:{self.account_id}:"
            f"stream/{self.stream(camera_id)}/*"
        )
