"""The report's chart in the fleet's results bucket: `reports/<fleet>/<report date>/detections.png`,
encrypted at rest (SSE-S3) as the fleet's other objects."""

from __future__ import annotations

from datetime import date
from typing import Final

from cloud.clients import AwsClients
from cloud.errors import aws_call

REPORTS_ROOT: Final = "reports/"
CHART_NAME: Final = "detections.png"
ENCRYPTION: Final = "AES256"  # SSE-S3


def chart_key(fleet: str, report_date: date) -> str:
    return f"{REPORTS_ROOT}{fleet}/{report_date.isoformat()}/{CHART_NAME}"


def put_chart(clients: AwsClients, bucket: str, key: str, png: bytes) -> str:
    """Store the chart (a run on the same day replaces it); returns its `s3://` URI."""
    with aws_call(f"store the report chart as s3://{bucket}/{key}"):
        clients.s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=png,
            ContentType="image/png",
            ServerSideEncryption=ENCRYPTION,
        )
    return f"s3://{bucket}/{key}"
