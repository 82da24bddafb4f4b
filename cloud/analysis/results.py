"""Where a frames session's results go, as a stream processor's go: JPEGs to the fleet's results
bucket, messages to the fleet's Rekognition topic (which the results pipeline subscribes to)."""

from __future__ import annotations

from cloud import notify
from cloud.analysis.messages import SUBJECT
from cloud.clients import AwsClients
from cloud.errors import aws_call


def put_jpeg(clients: AwsClients, bucket: str, key: str, body: bytes) -> None:
    with aws_call(f"write s3://{bucket}/{key}"):
        clients.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="image/jpeg")


def publish_message(clients: AwsClients, topic_arn: str, message: str) -> str:
    """Publish a Rekognition message (its JSON text) with the stream processors' subject."""
    return notify.publish(clients, topic_arn, SUBJECT, message)
