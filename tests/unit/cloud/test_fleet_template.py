"""The fleet template: resolved as CloudFormation resolves it, its resources carry the names
`FleetNames` gives and the policy documents `cloud.policies.render` gives; cfn-lint passes it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from cloud import policies
from cloud.errors import InvalidInputError
from cloud.fleet_template import (
    FLEET_NAME_PATTERN,
    RECORD_FIELDS,
    USES_FRAMES,
    fleet_template,
    to_json,
)
from cloud.models import Analyzer, FleetRecord
from cloud.naming import FleetNames, validate_fleet_name
from cloud.policies import PolicyName, render
from cloud.settings import FleetSettings
from cloud.tags import fleet_tags

REPO = Path(__file__).resolve().parents[3]
CFN_LINT = REPO / ".tools" / "cfn-lint" / "bin" / "cfn-lint"
ACCOUNT, REGION, FLEET = "210987654321", "eu-west-1", "yard"
PARAMETERS = {
    "Fleet": FLEET,
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "Analyzer": "frames",
    "MediaRetentionDays": "30",
}
_SUB = re.compile(r"\$\{(!?)([^}]*)\}")


def resolve(value: Any, resources: dict[str, Any]) -> Any:
    """`value` with Ref and Fn::Sub resolved as CloudFormation does: parameters to PARAMETERS,
    a resource `X` (or `X.Attribute`) to `<X>` (`<X.Attribute>`), `${!Literal}` to `${Literal}`.
    Any other name is an error, as it is for CloudFormation."""

    def lookup(name: str) -> str:
        if name in PARAMETERS:
            return PARAMETERS[name]
        if name.split(".", maxsplit=1)[0] not in resources:
            raise KeyError(f"unresolvable reference {name!r}")
        return f"<{name}>"

    if isinstance(value, list):
        return [resolve(item, resources) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return lookup(value["Ref"])
    if set(value) == {"Fn::Sub"}:
        return _SUB.sub(
            lambda m: "${" + m.group(2) + "}" if m.group(1) else lookup(m.group(2)),
            value["Fn::Sub"],
        )
    return {key: resolve(item, resources) for key, item in value.items()}


@pytest.fixture
def template() -> dict[str, Any]:
    return fleet_template(FleetSettings(name=FLEET, region=REGION))


def resolved(template: dict[str, Any]) -> dict[str, Any]:
    """Each resource's resolved Type and Properties, by logical id."""
    resources = template["Resources"]
    return {key: resolve(resource, resources) for key, resource in resources.items()}


def names_of(resources: dict[str, Any]) -> dict[str, str]:
    """The name each resource is given, by logical id."""
    name_keys = (
        "BucketName",
        "TopicName",
        "QueueName",
        "TableName",
        "ThingGroupName",
        "RoleName",
        "RoleAlias",
        "PolicyName",
    )
    return {
        key: next(resource["Properties"][k] for k in name_keys if k in resource["Properties"])
        for key, resource in resources.items()
        if key != "ResultsQueuePolicy"
    }


def test_every_resource_has_the_name_the_product_finds_it_by(template: dict[str, Any]) -> None:
    names = FleetNames(FLEET, ACCOUNT, REGION)
    assert names_of(resolved(template)) == {
        "ResultsBucket": names.results_bucket,
        "RekognitionTopic": names.notification_topic,
        "ResultsDeadLetterQueue": names.results_dlq,
        "ResultsQueue": names.results_queue,
        "DetectionsTable": names.detections_table,
        "NotificationsTopic": names.user_notifications_topic,
        "ThingGroup": names.thing_group,
        "ProducerRole": names.producer_role,
        "ProducerPolicy": "kvs-put-media",
        "ProducerRoleAlias": names.role_alias,
        "CameraPolicy": names.iot_policy,
        "AnalysisDeadLetterQueue": names.analysis_dlq,
        "AnalysisQueue": names.analysis_queue,
        "AnalysisTable": names.analysis_table,
    }


def test_a_results_bucket_set_in_the_settings_is_named_as_set() -> None:
    template = fleet_template(FleetSettings(name=FLEET, results_bucket="my-own-bucket"))
    assert template["Resources"]["ResultsBucket"]["Properties"]["BucketName"] == "my-own-bucket"


def test_the_policy_documents_are_the_rendered_ones(template: dict[str, Any]) -> None:
    resources = resolved(template)
    context = FleetNames(FLEET, ACCOUNT, REGION).arn_context()
    role = resources["ProducerRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"] == render(PolicyName.KVS_PRODUCER_TRUST)
    assert resources["ProducerPolicy"]["Properties"] == {
        "PolicyName": "kvs-put-media",
        "PolicyDocument": render(PolicyName.KVS_PRODUCER_PERMISSIONS, **context),
        "Roles": ["<ProducerRole>"],
    }
    camera = resources["CameraPolicy"]["Properties"]["PolicyDocument"]
    assert camera == render(
        PolicyName.IOT_CAMERA, **context, RoleAliasArn="<ProducerRoleAlias.RoleAliasArn>"
    )
    # The policy variables reach AWS as written, for IoT and the credentials provider to fill in.
    assert "${iot:Connection.Thing.ThingName}" in json.dumps(camera)
    assert "${credentials-iot:ThingName}" in json.dumps(resources["ProducerPolicy"])
    queue_policy = resources["ResultsQueuePolicy"]["Properties"]
    assert queue_policy["Queues"] == ["<ResultsQueue>"]
    assert queue_policy["PolicyDocument"] == render(
        PolicyName.RESULTS_QUEUE,
        **context,
        Fleet=FLEET,
        TopicArn=FleetNames(FLEET, ACCOUNT, REGION).topic_arn(),
    )


def test_a_change_in_infra_policies_changes_the_template(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read = policies._template
    original = read(PolicyName.KVS_PRODUCER_PERMISSIONS)
    changed = original.replace('"kinesisvideo:TagStream"', '"kinesisvideo:TagStream", "x:New"')
    assert changed != original
    monkeypatch.setattr(
        policies,
        "_template",
        lambda name: changed if name is PolicyName.KVS_PRODUCER_PERMISSIONS else read(name),
    )
    document = fleet_template(FleetSettings())["Resources"]["ProducerPolicy"]["Properties"]
    assert "x:New" in document["PolicyDocument"]["Statement"][0]["Action"]


def test_resources_are_tagged_as_the_fleet_tags_them(template: dict[str, Any]) -> None:
    expected = [{"Key": k, "Value": v} for k, v in sorted(fleet_tags(FLEET).items())]
    tagged = {
        key: resource["Properties"]["Tags"]
        for key, resource in resolved(template).items()
        if "Tags" in resource["Properties"]
    }
    assert set(tagged) == {
        "ResultsBucket",
        "RekognitionTopic",
        "ResultsDeadLetterQueue",
        "ResultsQueue",
        "DetectionsTable",
        "NotificationsTopic",
        "ThingGroup",
        "ProducerRole",
        "AnalysisDeadLetterQueue",
        "AnalysisQueue",
        "AnalysisTable",
    }
    assert all(tags == expected for tags in tagged.values())


def test_the_queues_are_wired_as_ensure_fleet_wires_them(template: dict[str, Any]) -> None:
    resources = resolved(template)
    results = resources["ResultsQueue"]["Properties"]
    assert results["RedrivePolicy"] == {
        "deadLetterTargetArn": "<ResultsDeadLetterQueue.Arn>",
        "maxReceiveCount": 5,
    }
    assert (results["VisibilityTimeout"], results["ReceiveMessageWaitTimeSeconds"]) == (60, 20)
    analysis = resources["AnalysisQueue"]["Properties"]
    assert analysis["RedrivePolicy"]["deadLetterTargetArn"] == "<AnalysisDeadLetterQueue.Arn>"
    assert all(
        resource["Properties"]["SqsManagedSseEnabled"] is True
        for resource in resources.values()
        if resource["Type"] == "AWS::SQS::Queue"
    )
    topic = resources["RekognitionTopic"]["Properties"]
    assert topic["Subscription"] == [{"Protocol": "sqs", "Endpoint": "<ResultsQueue.Arn>"}]


def test_the_media_rule_expires_cameras_media_after_the_parameter(
    template: dict[str, Any],
) -> None:
    bucket = resolved(template)["ResultsBucket"]
    (rule,) = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule == {
        "Id": "camera-fleet-media",
        "Prefix": "cameras/",
        "Status": "Enabled",
        "ExpirationInDays": PARAMETERS["MediaRetentionDays"],
    }
    assert bucket["DeletionPolicy"] == "Retain"


def test_the_settings_give_the_parameters_defaults() -> None:
    settings = FleetSettings(name=FLEET, media_retention_days=7, analyzer=Analyzer.FRAMES)
    parameters = fleet_template(settings)["Parameters"]
    assert parameters["Fleet"]["Default"] == FLEET
    retention = parameters["MediaRetentionDays"]
    assert (retention["Default"], retention["MinValue"], retention["MaxValue"]) == (7, 1, 3650)
    assert parameters["Analyzer"]["Default"] == "frames"
    assert fleet_template(FleetSettings())["Parameters"]["Analyzer"]["Default"] == (
        Analyzer.STREAM_PROCESSOR.value
    )


def test_only_a_frames_fleet_gets_the_analysis_resources(template: dict[str, Any]) -> None:
    conditional = {
        key for key, resource in template["Resources"].items() if "Condition" in resource
    }
    assert conditional == {"AnalysisDeadLetterQueue", "AnalysisQueue", "AnalysisTable"}
    assert all(template["Resources"][key]["Condition"] == USES_FRAMES for key in conditional)
    condition = resolve(template["Conditions"][USES_FRAMES], {})
    assert condition == {"Fn::Equals": ["frames", "frames"]}


@pytest.mark.parametrize(
    "name", ["camfleet", "a", "yard-2", "a" * 16, "a" * 17, "2yard", "Yard", "ya_rd", "-", ""]
)
def test_the_fleet_parameter_allows_the_names_the_product_allows(name: str) -> None:
    try:
        validate_fleet_name(name)
        valid = True
    except InvalidInputError:
        valid = False
    assert bool(re.fullmatch(FLEET_NAME_PATTERN, name)) is valid


def record_has(path: str) -> bool:
    """Whether `FleetRecord` has the field at the dotted `path` (through its optional parts)."""
    model: type[BaseModel] = FleetRecord
    *parents, last = path.split(".")
    for part in parents:
        annotation = model.model_fields[part].annotation
        model = next(
            a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)
        )
    return last in model.model_fields


def test_the_outputs_are_the_fleet_record_fields(template: dict[str, Any]) -> None:
    assert set(template["Outputs"]) == set(RECORD_FIELDS)
    assert all(record_has(path) for path in RECORD_FIELDS.values())
    frames_outputs = {key for key, output in template["Outputs"].items() if output.get("Condition")}
    assert frames_outputs == {k for k, v in RECORD_FIELDS.items() if v.startswith("frames.")}
    for output in template["Outputs"].values():
        resolve(output["Value"], template["Resources"])  # names only what the template has


def test_cfn_lint_finds_nothing(tmp_path: Path) -> None:
    assert CFN_LINT.exists(), f"{CFN_LINT} is missing: run `make install`"
    path = tmp_path / "fleet.json"
    path.write_text(to_json(fleet_template(FleetSettings())))
    # Errors, warnings and informational findings: none is accepted.
    lint = subprocess.run(
        [str(CFN_LINT), "--include-checks", "I", "--", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, "")
