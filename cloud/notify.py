"""The SNS topic the stream processors publish their notifications to."""

from __future__ import annotations

import logging

from cloud.clients import AwsClients
from cloud.errors import NotFoundError, aws_call
from cloud.models import Model
from cloud.paging import listed
from cloud.tags import as_key_value_list

log = logging.getLogger(__name__)


def ensure_topic(clients: AwsClients, name: str, arn: str, tags: dict[str, str]) -> str:
    """Look the topic up by its ARN first, so a converged fleet makes no write."""
    try:
        with aws_call(f"get SNS topic {name}"):
            clients.sns.get_topic_attributes(TopicArn=arn)
        return arn
    except NotFoundError:
        pass
    with aws_call(f"create SNS topic {name}"):
        arn = str(clients.sns.create_topic(Name=name, Tags=as_key_value_list(tags))["TopicArn"])
    log.debug("SNS topic %s ready", arn)
    return arn


def ensure_queue_subscription(clients: AwsClients, topic_arn: str, queue_arn: str) -> str:
    """Subscribe the queue to the topic (SNS envelope, not raw delivery); no write if it is."""
    with aws_call(f"list the subscriptions of {topic_arn}"):
        pages = clients.sns.get_paginator("list_subscriptions_by_topic").paginate(
            TopicArn=topic_arn
        )
        for page in pages:
            for subscription in page.get("Subscriptions", []):
                if (
                    subscription.get("Protocol") == "sqs"
                    and subscription.get("Endpoint") == queue_arn
                ):
                    return str(subscription["SubscriptionArn"])
    with aws_call(f"subscribe {queue_arn} to {topic_arn}"):
        arn = str(
            clients.sns.subscribe(
                TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True
            )["SubscriptionArn"]
        )
    log.info("subscribed %s to %s", queue_arn, topic_arn)
    return arn


def publish(
    clients: AwsClients,
    topic_arn: str,
    subject: str,
    message: str,
    attributes: dict[str, str] | None = None,
) -> str:
    """Publish a message; string attributes let subscribers filter (say, by camera)."""
    with aws_call(f"publish to {topic_arn}"):
        answer = clients.sns.publish(
            TopicArn=topic_arn,
            Subject=subject,
            Message=message,
            MessageAttributes={
                key: {"DataType": "String", "StringValue": value}
                for key, value in (attributes or {}).items()
            },
        )
    return str(answer["MessageId"])


class SubscriptionRecord(Model):
    arn: str
    protocol: str
    endpoint: str
    filter_policy: str | None = None


def topic_tags(clients: AwsClients, arn: str) -> dict[str, str] | None:
    """The topic's tags, or None if there is no such topic."""
    try:
        with aws_call(f"get SNS topic {arn}"):
            clients.sns.get_topic_attributes(TopicArn=arn)
            tags = clients.sns.list_tags_for_resource(ResourceArn=arn).get("Tags", [])
    except NotFoundError:
        return None
    return {t["Key"]: t["Value"] for t in tags}


def list_subscriptions(clients: AwsClients, topic_arn: str) -> list[SubscriptionRecord]:
    """The topic's confirmed subscriptions, each with its filter policy (pending ones have no ARN
    to unsubscribe and lapse on their own)."""
    found: list[SubscriptionRecord] = []
    subscriptions = listed(
        f"list the subscriptions of {topic_arn}",
        clients.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn),
        lambda page: page.get("Subscriptions", []),
    )
    for subscription in subscriptions:
        arn = str(subscription.get("SubscriptionArn", ""))
        if not arn.startswith("arn:"):
            continue  # PendingConfirmation
        try:
            with aws_call(f"get SNS subscription {arn}"):
                attributes = clients.sns.get_subscription_attributes(SubscriptionArn=arn)
        except NotFoundError:
            continue
        found.append(
            SubscriptionRecord(
                arn=arn,
                protocol=str(subscription.get("Protocol", "")),
                endpoint=str(subscription.get("Endpoint", "")),
                filter_policy=attributes.get("Attributes", {}).get("FilterPolicy"),
            )
        )
    return found


def unsubscribe(clients: AwsClients, arn: str) -> bool:
    try:
        with aws_call(f"get SNS subscription {arn}"):
            clients.sns.get_subscription_attributes(SubscriptionArn=arn)
    except NotFoundError:
        return False
    with aws_call(f"unsubscribe {arn}"):
        clients.sns.unsubscribe(SubscriptionArn=arn)
    log.info("unsubscribed %s", arn)
    return True


def delete_topic(clients: AwsClients, arn: str) -> bool:
    """DeleteTopic succeeds for a missing topic, so existence is read first."""
    if topic_tags(clients, arn) is None:
        return False
    with aws_call(f"delete SNS topic {arn}"):
        clients.sns.delete_topic(TopicArn=arn)
    log.info("deleted SNS topic %s", arn)
    return True
