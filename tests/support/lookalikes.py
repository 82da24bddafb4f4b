"""Resources named like a fleet's, made by someone else: a teardown must leave every one alone.

`make_lookalikes` creates, with plain boto3 calls (no fleet markers, or another fleet's), one or
more per service; `surviving` says which of them still exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from cloud.clients import AwsClients
from cloud.naming import FleetNames
from cloud.tags import OWNER_KEY

_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "rekognition.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}],
}


def lookalike_names(names: FleetNames) -> dict[str, str]:
    """What `make_lookalikes` creates, by what it is."""
    fleet = names.fleet
    return {
        "thing": f"{fleet}-lookalike",  # in the fleet's thing group, without its attribute
        "other-fleet-thing": f"{fleet}-elsewhere",  # another fleet's attribute
        "stream": f"{fleet}-lookalike",
        "other-fleet-stream": f"{fleet}-elsewhere",  # another fleet's tag
        "processor": names.processor("lookalike"),
        "role": names.rekognition_role("lookalike"),
        "bucket": f"{names.results_bucket}-copy",
        "topic": f"{names.notification_topic}-copy",
        "queue": f"{names.results_queue}-copy",
        "table": f"{names.detections_table}-copy",
        "policy": f"{names.iot_policy}-copy",
        "role-alias": f"{names.role_alias}-copy",
        "thing-group": f"{fleet}-copy",
    }


def make_lookalikes(clients: AwsClients, names: FleetNames) -> dict[str, str]:
    """One of each, in the fleet's account and region. The fleet's thing group must exist."""
    made = lookalike_names(names)
    iot, kvs = clients.iot, clients.kvs
    iot.create_thing(thingName=made["thing"], attributePayload={"attributes": {"owner": "bob"}})
    iot.add_thing_to_thing_group(thingGroupName=names.thing_group, thingName=made["thing"])
    keys = iot.create_keys_and_certificate(setAsActive=True)
    iot.attach_thing_principal(thingName=made["thing"], principal=keys["certificateArn"])
    iot.create_thing(
        thingName=made["other-fleet-thing"],
        attributePayload={"attributes": {"fleet": "someone-else"}},
    )
    kvs.create_stream(StreamName=made["stream"], DataRetentionInHours=1)
    stream_arn = kvs.create_stream(
        StreamName=made["other-fleet-stream"], DataRetentionInHours=1, Tags={OWNER_KEY: "other"}
    )["StreamARN"]
    role_arn = clients.iam.create_role(
        RoleName=made["role"], AssumeRolePolicyDocument=json.dumps(_TRUST)
    )["Role"]["Arn"]
    bucket: dict[str, Any] = {"Bucket": made["bucket"]}
    if clients.region != "us-east-1":
        bucket["CreateBucketConfiguration"] = {"LocationConstraint": clients.region}
    clients.s3.create_bucket(**bucket)
    clients.s3.put_object(Bucket=made["bucket"], Key="cameras/x/frame.jpg", Body=b"x")
    topic_arn = clients.sns.create_topic(Name=made["topic"])["TopicArn"]
    clients.rekognition.create_stream_processor(
        Name=made["processor"],
        Input={"KinesisVideoStream": {"Arn": stream_arn}},
        Output={"S3Destination": {"Bucket": made["bucket"], "KeyPrefix": "x"}},
        NotificationChannel={"SNSTopicArn": topic_arn},
        RoleArn=role_arn,
        Settings={"ConnectedHome": {"Labels": ["PERSON"]}},
        Tags={OWNER_KEY: "other"},
    )
    clients.sqs.create_queue(QueueName=made["queue"])
    clients.dynamodb.create_table(
        TableName=made["table"],
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    iot.create_policy(policyName=made["policy"], policyDocument=json.dumps(_POLICY))
    iot.create_role_alias(roleAlias=made["role-alias"], roleArn=role_arn)
    iot.create_thing_group(thingGroupName=made["thing-group"])
    return made


def _exists(clients: AwsClients, what: str, name: str) -> bool:
    calls: dict[str, Callable[[], object]] = {
        "thing": lambda: clients.iot.describe_thing(thingName=name),
        "other-fleet-thing": lambda: clients.iot.describe_thing(thingName=name),
        "stream": lambda: clients.kvs.describe_stream(StreamName=name),
        "other-fleet-stream": lambda: clients.kvs.describe_stream(StreamName=name),
        "processor": lambda: clients.rekognition.describe_stream_processor(Name=name),
        "role": lambda: clients.iam.get_role(RoleName=name),
        "bucket": lambda: clients.s3.head_object(Bucket=name, Key="cameras/x/frame.jpg"),
        "topic": lambda: clients.sns.get_topic_attributes(
            TopicArn=f"arn:aws:sns:{clients.region}:{clients.account_id}:{name}"
        ),
        "queue": lambda: clients.sqs.get_queue_url(QueueName=name),
        "table": lambda: clients.dynamodb.describe_table(TableName=name),
        "policy": lambda: clients.iot.get_policy(policyName=name),
        "role-alias": lambda: clients.iot.describe_role_alias(roleAlias=name),
        "thing-group": lambda: clients.iot.describe_thing_group(thingGroupName=name),
    }
    try:
        calls[what]()
    except ClientError:
        return False
    return True


def surviving(clients: AwsClients, made: dict[str, str]) -> dict[str, bool]:
    """Whether each look-alike still exists; `certificate`: the one attached to the look-alike
    thing is still attached and ACTIVE."""
    found = {what: _exists(clients, what, name) for what, name in made.items()}
    found["certificate"] = False
    if found["thing"]:
        principals = clients.iot.list_thing_principals(thingName=made["thing"])["principals"]
        found["certificate"] = (
            len(principals) == 1
            and clients.iot.describe_certificate(certificateId=principals[0].rsplit("/", 1)[-1])[
                "certificateDescription"
            ]["status"]
            == "ACTIVE"
        )
    return found
