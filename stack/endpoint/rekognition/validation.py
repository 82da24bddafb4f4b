"""Server-side checks of stream-processor, collection and face requests, as AWS makes them.

botocore validates types and minimums on the client; these are the rules it
does not check (patterns, maximums, which settings go with which output).
Every failure is an ``InvalidParameterException``; the face requests' pattern and length
failures carry AWS's validation wording ("1 validation error detected: Value ... at ...").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stack.endpoint.exceptions import InvalidParameterException

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_.\-]{1,128}$")
COLLECTION_PATTERN = re.compile(r"^[a-zA-Z0-9_.\-]{1,255}$")
KVS_ARN = re.compile(r"^arn:([a-z\d-]+):kinesisvideo:([a-z\d-]+):(\d{12}):stream/(.+)$")
KDS_ARN = re.compile(r"^arn:([a-z\d-]+):kinesis:([a-z\d-]+):\d{12}:.+$")
SNS_ARN = re.compile(r"^arn:aws:sns:.*:\w{12}:.+$")
ROLE_ARN = re.compile(r"^arn:aws:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
BUCKET = re.compile(r"^[0-9A-Za-z.\-_]{3,255}$")
EXTERNAL_IMAGE_ID = r"[a-zA-Z0-9_.\-:]+"
USER_ID = r"[a-zA-Z0-9_.\-:]+"
FACE_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
CONNECTED_HOME_LABELS = frozenset({"PERSON", "PET", "PACKAGE", "ALL"})
MAX_REGIONS_OF_INTEREST = 10
MAX_TAGS = 200


def fail(message: str) -> InvalidParameterException:
    return InvalidParameterException(message)


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise fail("Name must match [a-zA-Z0-9_.\\-]+ and be 1 to 128 characters long.")
    return name


def check_collection_id(collection_id: Any) -> str:
    if not isinstance(collection_id, str) or not COLLECTION_PATTERN.match(collection_id):
        raise fail("CollectionId must match [a-zA-Z0-9_.\\-]+ and be 1 to 255 characters long.")
    return collection_id


def constraint_failed(value: Any, member: str, constraint: str) -> InvalidParameterException:
    return fail(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: Member must {constraint}"
    )


def check_pattern(value: str, member: str, pattern: str, max_length: int | None = None) -> str:
    """``value`` (at ``member``, AWS's camelCase name) matches ``pattern`` and fits."""
    if max_length is not None and len(value) > max_length:
        raise constraint_failed(value, member, f"have length less than or equal to {max_length}")
    if re.fullmatch(pattern, value) is None:
        raise constraint_failed(value, member, f"satisfy regular expression pattern: {pattern}")
    return value


def check_external_image_id(value: str) -> str:
    return check_pattern(value, "externalImageId", EXTERNAL_IMAGE_ID, 255)


def check_user_id(value: str) -> str:
    return check_pattern(value, "userId", USER_ID, 128)


def check_face_ids(values: list[str], member: str) -> list[str]:
    """A ``FaceIds`` list: 1 to 4096 face ids (botocore checks only the minimum)."""
    if len(values) > 4096:
        raise constraint_failed(
            f"[{len(values)} face ids]", member, "have length less than or equal to 4096"
        )
    for value in values:
        check_pattern(value, member, FACE_ID)
    return values


def check_percent(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise fail(f"{field} must be between 0 and 100.")
    return float(value)


def check_labels(labels: Any) -> list[str]:
    if not isinstance(labels, list) or not labels:
        raise fail("ConnectedHome Labels must be a non-empty list.")
    unknown = [label for label in labels if label not in CONNECTED_HOME_LABELS]
    if unknown:
        raise fail(
            f"Invalid ConnectedHome labels {unknown}: allowed are PERSON, PET, PACKAGE, ALL."
        )
    return list(dict.fromkeys(labels))


def _check_ratio(value: Any, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise fail(f"{field} must be a ratio between 0 and 1.")


def check_regions_of_interest(regions: Any) -> list[dict[str, Any]]:
    if not isinstance(regions, list):
        raise fail("RegionsOfInterest must be a list.")
    if len(regions) > MAX_REGIONS_OF_INTEREST:
        raise fail(f"At most {MAX_REGIONS_OF_INTEREST} RegionsOfInterest are allowed.")
    for region in regions:
        box, polygon = region.get("BoundingBox"), region.get("Polygon")
        if (box is None) == (polygon is None):
            raise fail("Each region of interest needs exactly one of BoundingBox or Polygon.")
        if box is not None:
            for key in ("Width", "Height", "Left", "Top"):
                _check_ratio(box.get(key, 0), f"BoundingBox.{key}")
        else:
            if not isinstance(polygon, list) or len(polygon) < 3:
                raise fail("A Polygon needs at least 3 points.")
            for point in polygon:
                _check_ratio(point.get("X"), "Polygon.X")
                _check_ratio(point.get("Y"), "Polygon.Y")
    return [dict(region) for region in regions]


def check_tags(tags: Any) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping) or len(tags) > MAX_TAGS:
        raise fail(f"Tags must be a map of at most {MAX_TAGS} entries.")
    return {str(key): str(value) for key, value in tags.items()}


def check_create(request: Mapping[str, Any]) -> str:
    """Validate a CreateStreamProcessor request; returns the KVS stream ARN."""
    check_name(request.get("Name"))
    stream_arn = (request.get("Input") or {}).get("KinesisVideoStream", {}).get("Arn")
    if not isinstance(stream_arn, str) or not KVS_ARN.match(stream_arn):
        raise fail("Input.KinesisVideoStream.Arn must be a Kinesis video stream ARN.")
    role = request.get("RoleArn")
    if not isinstance(role, str) or not ROLE_ARN.match(role):
        raise fail("RoleArn must be an IAM role ARN.")
    settings = request.get("Settings") or {}
    output = request.get("Output") or {}
    face, home = settings.get("FaceSearch"), settings.get("ConnectedHome")
    if (face is None) == (home is None):
        raise fail("Settings must have exactly one of FaceSearch or ConnectedHome.")
    if ("S3Destination" in output) == ("KinesisDataStream" in output):
        raise fail("Output must have exactly one of S3Destination or KinesisDataStream.")
    if home is not None:
        _check_connected_home(request, home, output)
    else:
        _check_face_search(request, face or {}, output)
    check_tags(request.get("Tags"))
    return stream_arn


def _check_connected_home(
    request: Mapping[str, Any], home: Mapping[str, Any], output: Mapping[str, Any]
) -> None:
    check_labels(home.get("Labels"))
    if "MinConfidence" in home:
        check_percent(home["MinConfidence"], "MinConfidence")
    destination = output.get("S3Destination")
    if not destination or not BUCKET.match(str(destination.get("Bucket", ""))):
        raise fail("ConnectedHome stream processors need Output.S3Destination with a Bucket.")
    if len(str(destination.get("KeyPrefix", ""))) > 1024:
        raise fail("S3Destination.KeyPrefix is at most 1024 characters.")
    topic = (request.get("NotificationChannel") or {}).get("SNSTopicArn")
    if not isinstance(topic, str) or not SNS_ARN.match(topic):
        raise fail("ConnectedHome stream processors need NotificationChannel.SNSTopicArn.")
    check_regions_of_interest(request.get("RegionsOfInterest", []))


def _check_face_search(
    request: Mapping[str, Any], face: Mapping[str, Any], output: Mapping[str, Any]
) -> None:
    check_collection_id(face.get("CollectionId"))
    if "FaceMatchThreshold" in face:
        check_percent(face["FaceMatchThreshold"], "FaceMatchThreshold")
    stream = (output.get("KinesisDataStream") or {}).get("Arn")
    if not isinstance(stream, str) or not KDS_ARN.match(stream):
        raise fail("FaceSearch stream processors need Output.KinesisDataStream.Arn.")
    if request.get("RegionsOfInterest"):
        raise fail("RegionsOfInterest apply to ConnectedHome stream processors only.")
