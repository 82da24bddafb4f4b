"""The cloud side's systemd units (infra/systemd): they load cleanly, they are hardened to a stated
exposure, and they run the repository's own entry points without a secret on a command line.

`systemd-analyze verify` checks that every executable exists, so each unit is verified inside a
temporary root (`--root`) holding the host's own units, the camera-fleet units and a stub
executable for each of their commands.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT_DIR = REPO / "infra" / "systemd"
HOST_UNITS = Path("/usr/lib/systemd/system")
# What `systemd-analyze security` reports for each service at most (0 is the best, 10 the worst;
# docs/deployment.md gives the figures measured).
EXPOSURE_THRESHOLD = 2.0
TARGET = "camera-fleet.target"
# Each service unit, as systemctl names it (the bridge template by an instance), and its part of
# /etc/camera-fleet: its environment file and its credentials' folder.
SERVICES = {
    "camera-fleet-bridge@a.service": "bridge",
    "camera-fleet-results.service": "results",
    "camera-fleet-analyzer.service": "analyzer",
    "camera-fleet-flows.service": "flows",
}
# The services that take options (flows.serve takes none, and writes no heartbeat).
OPTIONED_SERVICES = [u for u in SERVICES if "flows" not in u]
_SECRET_LIKE = re.compile(
    r"AKIA[0-9A-Z]{16}|aws_secret_access_key|aws_session_token|secret|passw|token|://[^/\s]*@",
    re.IGNORECASE,
)


def systemd_analyze() -> str:
    """The tool, which `make install` installs (Debian package systemd)."""
    found = shutil.which("systemd-analyze")
    assert found is not None and HOST_UNITS.is_dir(), (
        "systemd-analyze and the host's units are needed: run `make install` (Debian package systemd)"
    )
    return found


@dataclass(frozen=True)
class Unit:
    """A unit file's settings in order, as (section, key, value); keys may repeat."""

    name: str
    settings: tuple[tuple[str, str, str], ...]

    @classmethod
    def read(cls, name: str) -> Unit:
        path = UNIT_DIR / (re.sub(r"@[^.]+\.", "@.", name))
        section, settings = "", []
        for line in (raw.strip() for raw in path.read_text().splitlines()):
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            settings.append((section, key.strip(), value.strip()))
        return cls(name, tuple(settings))

    def values(self, key: str) -> list[str]:
        return [v for _, k, v in self.settings if k == key]

    def value(self, key: str) -> str:
        (found,) = self.values(key)
        return found

    def command_lines(self) -> list[list[str]]:
        return [v.split() for _, k, v in self.settings if k.startswith("Exec")]

    def environment(self) -> dict[str, str]:
        pairs = (v.partition("=") for v in self.values("Environment"))
        return {k: v for k, _, v in pairs}


def _unit_files() -> list[Path]:
    return sorted(UNIT_DIR.glob("camera-fleet*"))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root where systemd finds the host's units, ours, and every command they run."""
    root = tmp_path_factory.mktemp("systemd-root")
    shutil.copytree(HOST_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    system = root / "etc/systemd/system"
    system.mkdir(parents=True)
    for path in _unit_files():
        shutil.copy(path, system / path.name)
    for name in [*SERVICES, TARGET]:
        for argv in Unit.read(name).command_lines() if name != TARGET else []:
            stub = root / argv[0].lstrip("-+!@:").lstrip("/")
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("#!/bin/sh\nexit 0\n")
            stub.chmod(0o755)
    return root


def _analyze(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [systemd_analyze(), *args, f"--root={root}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("unit", [*SERVICES, TARGET])
def test_each_unit_verifies_without_a_word(root: Path, unit: str) -> None:
    result = _analyze(root, "verify", unit)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_verify_reports_what_systemd_would_ignore(root: Path) -> None:
    """The check above can fail: a misspelt setting is reported, though systemd starts the unit."""
    system = root / "etc/systemd/system"
    broken = system / "camera-fleet-misspelt.service"
    text = (system / "camera-fleet-results.service").read_text()
    broken.write_text(text.replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"))
    try:
        result = _analyze(root, "verify", broken.name)
    finally:
        broken.unlink()
    assert "Unknown key 'NoNewPrivilege'" in result.stderr


@pytest.mark.parametrize("unit", SERVICES)
def test_each_service_is_exposed_at_most_to_the_threshold(root: Path, unit: str) -> None:
    result = _analyze(root, "security", "--offline=yes", unit)
    assert result.returncode == 0, result.stderr
    found = re.search(rf"Overall exposure level for {re.escape(unit)}: (\d+\.\d)", result.stdout)
    assert found is not None, result.stdout[-500:]
    assert float(found.group(1)) <= EXPOSURE_THRESHOLD


def _python_module(unit: Unit) -> tuple[str, list[str]]:
    """The module ExecStart runs with the venv's interpreter, and its arguments."""
    argv = unit.value("ExecStart").split()
    assert argv[:2] == ["/opt/camera-fleet/venv/bin/python", "-m"], argv
    return argv[2], argv[3:]


@pytest.mark.parametrize("unit", SERVICES)
def test_each_service_runs_a_module_of_the_repository(unit: str) -> None:
    module, _ = _python_module(Unit.read(unit))
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    assert Path(spec.origin).is_relative_to(REPO), spec.origin
    if spec.submodule_search_locations is not None:  # `python -m package` runs its __main__
        assert importlib.util.find_spec(f"{module}.__main__") is not None


@pytest.mark.parametrize("unit", OPTIONED_SERVICES)
def test_each_option_on_a_command_line_is_one_the_module_takes(unit: str) -> None:
    module, args = _python_module(Unit.read(unit))
    assert any(a.startswith("--") for a in args)
    usage = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for option in (a for a in args if a.startswith("--")):
        assert option in usage, (module, option)


def test_the_served_flows_run_without_arguments() -> None:
    """flows.serve reads no arguments: it would start serving on `--help`."""
    assert _python_module(Unit.read("camera-fleet-flows.service")) == ("flows.serve", [])


@pytest.mark.parametrize("unit", OPTIONED_SERVICES)
def test_the_heartbeat_is_in_the_units_runtime_directory(unit: str) -> None:
    parsed = Unit.read(unit)
    _, args = _python_module(parsed)
    heartbeat = args[args.index("--heartbeat-file") + 1]
    runtime = parsed.value("RuntimeDirectory").split()[0]
    assert heartbeat == f"%t/{runtime}/heartbeat.json"


@pytest.mark.parametrize(("unit", "part"), SERVICES.items())
def test_credentials_come_only_from_the_services_own_files(unit: str, part: str) -> None:
    parsed = Unit.read(unit)
    assert parsed.value("EnvironmentFile") == f"/etc/camera-fleet/{part}.env"
    sources = [v.partition(":")[2] for v in parsed.values("LoadCredential")]
    assert sources and all(s.startswith(f"/etc/camera-fleet/{part}/") for s in sources)
    environment = parsed.environment()
    assert environment["AWS_CONFIG_FILE"] == "%d/aws-config"
    assert environment["AWS_SHARED_CREDENTIALS_FILE"] == "%d/aws-credentials"
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & environment.keys()


@pytest.mark.parametrize("unit", SERVICES)
def test_no_command_line_or_environment_line_holds_a_secret(unit: str) -> None:
    parsed = Unit.read(unit)
    for line in [*(" ".join(a) for a in parsed.command_lines()), *parsed.values("Environment")]:
        assert not _SECRET_LIKE.search(line), line


def test_the_secret_check_catches_the_usual_shapes() -> None:
    for line in [
        "--key AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY=abc",
        "FLEET_WEBHOOK_URL=https://user:pw@hooks.example.com/x",
        "--token abc",
    ]:
        assert _SECRET_LIKE.search(line), line


# Restart and hardening every service unit states, beyond what the exposure figure sums up.
_REQUIRED = {
    "Type": "exec",
    "Restart": "on-failure",
    "RestartSec": "5",
    "StartLimitIntervalSec": "300",
    "StartLimitBurst": "5",
    "DynamicUser": "yes",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "CapabilityBoundingSet": "",
    "UMask": "0077",
    "PartOf": TARGET,
    "WantedBy": TARGET,
}


@pytest.mark.parametrize("unit", SERVICES)
def test_each_service_restarts_on_failure_and_is_hardened(unit: str) -> None:
    parsed = Unit.read(unit)
    assert {k: parsed.value(k) for k in _REQUIRED} == _REQUIRED
    assert parsed.values("SystemCallFilter")[0] == "@system-service"
    assert parsed.value("StateDirectory").startswith("camera-fleet-")


def test_every_unit_in_the_folder_is_checked() -> None:
    checked = {re.sub(r"@[^.]+\.", "@.", u) for u in [*SERVICES, TARGET]}
    assert {p.name for p in _unit_files()} - {"camera-fleet-agent.service"} == checked
