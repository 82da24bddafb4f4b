"""What a camera's analysis is estimated to cost. Pure.

Prices are US East (N. Virginia) list prices in USD, without free tier or volume tiers:
- DetectLabels (frames analyzer): $1.00 per 1,000 images, the first tier (the first million
  images a month; $0.80 per 1,000 after). Source: the Amazon Rekognition pricing page,
  https://aws.amazon.com/rekognition/pricing/.
- A ConnectedHome stream processor (Rekognition Streaming Video Events) bills per minute of video
  analysed. ASSUMPTION: its price was not found in the sources available when this was written;
  $0.12 a minute is a stand-in until checked on the same pricing page, and reports say so.
- Kinesis Video Streams ($0.0085 per GB ingested, https://aws.amazon.com/kinesis/video-streams/pricing/)
  is not counted: the table records neither the bytes cameras send nor what streams keep.

Images analysed by the frames analyzer are not recorded per session (the workers count them only
in their own stats), so they are estimated from what is recorded (`estimated_images`).
"""

from __future__ import annotations

import math
from typing import Final

from cloud.models import Analyzer
from cloud.report.models import Prices

DETECT_LABELS_USD_PER_IMAGE: Final = 0.001
ASSUMED_STREAM_PROCESSOR_USD_PER_MINUTE: Final = 0.12

DEFAULT_PRICES: Final = Prices(
    stream_processor_per_minute=ASSUMED_STREAM_PROCESSOR_USD_PER_MINUTE,
    detect_labels_per_image=DETECT_LABELS_USD_PER_IMAGE,
    assumed=("stream_processor_per_minute",),
)


def estimated_images(
    processed_ms: int, sessions: int, detections: int, *, search_ms: int, confirmations: int
) -> int:
    """Images a frames analyzer's sessions sent to DetectLabels: one search image at each
    session's start and one per `search_ms` of video analysed, and for each class detected the
    images that confirmed it after the search image that saw it. An upper bound by up to one
    image a session (each session's last search interval is counted whole)."""
    searches = math.ceil(processed_ms / search_ms) + sessions
    return searches + detections * max(0, confirmations - 1)


def day_cost(analyzer: Analyzer, prices: Prices, processed_ms: int, images: int | None) -> float:
    """USD for one camera's day: minutes of video analysed by a stream processor, or images sent
    to DetectLabels by the frames analyzer."""
    if analyzer is Analyzer.FRAMES:
        return (images or 0) * prices.detect_labels_per_image
    return processed_ms / 60_000 * prices.stream_processor_per_minute
