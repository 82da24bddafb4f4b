"""The worker's settings from the fleet's, and how long a failed session waits for its retry."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cloud.settings import FleetSettings
from services.analyzer.service import AnalyzerConfig, retry_delay_seconds


def test_the_fleets_frames_settings_become_the_workers(tmp_path: Path) -> None:
    settings = FleetSettings(
        home=tmp_path,
        frames_search_ms=2500,
        frames_confirm_ms=500,
        frames_confirmations=3,
        frames_image_width=960,
        frames_detect_rate=6.0,
        frames_ingest_grace_seconds=4.5,
        analyzer_sessions=3,
    )
    config = AnalyzerConfig.from_settings(settings, replicas=4)
    assert (config.search_ms, config.confirm_ms, config.confirmations) == (2500, 500, 3)
    assert config.sessions == 3
    assert config.worker_rate == 1.5  # the fleet's rate shared by its four workers
    session = config.session_settings()
    assert (session.search_ms, session.confirm_ms, session.grace_ms) == (2500, 500, 4500)
    assert session.confirmations == 3
    assert session.lease_ms == 2 * config.visibility_timeout_seconds * 1000
    image_format = config.image_format()
    assert image_format.width == 960


def test_confirming_less_often_than_searching_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="FLEET_FRAMES_CONFIRM_MS"):
        FleetSettings(home=tmp_path, frames_search_ms=1000, frames_confirm_ms=2000)


def test_a_misspelt_setting_fails() -> None:
    with pytest.raises(ValidationError):
        AnalyzerConfig.model_validate({"sesions": 2})


def test_retries_back_off_up_to_five_minutes() -> None:
    assert [retry_delay_seconds(n) for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert retry_delay_seconds(30) == 300
