"""Service and operation resolution for every protocol the fleet uses."""

from __future__ import annotations

import pytest

from stack.endpoint.request_info import match_rest_operation, resolve_request


def _auth(service: str, region: str = "us-east-1") -> dict[str, str]:
    return {
        "authorization": (
            f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/{region}/{service}/aws4_request, "
            "SignedHeaders=host, Signature=abc"
        )
    }


@pytest.mark.parametrize(
    ("signing", "method", "path", "query", "extra", "body", "service", "operation"),
    [
        ("kinesisvideo", "POST", "/createStream", "", {}, b"{}", "kinesisvideo", "CreateStream"),
        ("kinesisvideo", "POST", "/getMedia", "", {}, b"{}", "kinesis-video-media", "GetMedia"),
        (
            "kinesisvideo",
            "POST",
            "/getImages",
            "",
            {},
            b"{}",
            "kinesis-video-archived-media",
            "GetImages",
        ),
        (
            "rekognition",
            "POST",
            "/",
            "",
            {"x-amz-target": "RekognitionService.StartStreamProcessor"},
            b"{}",
            "rekognition",
            "StartStreamProcessor",
        ),
        (
            "iam",
            "POST",
            "/",
            "",
            {"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
            b"Action=CreateRole&Version=2010-05-08",
            "iam",
            "CreateRole",
        ),
        (
            "iot",
            "PUT",
            "/things/cam-1/principals",
            "",
            {"x-amzn-principal": "arn:aws:iot:us-east-1:123456789012:cert/abc"},
            b"",
            "iot",
            "AttachThingPrincipal",
        ),
        (
            "iot",
            "PUT",
            "/certificates/abc",
            "newStatus=INACTIVE",
            {},
            b"",
            "iot",
            "UpdateCertificate",
        ),
        ("iotdata", "POST", "/things/cam-1/shadow", "", {}, b"{}", "iot-data", "UpdateThingShadow"),
        ("s3", "PUT", "/bucket/a/b.jpg", "", {}, b"x", "s3", "PutObject"),
        ("s3", "GET", "/bucket", "list-type=2&prefix=a", {}, b"", "s3", "ListObjectsV2"),
        (
            "servicequotas",
            "POST",
            "/",
            "",
            {"x-amz-target": "ServiceQuotasV20190624.GetServiceQuota"},
            b"{}",
            "service-quotas",
            "GetServiceQuota",
        ),
    ],
)
def test_resolve(
    signing: str,
    method: str,
    path: str,
    query: str,
    extra: dict[str, str],
    body: bytes,
    service: str,
    operation: str,
) -> None:
    info = resolve_request(method, path, query, {**_auth(signing, "eu-west-1"), **extra}, body)
    assert (info.service, info.operation, info.region) == (service, operation, "eu-west-1")
    assert info.access_key == "AKIDEXAMPLE"


def test_presigned_url_and_unsigned() -> None:
    query = "X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=x"
    info = resolve_request("GET", "/bucket/key", query, {}, b"")
    assert (info.service, info.operation) == ("s3", "GetObject")
    assert resolve_request("GET", "/", "", {}, b"").service is None


def test_s3_copy_needs_its_header() -> None:
    assert match_rest_operation("s3", "PUT", "/b/k", {}, {}) == "PutObject"
    assert (
        match_rest_operation("s3", "PUT", "/b/k", {}, {"x-amz-copy-source": "/a/b"}) == "CopyObject"
    )
    assert match_rest_operation("s3", "POST", "/b", {"delete": [""]}) == "DeleteObjects"
