"""`fleet template`: the CloudFormation template, to a file or standard output, no AWS call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import main


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLEET_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FLEET_ANALYZER", raising=False)
    return tmp_path


def test_the_template_is_written_to_the_file_asked_for(tmp_path: Path) -> None:
    out = tmp_path / "fleet.json"
    done = CliRunner().invoke(main.app, ["template", "-o", str(out), "--analyzer", "frames"])
    assert done.exit_code == 0, done.output
    template = json.loads(out.read_text())
    types = {r["Type"] for r in template["Resources"].values()}
    assert {"AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::DynamoDB::Table"} <= types
    assert template["Parameters"]["Analyzer"]["Default"] == "frames"


def test_without_a_file_the_template_goes_to_standard_output() -> None:
    done = CliRunner().invoke(main.app, ["template"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["Parameters"]["Analyzer"]["Default"] == "stream-processor"
