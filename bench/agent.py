"""Benchmark: the device agent on the local stack, against a bare hand-wired pipeline.

    .venv/bin/python bench/agent.py [--seconds 60]

One registered camera on a fresh local stack, a 640x480 test pattern. In one run: the bare
`gst-launch-1.0` pipeline's CPU; the agent's own RSS and CPU, its child's CPU and its time to
`online`; recovery after the child is SIGKILLed; reconnection after a broker restart. Prints a
table and writes bench/results/agent.json. What it measures and the latest figures:
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from bench.local_aws import local_settings
from cloud.settings import FleetSettings
from stack.supervisor.layout import PartName, StackLayout
from stack.supervisor.local_stack import down, fleet_env, prefect_env, up
from tests.support.mqtt_observer import MqttObserver

RESULTS = Path(__file__).parent / "results"
CAMERA = "bench-cam"
# A hand-wired pipeline, with a local Matroska store in place of kvssink.
SEED_PIPELINE = (
    "videotestsrc is-live=true pattern=smpte100 ! video/x-raw,width=640,height=480,framerate=15/1 "
    "! videoconvert ! video/x-raw,format=I420 ! x264enc bframes=0 key-int-max=30 bitrate=1000 "
    "tune=zerolatency speed-preset=veryfast ! h264parse "
    "! video/x-h264,stream-format=avc,alignment=au,profile=baseline "
    "! splitmuxsink muxer-factory=matroskamux max-size-time=2000000000 location={dir}/%05d.mkv"
)
_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def baseline(seconds: float, workdir: Path) -> dict[str, float]:
    out = workdir / "baseline"
    out.mkdir()
    proc = subprocess.Popen(
        ["gst-launch-1.0", "-e", *SEED_PIPELINE.format(dir=out).split()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    gst = psutil.Process(proc.pid)
    time.sleep(2)  # past start-up, as for the agent
    before = cpu_seconds(gst)
    time.sleep(seconds)
    used = cpu_seconds(gst) - before
    rss = gst.memory_info().rss / 2**20
    proc.send_signal(signal.SIGINT)
    proc.wait(15)
    return {"gst_cpu_percent": round(100 * used / seconds, 2), "gst_rss_mb": round(rss, 1)}


def register(settings: FleetSettings) -> Path:
    env = {**os.environ, **prefect_env(settings), **fleet_env(settings)}
    subprocess.run(
        [sys.executable, "-m", "cli", "camera", "register", CAMERA],
        env=env,
        check=True,
        capture_output=True,
    )
    return settings.bundles_dir / CAMERA / "agent.toml"


def log_time(line: str) -> float:
    match = _LOG_TIME.match(line)
    assert match, line
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def _first_accept(mqtt: Any, found: dict[str, float]) -> None:
    """The wall time the restarted broker first accepts a connection (polled every 10 ms)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection((mqtt.host, mqtt.port), timeout=0.2).close()
        except OSError:
            time.sleep(0.01)
            continue
        found["at"] = time.time()
        return


def idle(agent: psutil.Process, child: psutil.Process, seconds: float) -> dict[str, float]:
    """Resident memory (peak of 1 s samples) and CPU of the agent alone, and of its child."""
    agent_before, child_before = cpu_seconds(agent), cpu_seconds(child)
    rss_peak = uss_peak = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        memory = agent.memory_full_info()
        rss_peak = max(rss_peak, memory.rss / 2**20)
        uss_peak = max(uss_peak, memory.uss / 2**20)  # its own pages, shared libraries aside
        time.sleep(1)
    return {
        "agent_rss_mb": round(rss_peak, 1),
        "agent_uss_mb": round(uss_peak, 1),
        "agent_cpu_percent": round(100 * (cpu_seconds(agent) - agent_before) / seconds, 2),
        "child_cpu_percent": round(100 * (cpu_seconds(child) - child_before) / seconds, 2),
    }


def recovery(observer: MqttObserver, child: psutil.Process) -> float:
    killed = time.monotonic()
    child.kill()
    health = f"fleet/{CAMERA}/health"
    observer.wait_for(health, lambda m: m["pipeline"] == "restarting", 10, killed)
    running = observer.wait_for(health, lambda m: m["pipeline"] == "running", 30, killed)
    return running.at - killed


def reconnect(settings: FleetSettings, status: Any, log_path: Path) -> float:
    """From the restarted broker's first accepted connection to the agent's `connected` line."""
    layout = StackLayout(settings.stack_dir)
    broker = psutil.Process(int(layout.pid_file(PartName.MOSQUITTO).read_text()))
    broker.kill()
    broker.wait(10)
    time.sleep(2)
    back: dict[str, float] = {}
    watcher = threading.Thread(target=_first_accept, args=(status.mqtt, back), daemon=True)
    watcher.start()
    up(settings)
    watcher.join(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log_path.read_text().splitlines():
            if "device.mqtt: connected" in line and log_time(line) >= back["at"]:
                return log_time(line) - back["at"]
        time.sleep(0.2)
    raise AssertionError(log_path.read_text())


def agent_run(
    settings: FleetSettings, status: Any, config: Path, seconds: float, workdir: Path
) -> dict[str, float]:
    observer = MqttObserver(
        settings,
        StackLayout(settings.stack_dir).ca_cert,
        workdir / "observer",
        status.mqtt.host,
        status.mqtt.port,
    ).start()
    log_path = workdir / "agent.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "device", "--config", str(config)],
            env={**os.environ, "FLEET_AGENT_PIPELINE__RESTART_MIN_SECONDS": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        online = observer.wait_for(
            f"fleet/{CAMERA}/status", lambda m: m["presence"] == "online", 30, started
        )
        observer.wait_for(
            f"fleet/{CAMERA}/health", lambda m: m["pipeline"] == "running", 30, started
        )
        agent = psutil.Process(proc.pid)
        child = agent.children()[0]
        time.sleep(3)
        return {
            "time_to_online_s": round(online.at - started, 2),
            **idle(agent, child, seconds),
            "pipeline_recovery_s": round(recovery(observer, child), 2),
            "reconnect_after_broker_back_s": round(reconnect(settings, status, log_path), 2),
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        observer.stop()


def run(seconds: float) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    settings = local_settings(workdir / "home")
    status = up(settings)
    try:
        config = register(settings)
        base = baseline(seconds, workdir)
        agent = agent_run(settings, status, config, seconds, workdir)
    finally:
        down(settings, wipe=True)
    total = agent["agent_cpu_percent"] + agent["child_cpu_percent"]
    return {
        "seconds": seconds,
        **base,
        **agent,
        "agent_plus_child_over_baseline": round(total / base["gst_cpu_percent"], 2),
    }


def table(r: dict[str, Any]) -> str:
    rows = [
        ("agent RSS (own process)", f"{r['agent_rss_mb']} MB", "< 40 MB"),
        ("agent USS (not shared with others)", f"{r['agent_uss_mb']} MB", ""),
        ("agent CPU, idle (own process)", f"{r['agent_cpu_percent']} %", "< 1 %"),
        ("pipeline child CPU", f"{r['child_cpu_percent']} %", ""),
        ("baseline: bare gst-launch CPU", f"{r['gst_cpu_percent']} %", ""),
        ("(agent + child) / baseline", f"{r['agent_plus_child_over_baseline']}x", ""),
        ("start to online", f"{r['time_to_online_s']} s", ""),
        ("pipeline recovery after SIGKILL", f"{r['pipeline_recovery_s']} s", "< 3 s"),
        ("reconnect after broker is back", f"{r['reconnect_after_broker_back_s']} s", "< 2 s"),
    ]
    lines = ["| measure | value | target |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    result = run(args.seconds)
    print(f"agent on the local stack, 640x480 test pattern, {args.seconds:g} s per measurement")
    print(table(result))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "agent.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
