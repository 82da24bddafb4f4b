import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.errors import InvalidInputError
from cloud.naming import CAMERA_ID_MAX, FleetNames, validate_camera_id, validate_fleet_name

# Each service's own name pattern: a valid camera id must satisfy every one of them.
SERVICE_PATTERNS = {
    "kvs stream": r"[a-zA-Z0-9_.-]{1,256}",
    "iot thing": r"[a-zA-Z0-9:_-]{1,128}",
    "rekognition processor": r"[a-zA-Z0-9_.\-]{1,128}",
    "iam role": r"[\w+=,.@-]{1,64}",
    "mqtt topic level": r"[^+#/]+",
}


@given(st.from_regex(rf"[a-z0-9][a-z0-9_-]{{0,{CAMERA_ID_MAX - 1}}}", fullmatch=True))
def test_every_valid_camera_id_fits_every_service(camera_id: str) -> None:
    validate_camera_id(camera_id)
    names = FleetNames("camfleet-prod-01", "123456789012", "eu-west-1")
    for service, pattern in SERVICE_PATTERNS.items():
        assert re.fullmatch(pattern, camera_id), service
    assert re.fullmatch(SERVICE_PATTERNS["iam role"], names.rekognition_role(camera_id))
    assert re.fullmatch(SERVICE_PATTERNS["rekognition processor"], names.processor(camera_id))


@given(st.text(max_size=40))
def test_anything_else_is_refused_with_a_reason(value: str) -> None:
    if re.fullmatch(rf"[a-z0-9][a-z0-9_-]{{0,{CAMERA_ID_MAX - 1}}}", value):
        return
    with pytest.raises(InvalidInputError, match="camera id"):
        validate_camera_id(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "it is empty"),
        ("Front-Door", "'D' 'F'"),
        ("front door", "' '"),
        ("front/door", "'/'"),
        ("front+door", "'\\+'"),
        ("-front", "does not start"),
        ("a" * 33, "33 characters"),
    ],
)
def test_refusal_names_the_problem(value: str, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        validate_camera_id(value)


def test_fleet_names_fit_their_services() -> None:
    names = FleetNames("abcdefghijklmnop", "123456789012", "ap-southeast-2")
    assert len(names.results_bucket) <= 63
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", names.results_bucket)
    assert len(names.rekognition_role("x" * CAMERA_ID_MAX)) <= 64
    assert names.processor_arn("cam1") == (
        "arn:aws:rekognition:ap-southeast-2:123456789012:streamprocessor/abcdefghijklmnop-cam1"
    )


@pytest.mark.parametrize("value", ["", "Fleet", "1fleet", "a" * 17, "fl_eet"])
def test_bad_fleet_names(value: str) -> None:
    with pytest.raises(InvalidInputError, match="fleet name"):
        validate_fleet_name(value)


def test_the_account_is_asked_once_and_only_for_a_name_that_embeds_it() -> None:
    asked: list[int] = []

    def account() -> str:
        asked.append(1)
        return "123456789012"

    names = FleetNames("fleet", account, "eu-west-1")
    camera_names = [names.thing("cam1"), names.stream("cam1"), names.processor("cam1")]
    assert all("cam1" in name for name in [*camera_names, names.rekognition_role("cam1")])
    assert asked == []
    assert names.results_bucket == "fleet-results-123456789012-eu-west-1"
    assert names.role_arn("r") == "arn:aws:iam::123456789012:role/r"
    assert asked == [1]
