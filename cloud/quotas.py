"""The Rekognition stream-processor quota, read from Service Quotas at run time."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from cloud.clients import AwsClients
from cloud.errors import FleetError
from cloud.models import Model
from cloud.paging import listed

if TYPE_CHECKING:
    from types_boto3_service_quotas.type_defs import ServiceQuotaTypeDef

log = logging.getLogger(__name__)

SERVICE_CODE = "rekognition"
DEFAULT_PROCESSOR_QUOTA = 10  # AWS's documented default, used only if Service Quotas has nothing


class Quota(Model):
    code: str
    name: str
    value: int


def is_processor_quota(quota: ServiceQuotaTypeDef) -> bool:
    name = quota.get("QuotaName", "").lower()
    return "stream processor" in name and "per second" not in name


def _find(quotas: Iterable[ServiceQuotaTypeDef]) -> Quota | None:
    for quota in quotas:
        if is_processor_quota(quota):
            return Quota(
                code=quota["QuotaCode"], name=quota["QuotaName"], value=int(quota["Value"])
            )
    return None


def _applied(clients: AwsClients) -> list[ServiceQuotaTypeDef]:
    return listed(
        "read Rekognition quotas (list_service_quotas)",
        clients.quotas.get_paginator("list_service_quotas").paginate(ServiceCode=SERVICE_CODE),
        lambda page: page.get("Quotas", []),
    )


def _defaults(clients: AwsClients) -> list[ServiceQuotaTypeDef]:
    return listed(
        "read Rekognition quotas (list_aws_default_service_quotas)",
        clients.quotas.get_paginator("list_aws_default_service_quotas").paginate(
            ServiceCode=SERVICE_CODE
        ),
        lambda page: page.get("Quotas", []),
    )


def processor_quota(clients: AwsClients) -> Quota:
    """The applied quota if the account has one, else the AWS default for the region."""
    for source in (_applied, _defaults):
        try:
            found = _find(source(clients))
        except FleetError as err:
            log.debug("service quotas unavailable (%s): %s", source.__name__, err)
            continue
        if found is not None:
            return found
    log.warning("no stream processor quota in Service Quotas; assuming AWS's default")
    return Quota(code="unknown", name="Stream processors", value=DEFAULT_PROCESSOR_QUOTA)
