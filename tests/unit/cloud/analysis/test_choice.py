"""Which analyzer a part uses: the fleet's recorded one."""

import pytest

from cloud.analysis.choice import effective
from cloud.errors import InvalidInputError
from cloud.models import Analyzer

FRAMES, PROCESSOR = Analyzer.FRAMES, Analyzer.STREAM_PROCESSOR


def test_a_new_fleet_takes_what_is_asked_or_the_stream_processor() -> None:
    assert effective(FRAMES, None, "f") is FRAMES
    assert effective(None, None, "f") is PROCESSOR


def test_a_recorded_fleet_keeps_its_own() -> None:
    assert effective(None, FRAMES, "f") is FRAMES
    assert effective(FRAMES, FRAMES, "f") is FRAMES


def test_a_setting_that_disagrees_with_the_fleet_names_the_switch() -> None:
    with pytest.raises(
        InvalidInputError, match=r"fleet f uses the frames analyzer.*fleet analyzer use"
    ):
        effective(PROCESSOR, FRAMES, "f")
