"""The SNS topic the stream processors publish their notifications to."""

from __future__ import annotations

import logging

from cloud.clients import AwsClients
from cloud.errors import aws_call
from cloud.tags import as_key_value_list

log = logging.getLogger(__name__)


def ensure_topic(clients: AwsClients, name: str, tags: dict[str, str]) -> str:
    """CreateTopic is idempotent for the same name and attributes; it returns the ARN."""
    with aws_call(f"create SNS topic {name}"):
        arn = str(clients.sns.create_topic(Name=name, Tags=as_key_value_list(tags))["TopicArn"])
    log.debug("SNS topic %s ready", arn)
    return arn
