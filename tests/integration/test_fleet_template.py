"""The fleet template deployed on the local endpoint (moto's CloudFormation), then `ensure_fleet`
run against the stack: it finds the stack's resources by name and creates none of them again,
the stack's outputs are what it reports, and a Rekognition message goes through the stack's
topic, queue and table.

moto deploys the template's other types; the deployed template leaves out:
- AWS::IoT::ThingGroup and AWS::SQS::QueuePolicy: moto has no CloudFormation model for them;
- AWS::IoT::Policy: moto keeps the document as a Python dict, and GetPolicy then answers its
  repr, which is no JSON.
`ensure_fleet` makes those, and the bucket's lifecycle rule (moto's bucket model applies only
BucketEncryption and Tags).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest

from cloud import detections
from cloud.clients import AwsClients
from cloud.fleet import ensure_fleet, fleet_names
from cloud.fleet_template import RECORD_FIELDS, fleet_template
from cloud.models import Analyzer, FleetRecord
from cloud.naming import FleetNames
from cloud.rekognition_messages import DetectionRecord
from cloud.settings import FleetSettings
from services.results_consumer.service import (
    ConsumerConfig,
    Outcome,
    ResultsConsumer,
    ResultsEndpoints,
)
from stack.endpoint.server import LocalEndpoint
from tests.support.endpoint_admin import last_seq, requests_since
from tests.support.results_messages import label_detected

READ_PREFIXES = ("Get", "List", "Describe", "Head")
STACK = "camfleet-fleet"
CAMERA = "front-door"
LEFT_OUT = {"AWS::IoT::ThingGroup", "AWS::SQS::QueuePolicy", "AWS::IoT::Policy"}
# What `ensure_fleet` still writes after the deployment: one write per gap above.
GAP_WRITES = [
    ("iot", "CreatePolicy"),  # the camera policy
    ("iot", "CreateThingGroup"),
    ("iot", "UpdateIndexingConfiguration"),  # fleet indexing: CloudFormation has no resource
    ("iot", "UpdateThingGroup"),  # the analyzer, recorded on the new group
    ("s3", "PutBucketLifecycle"),  # the media rule
    ("sqs", "SetQueueAttributes"),  # the results queue's policy
]
# moto answers Ref of an IoT role alias with the object's repr, not its name.
UNRESOLVED_OUTPUTS = {"RoleAlias"}
# Queue attributes that change by themselves.
_VOLATILE = {"LastModifiedTimestamp", "CreatedTimestamp"}


def deployable(template: dict[str, Any]) -> dict[str, Any]:
    """The template without the resource types moto cannot deploy, nor the outputs naming them."""
    gone = {k for k, v in template["Resources"].items() if v["Type"] in LEFT_OUT}
    mentions = [f'"{key}"' for key in gone] + [f"${{{key}" for key in gone]
    return {
        **template,
        "Resources": {k: v for k, v in template["Resources"].items() if k not in gone},
        "Outputs": {
            k: v
            for k, v in template["Outputs"].items()
            if not any(m in json.dumps(v) for m in mentions)
        },
    }


@dataclass
class RecordingEvents:
    seen: list[DetectionRecord] = field(default_factory=list)

    def detection(self, fleet: str, record: DetectionRecord) -> None:
        self.seen.append(record)


@dataclass
class Deployed:
    clients: AwsClients
    names: FleetNames
    outputs: dict[str, str]
    record: FleetRecord
    writes: list[tuple[str, str]]
    queues_before: dict[str, dict[str, str]]
    queues_after: dict[str, dict[str, str]]


def queue_attributes(clients: AwsClients, names: FleetNames) -> dict[str, dict[str, str]]:
    queues = (names.results_queue, names.results_dlq, names.analysis_queue, names.analysis_dlq)
    found: dict[str, dict[str, str]] = {}
    for name in queues:
        url = clients.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        found[name] = {str(k): v for k, v in attributes["Attributes"].items() if k not in _VOLATILE}
    return found


@pytest.fixture(scope="module")
def deployed(
    local_endpoint: LocalEndpoint, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployed]:
    local_endpoint.reset()
    settings = FleetSettings(
        home=tmp_path_factory.mktemp("fleet-home"),
        aws_port=local_endpoint.port,
        analyzer=Analyzer.FRAMES,
    )
    clients = AwsClients(settings)
    names = fleet_names(clients)
    # No CloudFormation stubs are installed: the product never calls CloudFormation.
    cloudformation: Any = boto3.client(
        "cloudformation",
        endpoint_url=local_endpoint.url,
        region_name=settings.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    cloudformation.create_stack(
        StackName=STACK,
        TemplateBody=json.dumps(deployable(fleet_template(settings))),
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    cloudformation.get_waiter("stack_create_complete").wait(StackName=STACK)
    (stack,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    before = queue_attributes(clients, names)
    seq = last_seq(local_endpoint.url)
    record = ensure_fleet(clients)
    writes = [
        (str(r["service"]), str(r["operation"]))
        for r in requests_since(local_endpoint.url, seq)
        if not str(r["operation"]).startswith(READ_PREFIXES)
    ]
    yield Deployed(
        clients, names, outputs, record, writes, before, queue_attributes(clients, names)
    )


def test_ensure_fleet_creates_nothing_the_stack_made(deployed: Deployed) -> None:
    assert sorted(deployed.writes) == GAP_WRITES


def test_the_stack_made_the_queues_as_ensure_fleet_wants_them(deployed: Deployed) -> None:
    """Converging changed one attribute: the results queue's policy, which the stack could not
    set here. Every other attribute was already what `ensure_fleet` wants."""
    before, after = deployed.queues_before, deployed.queues_after
    results = deployed.names.results_queue
    assert "Policy" not in before[results]
    assert {k: v for k, v in after[results].items() if k != "Policy"} == before[results]
    assert {k: v for k, v in after.items() if k != results} == {
        k: v for k, v in before.items() if k != results
    }


def test_the_outputs_are_what_ensure_fleet_reports(deployed: Deployed) -> None:
    record = deployed.record.model_dump(mode="json")

    def field(path: str) -> str:
        value: Any = record
        for part in path.split("."):
            value = value[part]
        return str(value)

    expected = {
        key: field(path)
        for key, path in RECORD_FIELDS.items()
        if key in deployed.outputs and key not in UNRESOLVED_OUTPUTS
    }
    # moto's stack names queues by AWS's URL, the endpoint by its own: the paths agree.
    found = {
        key: urlparse(value).path if key.endswith("Url") else value
        for key, value in deployed.outputs.items()
        if key in expected
    }
    expected = {
        key: urlparse(value).path if key.endswith("Url") else value
        for key, value in expected.items()
    }
    assert found == expected
    assert set(deployed.outputs) - set(expected) == UNRESOLVED_OUTPUTS
    assert deployed.record.analyzer is Analyzer.FRAMES


def test_a_detection_goes_through_the_stacks_topic_queue_and_table(deployed: Deployed) -> None:
    clients, names = deployed.clients, deployed.names
    clients.sns.publish(
        TopicArn=names.topic_arn(),
        Subject="Rekognition Stream Processing Event",
        Message=json.dumps(label_detected(names.fleet, CAMERA, "s1", "PERSON", 97.4)),
    )
    events = RecordingEvents()
    consumer = ResultsConsumer(
        clients,
        names,
        ResultsEndpoints.locate(clients, names),
        ConsumerConfig(wait_seconds=2),
        events,
    )
    try:
        assert consumer.poll_once() == [Outcome.STORED]
    finally:
        consumer.clips.close()
    (stored,) = detections.list_detections(clients, names.detections_table, CAMERA, 10)
    assert (stored.camera_id, stored.label, stored.session_id) == (CAMERA, "PERSON", "s1")
    assert [r.key for r in events.seen] == [stored.key]
