"""The fleet's media lifecycle rule on the local endpoint's S3, set and converged by `ensure_fleet`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cloud.clients import AwsClients
from cloud.fleet import ensure_fleet, fleet_names
from cloud.retention import MEDIA_RULE_ID
from cloud.settings import FleetSettings
from stack.endpoint.server import LocalEndpoint
from tests.support.endpoint_admin import last_seq, requests_since

if TYPE_CHECKING:
    from types_boto3_s3.type_defs import LifecycleRuleTypeDef

# The endpoint's request log names the calls as moto does (PutBucketLifecycle); AWS's names too.
LIFECYCLE_READS = {"GetBucketLifecycle", "GetBucketLifecycleConfiguration"}
LIFECYCLE_WRITES = {
    "PutBucketLifecycle",
    "PutBucketLifecycleConfiguration",
    "DeleteBucketLifecycle",
}


def _clients(endpoint: LocalEndpoint, home: Path, days: int) -> AwsClients:
    return AwsClients(FleetSettings(home=home, aws_port=endpoint.port, media_retention_days=days))


def _lifecycle_calls(endpoint: LocalEndpoint, since: int, kind: set[str]) -> list[str]:
    return [
        str(r["operation"]) for r in requests_since(endpoint.url, since) if r["operation"] in kind
    ]


@pytest.fixture
def clients(local_endpoint: LocalEndpoint, tmp_path: Path) -> AwsClients:
    local_endpoint.reset()
    clients = AwsClients(FleetSettings(home=tmp_path, aws_port=local_endpoint.port))
    ensure_fleet(clients)
    return clients


def test_the_fleet_expires_camera_media_after_the_configured_days(
    clients: AwsClients, local_endpoint: LocalEndpoint
) -> None:
    bucket = fleet_names(clients).results_bucket
    rules = clients.s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rules == [
        {
            "ID": MEDIA_RULE_ID,
            "Filter": {"Prefix": "cameras/"},
            "Status": "Enabled",
            "Expiration": {"Days": clients.settings.media_retention_days},
        }
    ]

    seq = last_seq(local_endpoint.url)
    ensure_fleet(clients)
    assert len(_lifecycle_calls(local_endpoint, seq, LIFECYCLE_READS)) == 1  # it looked
    assert _lifecycle_calls(local_endpoint, seq, LIFECYCLE_WRITES) == []  # and wrote nothing


def test_a_new_setting_updates_the_rule_in_place_and_keeps_the_operators_rules(
    clients: AwsClients, local_endpoint: LocalEndpoint, tmp_path: Path
) -> None:
    bucket = fleet_names(clients).results_bucket
    (fleet_rule,) = clients.s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    operator_rule: LifecycleRuleTypeDef = {
        "ID": "logs-to-glacier",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}],
    }
    clients.s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={"Rules": [fleet_rule, operator_rule]},
    )

    seq = last_seq(local_endpoint.url)
    ensure_fleet(_clients(local_endpoint, tmp_path, 7))

    assert len(_lifecycle_calls(local_endpoint, seq, LIFECYCLE_WRITES)) == 1
    rules = clients.s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rules == [{**fleet_rule, "Expiration": {"Days": 7}}, operator_rule]
