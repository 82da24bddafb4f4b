"""The frame's link in what people receive: the SNS message's second line, the webhook's
`frame_url`; without it when it could not be made."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from cloud.links import MediaLink
from cloud.rekognition_messages import DetectionRecord
from services.results_consumer.decisions import (
    notification_message,
    notification_text,
    webhook_payload,
)

URL = "https://camfleet-results.s3.eu-west-1.amazonaws.com/k/frame.jpg?X-Amz-Signature=ab"
LINK = MediaLink(url=URL, expires_at=datetime(2024, 6, 23, 20, 43, 44, tzinfo=UTC))
RECORD = DetectionRecord(
    camera_id="front-door",
    session_id="s1",
    label="PERSON",
    confidence=97.4,
    detected_at=datetime(2024, 6, 22, 20, 43, 43, 123000, tzinfo=UTC),
    frame_uri="s3://camfleet-results/k/frame.jpg",
    processor="camfleet-front-door",
)


def test_the_message_is_the_text_then_the_frames_link() -> None:
    assert notification_message(RECORD, LINK).splitlines() == [
        "PERSON at front-door, 97% — 2024-06-22 20:43:43 UTC",
        f"Frame: {URL}",
    ]


def test_without_a_link_the_message_is_the_text_alone() -> None:
    assert notification_message(RECORD, None) == notification_text(RECORD)


def test_the_webhook_carries_the_link_and_when_it_expires() -> None:
    payload = json.loads(json.dumps(webhook_payload(RECORD, "camfleet", LINK)))
    assert payload["frame_url"] == URL
    assert payload["frame_url_expires_at"] == "2024-06-23T20:43:44.000Z"
    assert payload["frame_uri"] == RECORD.frame_uri  # the object itself, which does not expire
    plain = webhook_payload(RECORD, "camfleet", None)
    assert (plain["frame_url"], plain["frame_url_expires_at"]) == (None, None)


CLIP_URL = "https://camfleet-results.s3.eu-west-1.amazonaws.com/k/clip.mp4?X-Amz-Signature=cd"
CLIP = MediaLink(url=CLIP_URL, expires_at=datetime(2024, 6, 23, 20, 43, 44, tzinfo=UTC))


def test_the_clips_link_follows_the_frames_and_says_when_it_answers() -> None:
    assert notification_message(RECORD, LINK, CLIP).splitlines()[1:] == [
        f"Frame: {URL}",
        f"Clip (when the event ends): {CLIP_URL}",
    ]
    assert notification_message(RECORD, None, CLIP).splitlines()[1:] == [
        f"Clip (when the event ends): {CLIP_URL}"
    ]
    payload = webhook_payload(RECORD, "camfleet", LINK, CLIP)
    assert payload["clip_url"] == CLIP_URL
    assert payload["clip_url_expires_at"] == "2024-06-23T20:43:44.000Z"
