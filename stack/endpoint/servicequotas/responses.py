"""The Service Quotas JSON wire protocol (``ServiceQuotasV20190624.<Op>``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from stack.endpoint.servicequotas.models import REKOGNITION_SERVICE_CODE, ServiceQuotasBackend

Handler = Callable[[ServiceQuotasBackend, Mapping[str, Any]], dict[str, Any]]


def handles(operation: str | None, body: Mapping[str, Any]) -> bool:
    """Whether this request is ours; everything else goes to moto."""
    return operation in OPERATIONS and body.get("ServiceCode") == REKOGNITION_SERVICE_CODE


def _get(backend: ServiceQuotasBackend, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"Quota": backend.get_quota(str(body["ServiceCode"]), str(body.get("QuotaCode")))}


def _list(backend: ServiceQuotasBackend, body: Mapping[str, Any]) -> dict[str, Any]:
    quotas = backend.list_quotas(str(body["ServiceCode"]))
    if body.get("QuotaCode"):
        quotas = [q for q in quotas if q["QuotaCode"] == body["QuotaCode"]]
    return {"Quotas": quotas}


OPERATIONS: dict[str, Handler] = {
    "GetServiceQuota": _get,
    "GetAWSDefaultServiceQuota": _get,
    "ListServiceQuotas": _list,
    "ListAWSDefaultServiceQuotas": _list,
}
