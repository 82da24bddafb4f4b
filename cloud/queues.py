"""SQS queues: the results queue the stream processors' topic feeds, and its dead-letter queue."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cloud.clients import AwsClients
from cloud.errors import NotFoundError, aws_call
from cloud.models import Model

if TYPE_CHECKING:
    from types_boto3_sqs.literals import QueueAttributeNameType

log = logging.getLogger(__name__)

# Attributes whose value is a JSON document: compared parsed, not as text.
_JSON_ATTRIBUTES = {"Policy", "RedrivePolicy", "RedriveAllowPolicy"}
MAX_BATCH = 10  # ReceiveMessage's limit
MAX_WAIT_SECONDS = 20  # long polling's limit
MAX_ATTRIBUTE_CHARS = 1000


class QueueRecord(Model):
    name: str
    url: str
    arn: str


class QueueMessage(Model):
    """One received message: its body untouched, and what SQS says about it."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int = 1
    sent_at: datetime | None = None
    attributes: dict[str, str] = {}


def _normalized(name: str, value: str) -> object:
    if name in _JSON_ATTRIBUTES:
        try:
            return _stringify(json.loads(value))
        except json.JSONDecodeError:
            return value
    return value


def _stringify(value: object) -> object:
    """SQS answers numbers inside its JSON attributes as strings or numbers: compare as text."""
    if isinstance(value, dict):
        return {k: _stringify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify(v) for v in value]
    return str(value)


def queue_url(clients: AwsClients, name: str) -> str | None:
    try:
        with aws_call(f"get SQS queue {name}"):
            return str(clients.sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except NotFoundError:
        return None


def queue_arn(clients: AwsClients, url: str) -> str:
    with aws_call(f"get SQS queue attributes of {url}"):
        attributes = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def require_queue(clients: AwsClients, name: str) -> QueueRecord:
    url = queue_url(clients, name)
    if url is None:
        raise NotFoundError(f"SQS queue {name} does not exist (`fleet init` creates it)")
    return QueueRecord(name=name, url=url, arn=queue_arn(clients, url))


def ensure_queue(
    clients: AwsClients,
    name: str,
    attributes: Mapping[QueueAttributeNameType, str],
    tags: dict[str, str],
) -> QueueRecord:
    """Create the queue, or converge the attributes that differ: a converged queue gets no write."""
    url = queue_url(clients, name)
    if url is None:
        with aws_call(f"create SQS queue {name}"):
            url = str(
                clients.sqs.create_queue(QueueName=name, Attributes=dict(attributes), tags=tags)[
                    "QueueUrl"
                ]
            )
        log.info("created SQS queue %s", name)
        return QueueRecord(name=name, url=url, arn=queue_arn(clients, url))
    with aws_call(f"get SQS queue attributes of {name}"):
        observed = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
            "Attributes"
        ]
    changed = {
        key: value
        for key, value in attributes.items()
        if _normalized(key, value) != _normalized(key, str(observed.get(key, "")))
    }
    if changed:
        with aws_call(f"set SQS queue attributes of {name}"):
            clients.sqs.set_queue_attributes(QueueUrl=url, Attributes=changed)
        log.info("SQS queue %s: updated %s", name, ", ".join(sorted(changed)))
    return QueueRecord(name=name, url=url, arn=str(observed["QueueArn"]))


def receive(
    clients: AwsClients, url: str, max_messages: int, wait_seconds: int, visibility_seconds: int
) -> list[QueueMessage]:
    """Long-poll one batch (up to `wait_seconds`); each message stays invisible to others for
    `visibility_seconds` unless deleted or its visibility is changed."""
    with aws_call(f"receive from {url}"):
        answer = clients.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=max(1, min(MAX_BATCH, max_messages)),
            WaitTimeSeconds=max(0, min(MAX_WAIT_SECONDS, wait_seconds)),
            VisibilityTimeout=visibility_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            MessageAttributeNames=["All"],
        )
    messages = []
    for raw in answer.get("Messages", []):
        system = raw.get("Attributes", {})
        sent = system.get("SentTimestamp")
        messages.append(
            QueueMessage(
                message_id=raw["MessageId"],
                receipt_handle=raw["ReceiptHandle"],
                body=raw.get("Body", ""),
                receive_count=int(system.get("ApproximateReceiveCount", 1)),
                sent_at=datetime.fromtimestamp(int(sent) / 1000, tz=UTC) if sent else None,
                attributes={
                    key: str(value.get("StringValue", ""))
                    for key, value in raw.get("MessageAttributes", {}).items()
                },
            )
        )
    return messages


def delete(clients: AwsClients, url: str, receipt_handle: str) -> None:
    with aws_call(f"delete a message from {url}"):
        clients.sqs.delete_message(QueueUrl=url, ReceiptHandle=receipt_handle)


def change_visibility(clients: AwsClients, url: str, receipt_handle: str, seconds: int) -> None:
    with aws_call(f"change a message's visibility in {url}"):
        clients.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )


def send(
    clients: AwsClients,
    url: str,
    body: str,
    attributes: Mapping[str, str],
    delay_seconds: int = 0,
) -> str:
    """Send `body` with string message attributes (each cut to MAX_ATTRIBUTE_CHARS), delivered
    after `delay_seconds` (SQS allows up to 900)."""
    with aws_call(f"send a message to {url}"):
        answer = clients.sqs.send_message(
            QueueUrl=url,
            MessageBody=body,
            DelaySeconds=delay_seconds,
            MessageAttributes={
                key: {"DataType": "String", "StringValue": value[:MAX_ATTRIBUTE_CHARS] or "-"}
                for key, value in attributes.items()
            },
        )
    return str(answer["MessageId"])


def queue_tags(clients: AwsClients, url: str) -> dict[str, str]:
    with aws_call(f"list the tags of SQS queue {url}"):
        return dict(clients.sqs.list_queue_tags(QueueUrl=url).get("Tags", {}))


def delete_queue(clients: AwsClients, name: str) -> bool:
    """Delete the queue and its messages (AWS then refuses its name for 60 s)."""
    url = queue_url(clients, name)
    if url is None:
        return False
    with aws_call(f"delete SQS queue {name}"):
        clients.sqs.delete_queue(QueueUrl=url)
    log.info("deleted SQS queue %s", name)
    return True
