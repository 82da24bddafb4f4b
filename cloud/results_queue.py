"""The fleet's results pipeline, wired once per fleet, idempotently: the Rekognition topic feeds
the results queue (with its dead-letter queue), the detections table and the notifications topic
are created beside it. A converged fleet gets no write. Consuming the queue is the results
consumer's business.
"""

from __future__ import annotations

import json

from cloud import detections, notify, queues
from cloud.clients import AwsClients
from cloud.models import ResultsRecord
from cloud.naming import FleetNames
from cloud.policies import PolicyName, render

VISIBILITY_TIMEOUT_S = 60  # how long a received message stays hidden while it is handled
MAX_RECEIVES = 5  # then SQS moves it to the dead-letter queue by itself
RETENTION_S = 4 * 24 * 3600
DLQ_RETENTION_S = 14 * 24 * 3600  # SQS's maximum: time to look at what failed
LONG_POLL_S = 20


def queue_policy(names: FleetNames, topic_arn: str) -> dict[str, object]:
    return render(
        PolicyName.RESULTS_QUEUE, **names.arn_context(), Fleet=names.fleet, TopicArn=topic_arn
    )


def _json(document: object) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def ensure_results(
    clients: AwsClients, names: FleetNames, topic_arn: str, tags: dict[str, str]
) -> ResultsRecord:
    dlq = queues.ensure_queue(
        clients,
        names.results_dlq,
        {
            "MessageRetentionPeriod": str(DLQ_RETENTION_S),
            "SqsManagedSseEnabled": "true",
        },
        tags,
    )
    queue = queues.ensure_queue(
        clients,
        names.results_queue,
        {
            "VisibilityTimeout": str(VISIBILITY_TIMEOUT_S),
            "MessageRetentionPeriod": str(RETENTION_S),
            "ReceiveMessageWaitTimeSeconds": str(LONG_POLL_S),
            "SqsManagedSseEnabled": "true",
            "Policy": _json(queue_policy(names, topic_arn)),
            "RedrivePolicy": _json(
                {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": MAX_RECEIVES}
            ),
        },
        tags,
    )
    subscription = notify.ensure_queue_subscription(clients, topic_arn, queue.arn)
    table_arn = detections.ensure_table(clients, names.detections_table, tags)
    notifications = notify.ensure_topic(
        clients, names.user_notifications_topic, names.user_notifications_topic_arn(), tags
    )
    return ResultsRecord(
        queue_url=queue.url,
        queue_arn=queue.arn,
        dlq_url=dlq.url,
        dlq_arn=dlq.arn,
        subscription_arn=subscription,
        detections_table=names.detections_table,
        detections_table_arn=table_arn,
        notifications_topic_arn=notifications,
    )
