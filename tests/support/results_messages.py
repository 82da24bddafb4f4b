"""Rekognition's documented notification formats, verbatim, and messages built from them.

`DOC_LABEL_DETECTED` and `DOC_STREAM_PROCESSING_COMPLETE` are quoted verbatim from the Amazon
Rekognition developer guide, "Calling label detection operations for streaming video events",
section "Analyzing label detection results". The guide gives types in place of values (`string`,
`number`, `object`): `instantiate` fills each placeholder by its field name and leaves the rest
of the text as the guide has it.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

DOC_LABEL_DETECTED = """\
  {"Subject": "Rekognition Stream Processing Event",
      "Message": {    
          "inputInformation": {
              "kinesisVideo": {
                  "streamArn": string
              }
          },
          "eventNamespace": {
              "type": "LABEL_DETECTED"
          },
          "labels": [{
              "id": string,
              "name": "PERSON" | "PET" | "PACKAGE",
              "frameImageUri": string,
              "croppedImageUri": string,
              "videoMapping": {
                  "kinesisVideoMapping": {
                      "fragmentNumber": string,
                      "serverTimestamp": number,
                      "producerTimestamp": number,
                      "frameOffsetMillis": number
                  }
              },
              "boundingBox": {
                  "left": number,
                  "top": number,
                  "height": number,
                  "width": number
              }
          }],
          "eventId": string,
          "tags": {
              [string]: string
          },
          "sessionId": string,
          "startStreamProcessorRequest": object
      }
  }
"""  # noqa: W291 - the guide's trailing space, verbatim

DOC_STREAM_PROCESSING_COMPLETE = """\
  {"Subject": "Rekognition Stream Processing Event",
      "Message": {
          "inputInformation": {
              "kinesisVideo": {
                  "streamArn": string,
                  "processedVideoDurationMillis": number
              }
          },
          "eventNamespace": {
              "type": "STREAM_PROCESSING_COMPLETE"
          },
          "streamProcessingResults": {
              "message": string
          },
          "eventId": string,
          "tags": {
              [string]: string
          },
          "sessionId": string,
          "startStreamProcessorRequest": object
      }
  }
"""

SESSION = "5a9f2a3c-0b8e-4a57-9c1e-2d6f0e8b7a41"
PREFIX = f"s3://camfleet-results/cameras/front-door/camfleet-front-door/{SESSION}"
VALUES: dict[str, Any] = {
    "streamArn": "arn:aws:kinesisvideo:us-east-1:123456789012:stream/front-door/1655930000000",
    "id": "0f6d2c7e-1c55-4b0e-9a3c-5b7e8d9f1a2b",
    "frameImageUri": f"{PREFIX}/PERSON-1/frame.jpg",
    "croppedImageUri": f"{PREFIX}/PERSON-1/cropped.jpg",
    "fragmentNumber": "91343852333181432392682062607743920146264354779",
    "serverTimestamp": 1655930623456,
    "producerTimestamp": 1655930623123,
    "frameOffsetMillis": 200,
    "left": 0.1,
    "top": 0.2,
    "height": 0.5,
    "width": 0.3,
    "eventId": "e3b0c442-98fc-4c14-9afb-f4c8996fb924",
    "sessionId": SESSION,
    "startStreamProcessorRequest": {
        "name": "camfleet-front-door",
        "startSelector": {"kvsStreamStartSelector": {"producerTimestamp": 1655930620000}},
        "stopSelector": {"maxDurationInSeconds": 30},
    },
    "processedVideoDurationMillis": 30000,
    "message": "Stream processing completed.",
}
DETECTED_AT = datetime(2022, 6, 22, 20, 43, 43, 323000, tzinfo=UTC)  # producer ts + offset


def instantiate(template: str, values: dict[str, Any] = VALUES) -> dict[str, Any]:
    """The guide's format with each `string`/`number`/`object` replaced by the field's value."""
    text = template.replace('"PERSON" | "PET" | "PACKAGE"', '"PERSON"')
    text = text.replace("[string]: string", '"camera-fleet:fleet": "camfleet"')
    text = re.sub(
        r'"(\w+)":\s*(?:string|number|object)\b',
        lambda m: f'"{m[1]}": {json.dumps(values[m[1]])}',
        text,
    )
    document: dict[str, Any] = json.loads(text)
    return document


def sns_wrapped(message: dict[str, Any], **envelope: Any) -> str:
    """How SNS delivers a message to an SQS subscription without raw delivery."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:camfleet-rekognition",
            "Subject": "Rekognition Stream Processing Event",
            "Message": json.dumps(message),
            "Timestamp": "2022-06-22T20:43:45.000Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/cert.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
            **envelope,
        }
    )


def label_detected(
    fleet: str,
    camera_id: str,
    session_id: str,
    label: str = "PERSON",
    confidence: float | None = 97.0,
    producer_ms: int = 1655930623123,
    bucket: str = "camfleet-results",
) -> dict[str, Any]:
    """A LABEL_DETECTED message (the SNS `Message`) of a camera of `fleet`, from the guide's."""
    folder = f"s3://{bucket}/cameras/{camera_id}/{fleet}-{camera_id}/{session_id}/{label}-1"
    values = {
        **VALUES,
        "streamArn": f"arn:aws:kinesisvideo:us-east-1:123456789012:stream/{camera_id}/1",
        "id": str(uuid.uuid4()),
        "frameImageUri": f"{folder}/frame.jpg",
        "croppedImageUri": f"{folder}/cropped.jpg",
        "producerTimestamp": producer_ms,
        "serverTimestamp": producer_ms + 300,
        "frameOffsetMillis": 0,
        "eventId": str(uuid.uuid4()),
        "sessionId": session_id,
        "startStreamProcessorRequest": {"name": f"{fleet}-{camera_id}"},
    }
    message: dict[str, Any] = instantiate(DOC_LABEL_DETECTED, values)["Message"]
    message["labels"][0]["name"] = label
    if confidence is not None:
        message["labels"][0]["confidence"] = confidence
    return message


def processing_complete(
    fleet: str, camera_id: str, session_id: str, processed_ms: int = 30000
) -> dict[str, Any]:
    values = {
        **VALUES,
        "sessionId": session_id,
        "processedVideoDurationMillis": processed_ms,
        "startStreamProcessorRequest": {"name": f"{fleet}-{camera_id}"},
    }
    message: dict[str, Any] = instantiate(DOC_STREAM_PROCESSING_COMPLETE, values)["Message"]
    return message
