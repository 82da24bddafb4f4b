"""How long the fleet keeps its media: an S3 lifecycle rule expiring the cameras' frames and clips.

The rule covers `cameras/` of the results bucket only; known people's photos under `faces/` stay
until they are removed. Detection records are never expired: they keep their links, and
`media_expires_at` says when the media they point at goes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cloud.clients import AwsClients
from cloud.errors import aws_call, error_code
from cloud.naming import RESULTS_ROOT

if TYPE_CHECKING:
    from types_boto3_s3.literals import TransitionDefaultMinimumObjectSizeType
    from types_boto3_s3.type_defs import LifecycleRuleOutputTypeDef, LifecycleRuleTypeDef

    LifecycleRule = LifecycleRuleTypeDef | LifecycleRuleOutputTypeDef

log = logging.getLogger(__name__)

MEDIA_RULE_ID = "camera-fleet-media"
NO_CONFIGURATION = "NoSuchLifecycleConfiguration"  # S3: a bucket without lifecycle rules


def media_rule(days: int) -> LifecycleRuleTypeDef:
    """The fleet's rule as S3 returns it: objects under `cameras/` expire `days` after creation."""
    return {
        "ID": MEDIA_RULE_ID,
        "Filter": {"Prefix": RESULTS_ROOT},
        "Status": "Enabled",
        "Expiration": {"Days": days},
    }


def plan_rules(current: Sequence[LifecycleRule], days: int) -> list[LifecycleRule] | None:
    """The bucket's rules with the fleet's rule set to `days`, or None when they already are.

    Other rules (the operator's own) are kept as they are and where they are; the fleet's rule
    replaces the one with its ID in place, or comes last."""
    wanted = media_rule(days)
    ours = [i for i, rule in enumerate(current) if rule.get("ID") == MEDIA_RULE_ID]
    if len(ours) == 1 and current[ours[0]] == wanted:
        return None
    rules = [rule for rule in current if rule.get("ID") != MEDIA_RULE_ID]
    rules.insert(ours[0] if ours else len(rules), wanted)
    return rules


def media_expires_at(detected_at: datetime, days: int) -> datetime:
    """When S3 expires media written at `detected_at` under a rule of `days`: S3 adds the days to
    the object's creation time and rounds up to the next midnight UTC (created 10:30 UTC on the
    15th, 3 days: gone from 00:00 UTC on the 19th).

    The frame is written moments after the detection, so for a detection in the last seconds
    before midnight UTC the media may stay one day longer than this says."""
    if detected_at.tzinfo is None:
        raise ValueError("detected_at must be timezone-aware")
    due = detected_at.astimezone(UTC) + timedelta(days=days)
    midnight = datetime.combine(due.date(), time(), tzinfo=UTC)
    return midnight if due == midnight else midnight + timedelta(days=1)


def media_expired(detected_at: datetime, days: int, now: datetime) -> bool:
    """Whether the frame and clip of a detection at `detected_at` are gone by `now`."""
    return now >= media_expires_at(detected_at, days)


def ensure_media_retention(clients: AwsClients, bucket: str, days: int) -> bool:
    """Converge the bucket's lifecycle configuration on the fleet's rule, keeping every other
    rule. Returns True if this call wrote the configuration (a converged bucket gets no write)."""
    current, minimum_size = _lifecycle(clients, bucket)
    rules = plan_rules(current, days)
    if rules is None:
        return False
    # PutBucketLifecycleConfiguration replaces the whole configuration: the operator's rules and
    # transition setting go back with the fleet's rule.
    extra: dict[str, Any] = {}
    if minimum_size is not None:
        extra["TransitionDefaultMinimumObjectSize"] = minimum_size
    with aws_call(f"set the lifecycle rules of bucket {bucket}"):
        clients.s3.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": rules}, **extra
        )
    log.info("media under s3://%s/%s expire after %d days", bucket, RESULTS_ROOT, days)
    return True


def _lifecycle(
    clients: AwsClients, bucket: str
) -> tuple[list[LifecycleRuleOutputTypeDef], TransitionDefaultMinimumObjectSizeType | None]:
    """The bucket's lifecycle rules and transition size setting ([] and None without any)."""
    with aws_call(f"get the lifecycle rules of bucket {bucket}"):
        try:
            answer = clients.s3.get_bucket_lifecycle_configuration(Bucket=bucket)
        except ClientError as err:
            if error_code(err) != NO_CONFIGURATION:
                raise
            return [], None
    return answer["Rules"], answer.get("TransitionDefaultMinimumObjectSize")
