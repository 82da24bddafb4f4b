"""What a `fleet` command loads: the command line itself and the commands that need neither
Prefect nor the local stack load neither (each case runs `fleet` in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
# Never loaded by a command that runs no flow and does not start the stack.
HEAVY = ("prefect", "moto", "cv2", "skimage", "werkzeug", "stack")
# Runs `fleet ARGS...` in this interpreter, then writes its exit code and loaded modules as JSON.
RUN = """
import json, sys
out, args = sys.argv[1], sys.argv[2:]
sys.argv = ["fleet", *args]
code = None
if args != ["--no-run"]:
    from cli.main import app
    try:
        app(prog_name="fleet")
    except SystemExit as done:
        code = done.code
else:
    import cli.main
with open(out, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def _fleet(tmp_path: Path, *args: str) -> tuple[int | None, set[str]]:
    """Run `fleet ARGS` against a home with no stack in it and with no AWS credentials to find:
    (exit code, modules loaded)."""
    out = tmp_path / "modules.json"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "PREFECT_", "FLEET_"))
    }
    env |= {
        "FLEET_HOME": str(tmp_path / "home"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(out), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.exists(), done.stderr
    result = json.loads(out.read_text())
    return result["code"], set(result["modules"])


def _loaded(modules: set[str], packages: tuple[str, ...]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in packages}


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("--no-run",), id="import cli.main"),
        pytest.param(("--help",), id="fleet --help"),
        pytest.param(("camera", "list", "--help"), id="fleet camera list --help"),
    ],
)
def test_the_command_line_loads_nothing_heavy(tmp_path: Path, args: tuple[str, ...]) -> None:
    code, modules = _fleet(tmp_path, *args)

    assert code in (None, 0)
    assert _loaded(modules, HEAVY) == set()
    # Nor the AWS SDK, the settings model or rich: help is printed without them.
    assert _loaded(modules, ("boto3", "botocore", "pydantic_settings", "rich")) == set()
    assert _loaded(modules, ("cloud", "flows", "services", "device")) == set()


def test_a_read_command_loads_no_prefect_and_no_local_stack(tmp_path: Path) -> None:
    """`camera list` against a local stack that is not running: it asks the stack's supervisor
    whether the stack is up (and refuses), and loads neither Prefect nor the emulator."""
    code, modules = _fleet(tmp_path, "camera", "list", "--json")

    assert code == 8  # UnavailableError: the local stack is not running
    assert _loaded(modules, ("prefect", "moto", "cv2", "skimage", "werkzeug")) == set()
    assert "stack.supervisor.local_stack" in modules
    assert {m for m in _loaded(modules, ("stack",)) if not m.startswith("stack.supervisor")} == {
        "stack"
    }


def test_a_command_against_aws_never_loads_the_local_stack(tmp_path: Path) -> None:
    code, modules = _fleet(tmp_path, "--aws", "camera", "list", "--json")

    assert code == 8  # no AWS credentials: refused before any call
    assert _loaded(modules, HEAVY) == set()


def test_the_stack_status_loads_no_prefect_no_aws_sdk_and_no_emulator(tmp_path: Path) -> None:
    code, modules = _fleet(tmp_path, "status", "--json")

    assert code == 0
    assert _loaded(modules, ("prefect", "moto", "cv2", "skimage", "werkzeug")) == set()
    # botocore's exception classes come with the project's errors; its sessions and clients not.
    assert _loaded(modules, ("boto3",)) == set()
    assert "botocore.session" not in modules
    assert "stack.endpoint" not in modules


def test_the_agent_command_loads_the_agent_and_nothing_else_of_the_product(
    tmp_path: Path,
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("not = [valid toml\n")

    code, modules = _fleet(tmp_path, "agent", "run", "--config", str(config))

    assert code == 2  # the agent's own answer to a broken config
    assert "device.agent" in modules
    assert _loaded(modules, ("cloud", "flows", "services", "stack")) == set()
    assert _loaded(modules, ("boto3", "botocore", "prefect", "rich", "pydantic_settings")) == set()


def test_shell_completion_is_typers_own(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "_FLEET_COMPLETE": "complete_bash",
        "COMP_WORDS": "fleet camera ov",
        "COMP_CWORD": "2",
    }
    done = subprocess.run(
        [sys.executable, "-m", "cli"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["overview"]
