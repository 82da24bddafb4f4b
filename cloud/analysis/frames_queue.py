"""The frames analyzer's fleet-level resources: the analysis queue (SQS, with a dead-letter
queue) that hands sessions to the workers, and the analysis table."""

from __future__ import annotations

import json

from cloud import queues
from cloud.analysis import frames_table
from cloud.analysis.models import FramesSessionRequest
from cloud.clients import AwsClients
from cloud.models import FramesRecord
from cloud.naming import FleetNames

# A worker extends a message's visibility while it works the session; a killed worker's session
# comes back after this.
VISIBILITY_TIMEOUT_S = 60
MAX_RECEIVES = 5  # then SQS moves the session to the dead-letter queue
RETENTION_S = 3600  # a session not analysed within an hour is of no use to anyone
DLQ_RETENTION_S = 14 * 24 * 3600
LONG_POLL_S = 20


def ensure_frames_resources(
    clients: AwsClients, names: FleetNames, tags: dict[str, str]
) -> FramesRecord:
    """Idempotent: the analysis queue, its dead-letter queue and the analysis table."""
    dlq = queues.ensure_queue(
        clients,
        names.analysis_dlq,
        {"MessageRetentionPeriod": str(DLQ_RETENTION_S), "SqsManagedSseEnabled": "true"},
        tags,
    )
    queue = queues.ensure_queue(
        clients,
        names.analysis_queue,
        {
            "VisibilityTimeout": str(VISIBILITY_TIMEOUT_S),
            "MessageRetentionPeriod": str(RETENTION_S),
            "ReceiveMessageWaitTimeSeconds": str(LONG_POLL_S),
            "SqsManagedSseEnabled": "true",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": MAX_RECEIVES},
                separators=(",", ":"),
            ),
        },
        tags,
    )
    table_arn = frames_table.ensure_table(clients, names.analysis_table, tags)
    return FramesRecord(
        queue_url=queue.url,
        queue_arn=queue.arn,
        dlq_url=dlq.url,
        dlq_arn=dlq.arn,
        table_arn=table_arn,
    )


def send_session(clients: AwsClients, queue_url: str, request: FramesSessionRequest) -> str:
    return queues.send(
        clients, queue_url, request.model_dump_json(), {"camera_id": request.camera_id}
    )
