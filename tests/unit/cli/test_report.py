"""`fleet report --since`: a mistake is one line and exit code 2, before Prefect is loaded."""

from __future__ import annotations

from pathlib import Path

from tests.unit.cli.test_imports import _fleet, _loaded


def test_a_wrong_since_is_refused_before_prefect_loads(tmp_path: Path) -> None:
    code, modules = _fleet(tmp_path, "report", "--since", "2w")

    assert code == 2
    assert _loaded(modules, ("prefect", "boto3", "stack")) == set()


def test_the_report_command_is_registered(tmp_path: Path) -> None:
    code, modules = _fleet(tmp_path, "report", "--help")

    assert code == 0
    assert _loaded(modules, ("prefect", "cloud", "flows")) == set()
