"""Presigned links: which URIs are S3 objects, where the links point and how long they work.
Signing is local, so these make no request."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.clients import AwsClients
from cloud.errors import InvalidInputError
from cloud.links import bucket_and_key, link_expires_at, presigned_get, presigned_link
from cloud.settings import FleetSettings, Target

FRAME = "s3://camfleet-results/cameras/front-door/s1/PERSON-1/frame.jpg"


@pytest.mark.parametrize(
    ("uri", "parts"),
    [
        (FRAME, ("camfleet-results", "cameras/front-door/s1/PERSON-1/frame.jpg")),
        ("s3://b-1.x/k", ("b-1.x", "k")),
        ("s3://abc/a b/ü.jpg", ("abc", "a b/ü.jpg")),
    ],
)
def test_an_s3_uri_is_a_bucket_and_a_key(uri: str, parts: tuple[str, str]) -> None:
    assert bucket_and_key(uri) == parts


@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket",
        "s3://bucket/",
        "s3:///key",
        "s3://b/key",  # bucket names are 3 to 63 characters
        "s3://Bucket/key",
        "s3://-bucket/key",
        "https://bucket.s3.amazonaws.com/key",
        "bucket/key",
        "",
    ],
)
def test_anything_else_is_refused_with_the_uri(uri: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(repr(uri))):
        bucket_and_key(uri)


@given(
    st.from_regex(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", fullmatch=True),
    st.text(min_size=1, max_size=200),
)
def test_parsing_gives_back_the_parts_an_uri_is_made_of(bucket: str, key: str) -> None:
    assert bucket_and_key(f"s3://{bucket}/{key}") == (bucket, key)


def test_a_link_expires_its_lifetime_after_it_was_signed() -> None:
    url = "https://h/k?X-Amz-Date=20240622T204343Z&X-Amz-Expires=86400&X-Amz-Signature=ab"
    assert link_expires_at(url) == datetime(2024, 6, 23, 20, 43, 43, tzinfo=UTC)


@pytest.mark.parametrize(
    "url",
    [
        "https://h/k?AWSAccessKeyId=a&Signature=b&Expires=1718999999",  # SigV2
        "https://h/k?X-Amz-Date=yesterday&X-Amz-Expires=60",
        "https://h/k",
    ],
)
def test_a_url_that_is_no_sigv4_link_has_no_expiry(url: str) -> None:
    with pytest.raises(InvalidInputError, match="SigV4"):
        link_expires_at(url)


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_on_the_local_stack_a_link_is_path_style_at_the_endpoint(tmp_path: Path) -> None:
    settings = FleetSettings(home=tmp_path, aws_port=5999)
    before = datetime.now(UTC).replace(microsecond=0)
    link = presigned_link(AwsClients(settings), FRAME, 3600)
    parts = urlsplit(link.url)
    assert f"{parts.scheme}://{parts.netloc}" == settings.endpoint_url
    assert parts.path == "/camfleet-results/cameras/front-door/s1/PERSON-1/frame.jpg"
    query = _query(link.url)
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "3600"
    assert query["X-Amz-SignedHeaders"] == "host"  # a plain GET, no header to send
    assert before + timedelta(hours=1) <= link.expires_at <= before + timedelta(hours=1, seconds=5)


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("eu-west-1", "camfleet-results.s3.eu-west-1.amazonaws.com"),
        ("us-east-1", "camfleet-results.s3.us-east-1.amazonaws.com"),
    ],
)
def test_on_aws_a_link_is_at_the_buckets_regional_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, region: str, host: str
) -> None:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    settings = FleetSettings(home=tmp_path, target=Target.AWS, region=region)
    url = presigned_get(AwsClients(settings), FRAME, 86_400)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", host)
    assert parts.path == "/cameras/front-door/s1/PERSON-1/frame.jpg"
    assert _query(url)["X-Amz-Credential"].split("/")[2:4] == [region, "s3"]


@pytest.mark.parametrize("seconds", [0, -1, 604_801])
def test_a_lifetime_beyond_sigv4s_limits_is_refused(tmp_path: Path, seconds: int) -> None:
    with pytest.raises(InvalidInputError, match="604800"):
        presigned_get(AwsClients(FleetSettings(home=tmp_path)), FRAME, seconds)


def test_a_bad_uri_is_refused_before_signing(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=re.escape("file:///x.jpg")):
        presigned_get(AwsClients(FleetSettings(home=tmp_path)), "file:///x.jpg", 60)
