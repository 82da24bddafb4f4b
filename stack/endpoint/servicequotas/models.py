"""Service Quotas for ``ServiceCode=rekognition``: the stream processor quota.

moto's Service Quotas knows only ``vpc``; other service codes fall through to
it. The quota reported is the endpoint's processor quota (its configured
value, or what the admin API set since: ``QuotaSetting``), both as the applied
and the AWS default value (the local account never had an increase). The
QuotaCode is AWS-shaped but not verified against AWS's real one: look quotas
up by ``QuotaName`` when it matters. Not emulated: quota increase requests,
usage metrics, templates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stack.endpoint.exceptions import NoSuchResourceException

REKOGNITION_SERVICE_CODE = "rekognition"
REKOGNITION_SERVICE_NAME = "Amazon Rekognition"
STREAM_PROCESSOR_QUOTA_CODE = "L-7B5C7D0A"
STREAM_PROCESSOR_QUOTA_NAME = "Stream processors per account"

QuotaValue = Callable[[], int]


class QuotaSetting(BaseModel):
    """A quota's new value, as the admin API (``PUT /_fleet/processor-quota``) takes it."""

    model_config = ConfigDict(extra="forbid")

    value: int = Field(ge=0)


class ServiceQuotasBackend:
    """The Rekognition quotas of one account and region."""

    def __init__(self, account_id: str, region: str, processor_quota: QuotaValue) -> None:
        self.account_id = account_id
        self.region = region
        self._processor_quota = processor_quota

    def _stream_processor_quota(self) -> dict[str, Any]:
        return {
            "ServiceCode": REKOGNITION_SERVICE_CODE,
            "ServiceName": REKOGNITION_SERVICE_NAME,
            "QuotaArn": (
                f"arn:aws:servicequotas:{self.region}:{self.account_id}:"
                f"{REKOGNITION_SERVICE_CODE}/{STREAM_PROCESSOR_QUOTA_CODE}"
            ),
            "QuotaCode": STREAM_PROCESSOR_QUOTA_CODE,
            "QuotaName": STREAM_PROCESSOR_QUOTA_NAME,
            "Value": float(self._processor_quota()),
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
            "QuotaAppliedAtLevel": "ACCOUNT",
        }

    def list_quotas(self, service_code: str) -> list[dict[str, Any]]:
        if service_code != REKOGNITION_SERVICE_CODE:
            raise NoSuchResourceException(f"The service {service_code} does not exist.")
        return [self._stream_processor_quota()]

    def get_quota(self, service_code: str, quota_code: str) -> dict[str, Any]:
        for quota in self.list_quotas(service_code):
            if quota["QuotaCode"] == quota_code:
                return quota
        raise NoSuchResourceException(f"The quota {quota_code} does not exist.")
