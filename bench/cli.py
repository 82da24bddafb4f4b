"""Benchmark: how fast the `fleet` command answers, against a baseline commit's, in one run.

The baseline is the CLI before its imports were made lazy.

    .venv/bin/python bench/cli.py [--runs 10] [--baseline 2d664f3]

Each of `fleet --help`, `fleet status`, `fleet camera list --json`, `fleet camera show ID --json`
and `fleet camera events ID --json` runs `--runs` times per version, the two versions taking turns,
against a running local stack with 3 registered cameras: median and max wall time, peak RSS of the
command's process, and the ratio of the medians. Then the agent's memory: `fleet agent run` and
`python -m device`, both given a broken config so that they exit right after importing the agent.

The baseline is checked out into a temporary `git worktree` and run as `python -m cli` from there,
with the same venv. Each version talks to a stack it started itself (`fleet up`), with 3 cameras it
registered itself (`fleet camera register --many`, the register-cameras flow): a stack's supervisor
knows its parts by their command lines, and the AWS endpoint's module differs between the two
(`cloud.local` at the baseline, `stack.endpoint` here), so neither version would take the other's endpoint
for a running part. Both stacks run for the whole measurement, on free ports in temporary homes,
and are stopped and wiped at the end.

Peak RSS is the command's own (`wait4`), measured from this process, which imports nothing of the
product and stays small: a child's peak also counts what it shared with its parent before `exec`.
Bytecode is cached for every command (in a temporary PYTHONPYCACHEPREFIX, warmed by one run of
each command first), as it is on a user's machine after the first run; `--cold` writes none, so
every run compiles what it imports, as on a host that writes no bytecode. Prints a markdown table
and writes bench/results/cli.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
PYTHON = str(Path(sys.prefix) / "bin" / "python")
BASELINE = "2d664f3"
CAMERAS = ("bench-cam-0", "bench-cam-1", "bench-cam-2")
SHOWN = CAMERAS[0]
COMMANDS: dict[str, tuple[str, ...]] = {
    "fleet --help": ("--help",),
    "fleet status": ("status",),
    "fleet camera list --json": ("camera", "list", "--json"),
    "fleet camera show ID --json": ("camera", "show", SHOWN, "--json"),
    "fleet camera events ID --json": ("camera", "events", SHOWN, "--json"),
}
# What each command's median should meet: seconds, and times faster than the baseline.
TARGETS = {"fleet --help": 0.5} | {name: 1.5 for name in COMMANDS if name != "fleet --help"}
RATIO_TARGET = 5.0
AGENT_MB_TARGET = 10.0
# The stacks' scheduled fleet-status run would read every camera now and then, under the timing.
STATUS_INTERVAL_S = 3600


@dataclass(frozen=True)
class Version:
    """One version of the CLI: where it runs from and the stack it talks to."""

    name: str
    cwd: Path
    env: dict[str, str]

    def argv(self, *args: str) -> list[str]:
        return [PYTHON, "-m", "cli", *args]


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_mb: float


def run_once(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], scratch: Path, expect: int = 0
) -> Sample:
    """Run a command to its end: its wall time and its own peak RSS (wait4's rusage is the
    child's alone). Another exit code than `expect` stops the benchmark with its stderr."""
    out, err = scratch / "stdout", scratch / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != expect:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{err.read_text()}")
    return Sample(seconds=elapsed, peak_mb=usage.ru_maxrss / 1024)


def summary(samples: Sequence[Sample]) -> dict[str, float]:
    seconds = [s.seconds for s in samples]
    return {
        "median_s": round(statistics.median(seconds), 3),
        "max_s": round(max(seconds), 3),
        "peak_mb": round(max(s.peak_mb for s in samples), 1),
        "median_mb": round(statistics.median(s.peak_mb for s in samples), 1),
    }


def base_env(pycache: Path, *, cold: bool) -> dict[str, str]:
    """The caller's environment, with no Prefect or fleet settings of its own: each version gets
    its stack's FLEET_* variables and finds its Prefect server itself. Bytecode is cached in
    `pycache`, or with `cold` never written there, so every command compiles what it imports."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "FLEET_")) and key != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    if cold:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def free_ports(count: int) -> list[int]:
    """Loopback ports free right now (tests.support.ports would import the product here)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def stack_env(home: Path) -> dict[str, str]:
    """A stack of its own for a version: its home, free ports, no scheduled fleet-status run."""
    aws, mqtt, prefect = free_ports(3)
    return {
        "FLEET_HOME": str(home),
        "FLEET_AWS_PORT": str(aws),
        "FLEET_MQTT_PORT": str(mqtt),
        "FLEET_PREFECT_PORT": str(prefect),
        "FLEET_STATUS_INTERVAL_SECONDS": str(STATUS_INTERVAL_S),
    }


@contextmanager
def worktree(commit: str, path: Path) -> Iterator[Path]:
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), commit],
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)],
            check=False,
            capture_output=True,
        )


@contextmanager
def running_stack(version: Version, listing: Path) -> Iterator[Version]:
    """The version's stack, started by its own `fleet up`, with the cameras registered by its own
    `fleet camera register --many`; stopped and wiped on the way out."""
    try:
        fleet(version, "up")
        fleet(version, "camera", "register", "--many", str(listing))
        yield version
    finally:
        fleet(version, "down", "--wipe", check=False)


def fleet(version: Version, *args: str, check: bool = True) -> None:
    done = subprocess.run(
        version.argv(*args),
        cwd=version.cwd,
        env=version.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{version.name}: `fleet {' '.join(args)}` failed:\n{done.stderr}")


def check_outputs(version: Version, scratch: Path) -> None:
    """Both versions see the 3 cameras (a benchmark of an error message measures nothing)."""
    run_once(version.argv(*COMMANDS["fleet camera list --json"]), version.cwd, version.env, scratch)
    listed = json.loads((scratch / "stdout").read_text())
    assert sorted(c["camera_id"] for c in listed) == sorted(CAMERAS), listed


def measure_commands(
    versions: Sequence[Version], runs: int, scratch: Path
) -> dict[str, dict[str, list[Sample]]]:
    """Every command `runs` times per version, the versions taking turns (in alternating order,
    so that a change in the machine's load falls on both)."""
    samples: dict[str, dict[str, list[Sample]]] = {
        name: {v.name: [] for v in versions} for name in COMMANDS
    }
    for name, args in COMMANDS.items():
        for version in versions:  # warm the bytecode cache and the stack's first answers
            run_once(version.argv(*args), version.cwd, version.env, scratch)
        for i in range(runs):
            for version in versions if i % 2 == 0 else reversed(versions):
                sample = run_once(version.argv(*args), version.cwd, version.env, scratch)
                samples[name][version.name].append(sample)
    return samples


def measure_agent(
    versions: Sequence[Version], runs: int, scratch: Path, env: dict[str, str]
) -> dict[str, list[Sample]]:
    """Peak RSS of the agent's entry points given a broken config: each imports the agent, reads
    the config, and exits 2."""
    config = scratch / "broken-agent.toml"
    config.write_text("not = [valid toml\n")
    commands = {
        "python -m device": ([PYTHON, "-m", "device", "--config", str(config)], REPO),
        **{
            f"fleet agent run ({v.name})": (v.argv("agent", "run", "--config", str(config)), v.cwd)
            for v in versions
        },
    }
    samples: dict[str, list[Sample]] = {name: [] for name in commands}
    for _ in range(runs + 1):  # the first run of each warms the bytecode cache
        for name, (argv, cwd) in commands.items():
            samples[name].append(run_once(argv, cwd, env, scratch, expect=2))
    return {name: found[1:] for name, found in samples.items()}


def report(
    commands: dict[str, dict[str, list[Sample]]],
    agent: dict[str, list[Sample]],
    versions: Sequence[Version],
    commit: str,
    runs: int,
) -> dict[str, Any]:
    baseline, current = (v.name for v in versions)
    rows = []
    for name, by_version in commands.items():
        base, new = summary(by_version[baseline]), summary(by_version[current])
        rows.append(
            {
                "command": name,
                "baseline": base,
                "current": new,
                "ratio": round(base["median_s"] / new["median_s"], 1),
                "target_s": TARGETS[name],
                "target_met": new["median_s"] <= TARGETS[name]
                and base["median_s"] >= RATIO_TARGET * new["median_s"],
            }
        )
    agents = {name: summary(found) for name, found in agent.items()}
    device_mb = agents["python -m device"]["median_mb"]
    agent_mb = agents[f"fleet agent run ({current})"]["median_mb"]
    return {
        "runs": runs,
        "baseline": commit,
        "commands": rows,
        "agent": agents,
        "agent_over_device_mb": round(agent_mb - device_mb, 1),
        "agent_target_met": agent_mb - device_mb <= AGENT_MB_TARGET,
        "samples": {
            name: {v: [asdict(s) for s in found] for v, found in by_version.items()}
            for name, by_version in commands.items()
        },
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"`fleet` against a local stack with 3 cameras, {result['runs']} runs each "
        f"(baseline {result['baseline']})",
        "",
        "| command | baseline median / max | now median / max | ratio | peak RSS baseline / now "
        "| target |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in result["commands"]:
        base, new = row["baseline"], row["current"]
        met = "met" if row["target_met"] else "missed"
        lines.append(
            f"| `{row['command']}` | {base['median_s']:.2f} / {base['max_s']:.2f} s | "
            f"{new['median_s']:.2f} / {new['max_s']:.2f} s | {row['ratio']}x | "
            f"{base['peak_mb']:.0f} / {new['peak_mb']:.0f} MB | "
            f"< {row['target_s']} s, >= {RATIO_TARGET:g}x: {met} |"
        )
    lines += ["", "| agent entry point (broken config: import, then exit) | peak RSS (median) |"]
    lines.append("| --- | --- |")
    for name, found in result["agent"].items():
        lines.append(f"| `{name}` | {found['median_mb']:.1f} MB |")
    met = "met" if result["agent_target_met"] else "missed"
    lines.append(
        f"\n`fleet agent run` uses {result['agent_over_device_mb']:+.1f} MB against "
        f"`python -m device` (target within {AGENT_MB_TARGET:g} MB: {met})"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--baseline", default=BASELINE, help="the commit to compare against")
    parser.add_argument(
        "--cold", action="store_true", help="no bytecode cache: every run compiles its imports"
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    env = base_env(root / "pycache", cold=args.cold)
    env["PREFECT_HOME"] = str(root / "prefect-home")  # what importing Prefect may write
    listing = root / "cameras.txt"
    listing.write_text("\n".join(CAMERAS) + "\n")
    scratch = root / "scratch"
    scratch.mkdir()
    try:
        with ExitStack() as stacks:
            tree = stacks.enter_context(worktree(args.baseline, root / "baseline"))
            # PYTHONPATH puts each tree first for the stack's parts too (they run from the
            # stack's directory).
            versions = [
                Version(
                    f"baseline {args.baseline}",
                    tree,
                    {**env, **stack_env(root / "baseline-home"), "PYTHONPATH": str(tree)},
                ),
                Version(
                    "current", REPO, {**env, **stack_env(root / "home"), "PYTHONPATH": str(REPO)}
                ),
            ]
            for version in versions:
                stacks.enter_context(running_stack(version, listing))
                check_outputs(version, scratch)
            commands = measure_commands(versions, args.runs, scratch)
            agent = measure_agent(versions, args.runs, scratch, env)
        result = report(commands, agent, versions, args.baseline, args.runs)
        result["bytecode"] = "none (cold)" if args.cold else "cached"
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"bytecode: {result['bytecode']}")
    print(table(result))
    RESULTS.mkdir(exist_ok=True)
    name = "cli-cold.json" if args.cold else "cli.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
