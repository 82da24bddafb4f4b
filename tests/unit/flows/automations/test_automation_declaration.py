"""The automations declaration: the shipped file is valid, and a bad one fails with the file and
the key named (a table of mistakes), before anything reaches Prefect."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.errors import InvalidInputError
from cloud.settings import FleetSettings
from flows.automations.declaration import (
    DEFAULT_DECLARATION,
    declaration_path,
    load_declaration,
    parse_declaration,
)

VALID = """
version = 1
[camera_offline]
offline_seconds = 60
[pipeline_failed]
cooldown_seconds = 0
[analyses_failing]
failures = 2
within_seconds = 120
"""


def test_the_shipped_declaration_is_valid() -> None:
    declaration = load_declaration(DEFAULT_DECLARATION)
    assert declaration.camera_offline.offline_seconds == 600
    assert declaration.camera_offline.enabled
    assert declaration.analyses_failing.failures == 3


def test_a_valid_declaration_parses_and_sections_are_enabled_by_default() -> None:
    declaration = parse_declaration(VALID, "test.toml")
    assert declaration.pipeline_failed.cooldown_seconds == 0
    assert declaration.pipeline_failed.enabled and declaration.analyses_failing.enabled


def test_the_settings_choose_the_file(tmp_path: Path) -> None:
    assert declaration_path(FleetSettings()) == DEFAULT_DECLARATION
    other = tmp_path / "automations.toml"
    assert declaration_path(FleetSettings(automations_file=other)) == other


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("offline_seconds = 60", "offline_second = 60"), "camera_offline.offline_second: Extra"),
        (("offline_seconds = 60", "offline_seconds = 5"), "camera_offline.offline_seconds: Input"),
        (("offline_seconds = 60", "offline_seconds = 'ten'"), "camera_offline.offline_seconds"),
        (("within_seconds = 120", "within_seconds = 0"), "within_seconds must be more than 0"),
        (("failures = 2", "failures = 0"), "analyses_failing.failures: Input should be greater"),
        (("cooldown_seconds = 0", "cooldown_seconds = -1"), "pipeline_failed.cooldown_seconds"),
        (("version = 1", "version = 2"), "version: Input should be 1"),
        (("[pipeline_failed]\ncooldown_seconds = 0", ""), "pipeline_failed: Field required"),
        (("[camera_offline]", "[camera_offline]\nenabled = 'maybe'"), "camera_offline.enabled"),
        (("version = 1", "version = 1\ncolour = 'red'"), "colour: Extra inputs"),
    ],
)
def test_a_bad_declaration_names_what_is_wrong(edit: tuple[str, str], expected: str) -> None:
    text = VALID.replace(*edit)
    assert text != VALID
    with pytest.raises(InvalidInputError, match=r"automations declaration bad\.toml: ") as err:
        parse_declaration(text, "bad.toml")
    assert expected in str(err.value)


def test_not_toml_and_a_missing_file_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"bad\.toml is not TOML: .*line 1"):
        parse_declaration("version = = 1", "bad.toml")
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(InvalidInputError, match=f"{missing} cannot be read"):
        load_declaration(missing)


def test_fleet_up_refuses_a_malformed_declaration_before_starting_anything(
    tmp_path: Path,
) -> None:
    from stack.supervisor.local_stack import up

    bad = tmp_path / "automations.toml"
    bad.write_text(VALID.replace("failures = 2", "failures = 'two'"), encoding="utf-8")
    home = tmp_path / "home"
    with pytest.raises(InvalidInputError, match=r"analyses_failing\.failures"):
        up(FleetSettings(home=home, automations_file=bad))
    assert not home.exists()  # not even the stack's directory
