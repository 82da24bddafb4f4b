"""The fleet's lifecycle rule merged into a bucket's rules, and when S3 expires a detection's media."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from cloud.retention import (
    MEDIA_RULE_ID,
    media_expired,
    media_expires_at,
    media_rule,
    plan_rules,
)

if TYPE_CHECKING:
    from types_boto3_s3.type_defs import LifecycleRuleTypeDef

# An operator's own rule, as GetBucketLifecycleConfiguration returns it.
OPERATOR_RULE: LifecycleRuleTypeDef = {
    "ID": "logs-to-glacier",
    "Filter": {"Prefix": "logs/"},
    "Status": "Enabled",
    "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}],
}


def test_the_rule_expires_camera_media_only() -> None:
    assert media_rule(30) == {
        "ID": MEDIA_RULE_ID,
        "Filter": {"Prefix": "cameras/"},
        "Status": "Enabled",
        "Expiration": {"Days": 30},
    }


def test_a_bucket_without_rules_gets_the_fleets_rule() -> None:
    assert plan_rules([], 30) == [media_rule(30)]


def test_a_converged_bucket_needs_no_write() -> None:
    assert plan_rules([OPERATOR_RULE, media_rule(30)], 30) is None


def test_other_rules_are_kept_and_the_fleets_rule_added_after_them() -> None:
    assert plan_rules([OPERATOR_RULE], 14) == [OPERATOR_RULE, media_rule(14)]


def test_a_changed_setting_replaces_the_fleets_rule_in_place() -> None:
    assert plan_rules([media_rule(30), OPERATOR_RULE], 7) == [media_rule(7), OPERATOR_RULE]


@pytest.mark.parametrize(
    "edited",
    [
        {**media_rule(30), "Status": "Disabled"},
        {**media_rule(30), "Filter": {"Prefix": ""}},  # would expire the known people's photos
        {
            **media_rule(30),
            "Expiration": {"Days": 30},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        },
    ],
)
def test_a_hand_edited_fleet_rule_is_put_back(edited: Any) -> None:
    assert plan_rules([OPERATOR_RULE, edited], 30) == [OPERATOR_RULE, media_rule(30)]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("detected_at", "days", "expires_at"),
    [
        # S3's own example: created 10:30 UTC on Jan 15, 3 days: expired from 00:00 UTC Jan 19.
        (utc(2014, 1, 15, 10, 30), 3, utc(2014, 1, 19)),
        # A HeadObject's x-amz-expiration: last modified 19:57:04 GMT Aug 14, 60 days: Oct 14.
        (utc(2018, 8, 14, 19, 57, 4), 60, utc(2018, 10, 14)),
        (utc(2024, 3, 1, 0, 0, 1), 1, utc(2024, 3, 3)),  # a second after midnight: a whole day more
        (utc(2024, 3, 1), 1, utc(2024, 3, 2)),  # exactly midnight: nothing to round
        (utc(2024, 2, 28, 23, 59, 59), 1, utc(2024, 3, 1)),  # across February's leap day
        (utc(2024, 12, 31, 12), 30, utc(2025, 1, 31)),
    ],
)
def test_media_expire_at_the_midnight_utc_after_the_days(
    detected_at: datetime, days: int, expires_at: datetime
) -> None:
    assert media_expires_at(detected_at, days) == expires_at


def test_the_midnight_is_utc_whatever_the_detections_zone() -> None:
    # 23:30 at UTC-5 on Jan 15 is 04:30 UTC on Jan 16.
    local = datetime(2024, 1, 15, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert media_expires_at(local, 1) == utc(2024, 1, 18)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        media_expires_at(datetime(2024, 1, 1), 1)


def test_media_expired_from_the_expiry_midnight_on() -> None:
    detected = utc(2024, 5, 10, 18, 4, 11)
    assert not media_expired(detected, 30, utc(2024, 6, 9, 23, 59, 59))
    assert media_expired(detected, 30, utc(2024, 6, 10))
    assert media_expired(detected, 30, utc(2024, 7, 1))
