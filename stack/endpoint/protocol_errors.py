"""AWS error bodies in each protocol's format, so botocore parses the code.

- ``json`` / ``rest-json``: ``{"__type": code, "message": ...}`` (plus the
  ``x-amzn-ErrorType`` header for rest-json);
- ``query`` (IAM, SNS, STS): ``<ErrorResponse><Error><Code>``;
- ``rest-xml``: S3's bare ``<Error><Code>``, others ``<ErrorResponse>``;
- ``ec2``: ``<Response><Errors><Error><Code>``.

Also the reverse: the error code of a response (for the request log).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class WireResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def error_response(
    protocol: str | None, service: str | None, code: str, message: str, status: int = 400
) -> WireResponse:
    request_id = str(uuid.uuid4())
    common = [("x-amzn-RequestId", request_id), ("x-amz-request-id", request_id)]
    if protocol in ("query", "rest-xml", "ec2"):
        error = f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        if protocol == "ec2":
            xml = (
                f"<Response><Errors><Error>{error}</Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>"
            )
        elif service == "s3":
            xml = f"<Error>{error}<RequestId>{request_id}</RequestId></Error>"
        else:
            xml = (
                f"<ErrorResponse><Error><Type>Sender</Type>{error}</Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>"
            )
        body = ('<?xml version="1.0" encoding="UTF-8"?>' + xml).encode()
        return WireResponse(status, [("Content-Type", "text/xml"), *common], body)
    payload = json.dumps({"__type": code, "message": message, "Message": message}).encode()
    headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code), *common]
    return WireResponse(status, headers, payload)


_XML_CODE = re.compile(rb"<Code>([^<]+)</Code>")


def error_code_of(headers: list[tuple[str, str]], body: bytes) -> str | None:
    """The AWS error code in an error response, if one can be found."""
    for name, value in headers:
        if name.lower() == "x-amzn-errortype" and value:
            return value.split(":", 1)[0]
    text = body.lstrip()
    if text.startswith(b"{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            return None
        if isinstance(parsed, dict):
            raw = parsed.get("__type") or parsed.get("code") or parsed.get("Code")
            return str(raw).rsplit("#", 1)[-1] if raw else None
        return None
    match = _XML_CODE.search(text)
    return match.group(1).decode() if match else None
