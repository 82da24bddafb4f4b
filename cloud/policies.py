"""Policy documents: the JSON files in infra/policies are the one source of truth.

Placeholders are `{{Name}}`, so AWS policy variables such as `${iot:Connection.Thing.ThingName}`
pass through untouched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

INFRA_DIR = Path(__file__).resolve().parent.parent / "infra"
POLICY_DIR = INFRA_DIR / "policies"
_PLACEHOLDER = re.compile(r"\{\{([A-Za-z]+)\}\}")


class PolicyName(StrEnum):
    REKOGNITION_TRUST = "rekognition-trust"
    REKOGNITION_PERMISSIONS = "rekognition-permissions"
    KVS_PRODUCER_TRUST = "kvs-producer-trust"
    KVS_PRODUCER_PERMISSIONS = "kvs-producer-permissions"
    IOT_CAMERA = "iot-camera-policy"
    IOT_BRIDGE = "iot-bridge-policy"
    RESULTS_QUEUE = "results-queue-policy"
    RESULTS_CONSUMER = "results-consumer-permissions"
    ANALYZER_WORKER = "analyzer-worker"
    BRIDGE_PERMISSIONS = "bridge-permissions"


@cache
def _template(name: PolicyName) -> str:
    return (POLICY_DIR / f"{name.value}.json").read_text()


def placeholders(name: PolicyName) -> set[str]:
    return set(_PLACEHOLDER.findall(_template(name)))


def render(name: PolicyName, **values: str) -> dict[str, Any]:
    """Fill every placeholder of a policy; a missing or unknown value is a programming error."""
    wanted = placeholders(name)
    missing, unknown = wanted - values.keys(), values.keys() - wanted
    if missing or unknown:
        raise KeyError(f"policy {name}: missing {sorted(missing)}, unknown {sorted(unknown)}")
    text = _PLACEHOLDER.sub(lambda m: values[m.group(1)], _template(name))
    document: dict[str, Any] = json.loads(text)
    return document


def canonical(document: Mapping[str, object] | str) -> str:
    """A stable text form for comparing a policy we want with one AWS returns."""
    parsed = json.loads(document) if isinstance(document, str) else document
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"))
