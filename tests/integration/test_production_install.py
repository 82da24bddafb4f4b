"""The product installed without the `local` extra: every production entry point imports and
answers `--help`, with none of the local stack's packages installed.

The slow part is the fresh environment: `uv sync` of the lock's `cloud` closure (no `local`, no
dev group) into a temporary directory. From the uv cache that `make install` fills it needs no
network; with a cold cache it downloads what it lacks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import BaseModel

REPO = Path(__file__).resolve().parents[2]
UV = REPO / ".tools" / "bin" / "uv"
# Import names of the `local` extra's packages: moto, opencv-python-headless, scikit-image.
LOCAL_ONLY = ("moto", "cv2", "skimage")
# The modules of the flows that flows.serve serves (it imports them all).
SERVED_FLOWS = (
    "flows.analyze",
    "flows.automations.camera_alerts",
    "flows.fleet_report",
    "flows.fleet_status",
    "flows.register",
    "flows.teardown",
)
ENTRY_POINTS = (
    "cli.main",
    "services.bridge.service",
    "services.results_consumer.service",
    "services.analyzer.service",
    "flows.serve",
    *SERVED_FLOWS,
    "flows.automations.sync",
    "device.agent",
)
COMMANDS = (
    ("fleet", "--help"),
    ("camera-fleet-agent", "--help"),
    ("python", "-m", "services.bridge", "--help"),
    ("python", "-m", "services.results_consumer", "--help"),
    ("python", "-m", "services.analyzer", "--help"),
)
# Runs in the fresh environment: which local-only packages are installed, then each entry point
# imported in turn, with its error, its file and the stack modules its import loaded.
PROBE = """
import importlib, importlib.util, json, sys, traceback
out, local_only, modules = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
report = {"installed": [n for n in local_only if importlib.util.find_spec(n) is not None],
          "failed": {}, "files": {}, "stack": {}}
for name in modules:
    before = set(sys.modules)
    try:
        report["files"][name] = importlib.import_module(name).__file__
    except Exception:
        report["failed"][name] = traceback.format_exc()
    loaded = sorted(m for m in set(sys.modules) - before if m.split(".")[0] == "stack")
    if loaded:
        report["stack"][name] = loaded
with open(out, "w") as f:
    json.dump(report, f)
"""


class ProbeReport(BaseModel):
    installed: list[str]
    failed: dict[str, str]
    files: dict[str, str]
    stack: dict[str, list[str]]


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would point Python or uv at the dev venv."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT"}
    }
    return {**env, "UV_PYTHON_DOWNLOADS": "never", **extra}


def _uv_sync(venv: Path, *, offline: bool) -> subprocess.CompletedProcess[str]:
    args = [str(UV), "sync", "--frozen", "--no-dev", "--extra", "cloud", "--no-editable"]
    # The project is built from the working tree every time, not taken from uv's cache.
    args += ["--reinstall-package", "camera-fleet", "--python", sys.executable]
    return subprocess.run(
        [*args, "--offline"] if offline else args,
        cwd=REPO,
        env=_clean_env(UV_PROJECT_ENVIRONMENT=str(venv)),
        capture_output=True,
        text=True,
        timeout=60 if offline else 600,
        check=False,
    )


@pytest.fixture(scope="module")
def production_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment with the product and its `cloud` extra, as locked."""
    assert UV.exists(), f"{UV} is missing: run `make install`"
    assert (REPO / "uv.lock").exists(), "uv.lock is missing: run `make install`"
    venv = tmp_path_factory.mktemp("production") / "venv"
    done = _uv_sync(venv, offline=True)
    if done.returncode != 0:  # a cold cache: fetch what it lacks
        done = _uv_sync(venv, offline=False)
    assert done.returncode == 0, done.stderr
    return venv


def _run(venv: Path, command: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a command of the environment from a directory outside the repository."""
    return subprocess.run(
        [str(venv / "bin" / command[0]), *command[1:]],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_entry_point_imports_without_the_local_extra(
    production_venv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "probe.json"
    done = _run(
        production_venv,
        ["python", "-c", PROBE, str(out), ",".join(LOCAL_ONLY), ",".join(ENTRY_POINTS)],
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = ProbeReport.model_validate_json(out.read_text())

    assert report.installed == []
    assert report.failed == {}, "\n".join(report.failed.values())
    for name, file in report.files.items():
        assert Path(file).is_relative_to(production_venv), f"{name} imported from {file}"
    # The CLI's local-stack commands import stack when they run, never at import.
    assert report.stack == {}


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_answers_help_without_the_local_extra(
    production_venv: Path, tmp_path: Path, command: tuple[str, ...]
) -> None:
    done = _run(production_venv, command, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "usage" in done.stdout.lower()
