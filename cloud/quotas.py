"""The Rekognition stream-processor quota, read from Service Quotas at run time."""

from __future__ import annotations

import logging
from typing import Any

from cloud.clients import AwsClients
from cloud.errors import FleetError, aws_call
from cloud.models import Model

log = logging.getLogger(__name__)

SERVICE_CODE = "rekognition"
DEFAULT_PROCESSOR_QUOTA = 10  # AWS's documented default, used only if Service Quotas has nothing


class Quota(Model):
    code: str
    name: str
    value: int


def is_processor_quota(quota: dict[str, Any]) -> bool:
    name = str(quota.get("QuotaName", "")).lower()
    return "stream processor" in name and "per second" not in name


def _find(pages: list[dict[str, Any]]) -> Quota | None:
    for quota in pages:
        if is_processor_quota(quota):
            return Quota(
                code=quota["QuotaCode"], name=quota["QuotaName"], value=int(quota["Value"])
            )
    return None


def _list(clients: AwsClients, operation: str) -> list[dict[str, Any]]:
    paginator = clients.quotas.get_paginator(operation)
    quotas: list[dict[str, Any]] = []
    for page in paginator.paginate(ServiceCode=SERVICE_CODE):
        quotas.extend(page.get("Quotas", []))
    return quotas


def processor_quota(clients: AwsClients) -> Quota:
    """The applied quota if the account has one, else the AWS default for the region."""
    for operation in ("list_service_quotas", "list_aws_default_service_quotas"):
        try:
            with aws_call(f"read Rekognition quotas ({operation})"):
                found = _find(_list(clients, operation))
        except FleetError as err:
            log.debug("service quotas %s unavailable: %s", operation, err)
            continue
        if found is not None:
            return found
    log.warning("no stream processor quota in Service Quotas; assuming AWS's default")
    return Quota(code="unknown", name="Stream processors", value=DEFAULT_PROCESSOR_QUOTA)
