"""The SNS topic the stream processors publish their notifications to."""

from __future__ import annotations

import logging

from cloud.clients import AwsClients
from cloud.errors import NotFoundError, aws_call
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
