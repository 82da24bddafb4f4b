"""Fleet-level resources, created once and shared by every camera."""

from __future__ import annotations

import logging

from cloud import fleet_index, iam, iot, notify, retention, storage
from cloud.analysis import choice
from cloud.analysis.frames_queue import ensure_frames_resources
from cloud.clients import AwsClients
from cloud.errors import InvalidInputError
from cloud.models import Analyzer, FleetRecord
from cloud.naming import FleetNames
from cloud.policies import PolicyName, render
from cloud.results_queue import ensure_results
from cloud.settings import FleetSettings
from cloud.tags import fleet_tags

log = logging.getLogger(__name__)

AWS_MQTT_PORT = 8883
PRODUCER_POLICY = "kvs-put-media"


def fleet_names(clients: AwsClients) -> FleetNames:
    settings = clients.settings
    return FleetNames(
        settings.name, lambda: clients.account_id, settings.region, settings.results_bucket
    )


def mqtt_endpoint(clients: AwsClients, settings: FleetSettings) -> tuple[str, int]:
    host = iot.describe_endpoint(clients, "iot:Data-ATS")
    return host, settings.mqtt_port if settings.is_local else AWS_MQTT_PORT


def ensure_fleet(clients: AwsClients) -> FleetRecord:
    """Idempotent: every call converges the fleet-level resources and describes them."""
    settings = clients.settings
    names = fleet_names(clients)
    tags = fleet_tags(names.fleet)
    common = names.arn_context()

    storage.ensure_bucket(clients, names.results_bucket, tags)
    retention.ensure_media_retention(clients, names.results_bucket, settings.media_retention_days)
    topic_arn = notify.ensure_topic(clients, names.notification_topic, names.topic_arn(), tags)
    results = ensure_results(clients, names, topic_arn, tags)
    group_arn = iot.ensure_thing_group(clients, names.thing_group, tags)
    fleet_index.ensure_indexing(clients)
    analyzer = _ensure_analyzer(clients, names, settings.analyzer)
    frames = ensure_frames_resources(clients, names, tags) if analyzer is Analyzer.FRAMES else None
    producer_role, _ = iam.ensure_role(
        clients,
        names.producer_role,
        trust=render(PolicyName.KVS_PRODUCER_TRUST),
        tags=tags,
        description=f"Cameras of fleet {names.fleet} stream to their own KVS stream",
    )
    iam.ensure_inline_policy(
        clients,
        names.producer_role,
        PRODUCER_POLICY,
        render(PolicyName.KVS_PRODUCER_PERMISSIONS, **common),
    )
    alias_arn = iot.ensure_role_alias(clients, names.role_alias, producer_role.arn)
    iot.ensure_policy(
        clients, names.iot_policy, render(PolicyName.IOT_CAMERA, **common, RoleAliasArn=alias_arn)
    )
    host, port = mqtt_endpoint(clients, settings)
    return FleetRecord(
        fleet=names.fleet,
        account_id=names.account_id,
        region=names.region,
        bucket=names.results_bucket,
        topic_arn=topic_arn,
        iot_policy=names.iot_policy,
        thing_group_arn=group_arn,
        producer_role_arn=producer_role.arn,
        role_alias=names.role_alias,
        role_alias_arn=alias_arn,
        mqtt_host=host,
        mqtt_port=port,
        credentials_endpoint=iot.describe_endpoint(clients, "iot:CredentialProvider"),
        results=results,
        analyzer=analyzer,
        frames=frames,
    )


def _ensure_analyzer(clients: AwsClients, names: FleetNames, asked: Analyzer | None) -> Analyzer:
    """The fleet keeps the analyzer recorded with it, and a different one asked for is refused
    (switching is `fleet analyzer use`). The first analyzer asked for is recorded; a fleet that
    never asked uses the default, unrecorded, until cameras exist: then asking for another is a
    switch too."""
    recorded = choice.recorded_analyzer(clients, names)
    analyzer = choice.effective(asked, recorded, names.fleet)
    if recorded is None and asked is not None:
        if analyzer is not choice.DEFAULT and iot.list_group_things(clients, names.thing_group):
            raise InvalidInputError(
                f"fleet {names.fleet} has cameras on the {choice.DEFAULT} analyzer: switch it "
                f"with `fleet analyzer use {analyzer}`"
            )
        choice.record_analyzer(clients, names, analyzer)
    return analyzer
