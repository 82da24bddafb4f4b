"""The import contracts of pyproject.toml: kept by the tree, broken by one forbidden import.

Each broken case copies the shipped packages and pyproject.toml to a temporary directory, adds
one import that a contract forbids, and runs `lint-imports` there.
"""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("cloud", "flows", "services", "device", "cli", "stack")
# The device modules that make its contract: the MQTT messages and the agent's configuration.
DEVICE_CONTRACT = frozenset({"device.messages", "device.config"})


def _contracts() -> dict[str, dict[str, Any]]:
    settings = tomllib.loads((REPO / "pyproject.toml").read_text())
    contracts: list[dict[str, Any]] = settings["tool"]["importlinter"]["contracts"]
    return {contract["id"]: contract for contract in contracts}


@dataclass(frozen=True)
class Report:
    returncode: int
    output: str

    def status(self, contract_id: str) -> str:
        """KEPT or BROKEN, as the report's summary line for that contract says."""
        name = _contracts()[contract_id]["name"]
        for line in self.output.splitlines():
            if line.startswith(f"{name} "):
                return line.removeprefix(f"{name} ").split()[0]
        raise AssertionError(f"no summary line for {name!r} in:\n{self.output}")

    def broken(self) -> set[str]:
        return {cid for cid in _contracts() if self.status(cid) == "BROKEN"}


def _lint_imports(cwd: Path) -> Report:
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Report(done.returncode, done.stdout + done.stderr)


@cache
def _tree_report() -> Report:
    return _lint_imports(REPO)


def test_the_tree_keeps_every_contract() -> None:
    report = _tree_report()
    assert report.broken() == set(), report.output
    assert report.returncode == 0, report.output


def test_cloud_contract_forbids_every_device_module_but_the_contract() -> None:
    device = {f"device.{info.name}" for info in pkgutil.iter_modules([str(REPO / "device")])}
    forbidden = set(_contracts()["cloud-device-contract"]["forbidden_modules"])
    assert device >= DEVICE_CONTRACT
    assert forbidden == device - DEVICE_CONTRACT


# (module, the import added to it, the edge the report names, the contracts it breaks)
BROKEN_CASES = [
    (
        "flows/runtime.py",
        "import stack.supervisor.layout",
        "flows.runtime -> stack.supervisor.layout",
        # The CLI reaches stack through flows too.
        {"production-without-stack", "cli-stack-commands"},
    ),
    (
        "cli/camera.py",
        "import stack.supervisor.layout",
        "cli.camera -> stack.supervisor.layout",
        {"cli-stack-commands"},
    ),
    (
        "cloud/errors.py",
        "import flows.runtime",
        "cloud.errors -> flows.runtime",
        {"layers"},
    ),
    (
        "device/messages.py",
        "import boto3",
        "device.messages -> boto3",
        {"device-standalone"},
    ),
    (
        "cloud/shadow.py",
        "import device.agent",
        "cloud.shadow -> device.agent",
        {"cloud-device-contract"},
    ),
    (
        "services/bridge/service.py",
        "import cv2",
        "services.bridge.service -> cv2",
        {"production-without-local-extra"},
    ),
    (
        "stack/supervisor/layout.py",
        "import tests.support.ports",
        "stack.supervisor.layout -> tests",
        {"shipped-without-tests"},
    ),
]


@pytest.mark.parametrize(
    ("module", "added_import", "edge", "contract_ids"),
    BROKEN_CASES,
    ids=[case[2] for case in BROKEN_CASES],
)
def test_one_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, added_import: str, edge: str, contract_ids: set[str]
) -> None:
    for package in PACKAGES:
        shutil.copytree(
            REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / module).open("a") as source:
        source.write(f"\n{added_import}\n")

    report = _lint_imports(tmp_path)

    assert report.returncode != 0, report.output
    assert report.broken() == _tree_report().broken() | contract_ids, report.output
    assert edge in report.output
