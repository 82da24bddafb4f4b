"""A fleet of simulated cameras: each one a registered identity with its own MQTT connection over
mutual TLS (`bench.mqtt_lite`, client id = thing name), publishing what the agent publishes at
the agent's rates, without a video pipeline:

- `fleet/<id>/status`: a retained `online` on connecting, the Last Will a retained `offline`;
- `fleet/<id>/health`: every 30 s (the agent's default), the first at a random point of the first
  period, each later one jittered by up to ±10 %;
- `fleet/<id>/motion`: a quiet baseline (Poisson over the fleet, `motion_per_hour` a camera) and
  storms (a fraction of the fleet at once, each member starting a motion within a second, then a
  new motion after each `gap` of quiet: the agent's motion ends after 5 s without change);
  sequence numbers per camera from 0, as a fresh agent's.

Every publish is recorded (camera, kind, sequence, sent and acknowledged wall times), for the
caller's accounting. Many cameras share one asyncio loop; `python -m bench.fleet_sim` runs a
shard of the fleet as a child process, driven over stdin (see `main`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.mqtt_lite import LiteClient, MqttError, Will, tls_context
from device.config import load_agent_config
from device.messages import (
    HealthEvent,
    MotionEvent,
    PipelineState,
    Presence,
    StatusEvent,
    TopicKind,
    encode,
    now_ms,
    topic,
)

HEALTH_INTERVAL_S = 30.0
HEALTH_JITTER = 0.10
MOTION_GAP_S = 5.0  # the agent's `motion.gap_seconds` default
AGENT_CONFIG = "agent.toml"
CONNECT_CONCURRENCY = 64  # TLS handshakes under way at once


@dataclass
class Publish:
    """One publish and its outcome: `acked_ms` None when the broker never acknowledged it."""

    camera: str
    kind: str
    seq: int | None
    phase: str
    sent_ms: int
    acked_ms: int | None = None
    error: str | None = None
    presence: str | None = None


# Pure planning: who moves when.


def storm_members(ids: Sequence[str], fraction: float, rng: random.Random) -> list[str]:
    """`fraction` of the fleet (at least one camera), chosen at random."""
    count = max(1, round(len(ids) * fraction))
    return rng.sample(list(ids), min(count, len(ids)))


def health_delay(rng: random.Random, interval_s: float = HEALTH_INTERVAL_S) -> float:
    return interval_s * (1 + rng.uniform(-HEALTH_JITTER, HEALTH_JITTER))


def motion_restarts(rng: random.Random, seconds: float, gap_s: float = MOTION_GAP_S) -> list[float]:
    """When one storm member starts a motion, in seconds from the storm's start: within the first
    second, then each after a motion of 1 to 5 s and a quiet gap of `gap_s`."""
    at, out = rng.uniform(0, 1), []
    while at < seconds:
        out.append(at)
        at += rng.uniform(1, 5) + gap_s
    return out


# One camera.


class SimCamera:
    def __init__(self, bundle: Path, rng: random.Random):
        config = load_agent_config(bundle / AGENT_CONFIG, environ={})
        self.camera_id = config.camera_id
        self.mqtt = config.mqtt
        self._rng = rng
        self.topics = {kind: topic(self.camera_id, kind) for kind in TopicKind}
        self.sequence = 0
        self.motion_count = 0
        self.started = time.monotonic()
        self.client: LiteClient | None = None

    def status(self, presence: Presence, reason: str | None = None) -> bytes:
        return encode(
            StatusEvent(
                camera_id=self.camera_id, sent_at_ms=now_ms(), presence=presence, reason=reason
            )
        )

    def health(self) -> bytes:
        return encode(
            HealthEvent(
                camera_id=self.camera_id,
                sent_at_ms=now_ms(),
                pipeline=PipelineState.RUNNING,
                uptime_seconds=round(time.monotonic() - self.started, 1),
                restarts=0,
                fps=15.0,
                bitrate_kbps=round(self._rng.uniform(900, 1100), 1),
                dropped_frames=0,
                last_fragment_ms=now_ms() - 1000,
                motion_count=self.motion_count,
                agent_cpu_percent=3.0,
                agent_rss_mb=48.0,
                versions={"agent": "simulated"},
            )
        )

    def motion(self) -> tuple[int, bytes]:
        sequence, self.sequence = self.sequence, self.sequence + 1
        self.motion_count += 1
        at = now_ms()
        event = MotionEvent(
            camera_id=self.camera_id,
            sent_at_ms=at,
            sequence=sequence,
            producer_timestamp_ms=at,
            score=round(self._rng.uniform(0.05, 0.6), 2),
        )
        return sequence, encode(event)

    async def connect(self) -> None:
        will = Will(self.topics[TopicKind.STATUS], self.status(Presence.OFFLINE, "connection lost"))
        client = LiteClient(self.mqtt.client_id, self.mqtt.keep_alive_seconds, will)
        context = tls_context(str(self.mqtt.ca), str(self.mqtt.cert), str(self.mqtt.key))
        await client.connect(
            self.mqtt.endpoint, self.mqtt.port, context, self.mqtt.connect_timeout_seconds * 3
        )
        self.client = client


# The fleet on one loop.


@dataclass
class ConnectStats:
    up: int
    failed: int
    seconds: float
    errors: dict[str, int]


class Simulator:
    def __init__(self, bundles: Sequence[Path], seed: int = 0):
        self.rng = random.Random(seed)
        self.cameras = [SimCamera(b, random.Random(seed + i)) for i, b in enumerate(bundles)]
        self.records: list[Publish] = []
        self._background: list[asyncio.Task[None]] = []
        self.phase = "connect"

    @property
    def ids(self) -> list[str]:
        return [c.camera_id for c in self.cameras]

    async def publish(
        self, camera: SimCamera, kind: TopicKind, payload: bytes, seq: int | None = None,
        retain: bool = False, presence: Presence | None = None,
    ) -> Publish:  # fmt: skip
        record = Publish(
            camera.camera_id, kind.value, seq, self.phase, now_ms(),
            presence=presence.value if presence else None,
        )  # fmt: skip
        self.records.append(record)
        try:
            if camera.client is None:
                raise MqttError("not connected")
            await camera.client.publish(camera.topics[kind], payload, qos=1, retain=retain)
            record.acked_ms = now_ms()
        except (MqttError, OSError) as err:
            record.error = str(err)
        return record

    async def connect_all(self, concurrency: int = CONNECT_CONCURRENCY) -> ConnectStats:
        """Connect every camera, publish its retained `online`, start its health reports."""
        gate = asyncio.Semaphore(concurrency)
        errors: dict[str, int] = {}
        began = time.monotonic()

        async def one(camera: SimCamera) -> bool:
            async with gate:
                try:
                    await camera.connect()
                except (MqttError, OSError, TimeoutError) as err:
                    reason = type(err).__name__ + ": " + str(err).split(":")[-1].strip()[:80]
                    errors[reason] = errors.get(reason, 0) + 1
                    return False
            await self.publish(
                camera, TopicKind.STATUS, camera.status(Presence.ONLINE), retain=True,
                presence=Presence.ONLINE,
            )  # fmt: skip
            self._background.append(asyncio.create_task(self._health_loop(camera)))
            return True

        results = await asyncio.gather(*(one(c) for c in self.cameras))
        seconds = time.monotonic() - began
        return ConnectStats(sum(results), len(results) - sum(results), round(seconds, 2), errors)

    async def _health_loop(self, camera: SimCamera) -> None:
        await asyncio.sleep(self.rng.uniform(0, HEALTH_INTERVAL_S))
        while camera.client is not None and camera.client.connected:
            await self.publish(camera, TopicKind.HEALTH, camera.health())
            await asyncio.sleep(health_delay(self.rng))

    async def motion(self, camera: SimCamera) -> None:
        sequence, payload = camera.motion()
        await self.publish(camera, TopicKind.MOTION, payload, seq=sequence)

    async def baseline(self, seconds: float, motion_per_hour: float) -> None:
        """The quiet fleet: motions as a Poisson process over the connected cameras."""
        self.phase = "baseline"
        live = [c for c in self.cameras if c.client is not None]
        rate = len(live) * motion_per_hour / 3600
        end = time.monotonic() + seconds
        pending: set[asyncio.Task[None]] = set()
        while live and rate > 0:
            await asyncio.sleep(self.rng.expovariate(rate))
            if time.monotonic() >= end:
                break
            task = asyncio.create_task(self.motion(self.rng.choice(live)))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending)
        remaining = end - time.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining)

    async def storm(self, fraction: float, seconds: float, name: str) -> list[str]:
        """`fraction` of the fleet in motion at once for `seconds`; the members' ids."""
        self.phase = name
        live = [c for c in self.cameras if c.client is not None]
        members = storm_members([c.camera_id for c in live], fraction, self.rng)
        by_id = {c.camera_id: c for c in live}

        async def member(camera: SimCamera) -> None:
            began = time.monotonic()
            for at in motion_restarts(self.rng, seconds):
                await asyncio.sleep(max(0.0, began + at - time.monotonic()))
                await self.motion(camera)

        await asyncio.gather(*(member(by_id[c]) for c in members))
        return members

    async def flip(self, sample: Sequence[str], hold_s: float) -> None:
        """Each sampled camera reports `offline`, then `online` `hold_s` later (retained, as the
        agent's stop and start): status changes whose way to the shadow the caller times."""
        self.phase = "flip"
        by_id = {c.camera_id: c for c in self.cameras if c.client is not None}
        chosen = [by_id[c] for c in sample if c in by_id]
        for presence in (Presence.OFFLINE, Presence.ONLINE):
            await asyncio.gather(
                *(
                    self.publish(
                        c,
                        TopicKind.STATUS,
                        c.status(presence, "simulated"),
                        retain=True,
                        presence=presence,
                    )
                    for c in chosen
                )
            )
            await asyncio.sleep(hold_s)

    async def stop(self) -> None:
        """The agent's clean stop: a retained `offline`, then DISCONNECT (the Will is not sent)."""
        self.phase = "stop"
        for task in self._background:
            task.cancel()

        async def one(camera: SimCamera) -> None:
            if camera.client is not None and camera.client.connected:
                await self.publish(
                    camera, TopicKind.STATUS, camera.status(Presence.OFFLINE, "agent stopped"),
                    retain=True, presence=Presence.OFFLINE,
                )  # fmt: skip
                await camera.client.disconnect()

        await asyncio.gather(*(one(c) for c in self.cameras), return_exceptions=True)


# The child process: one shard of the fleet, driven over stdin.


def bundles_of(root: Path, ids: Sequence[str]) -> list[Path]:
    return [root / camera for camera in ids]


async def _lines() -> asyncio.Queue[str]:
    """stdin's lines, as a queue the loop can wait on."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line.strip())
        loop.call_soon_threadsafe(queue.put_nowait, "stop")

    threading.Thread(target=read, name="stdin", daemon=True).start()
    return queue


def _rss_mb() -> float:
    """This process's resident memory (Linux: /proc/self/statm, in pages)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def _say(kind: str, **fields: object) -> None:
    print(json.dumps({"kind": kind, **fields}), flush=True)


async def _serve(args: argparse.Namespace) -> None:
    ids = args.ids.read_text().split()
    sim = Simulator(bundles_of(args.bundles, ids), seed=args.seed)
    commands = await _lines()
    before = _rss_mb()
    stats = await sim.connect_all(args.connect_concurrency)
    _say("connected", **asdict(stats), rss_before_mb=before, rss_after_mb=_rss_mb())
    while (line := await commands.get()) != "stop":
        command = json.loads(line)
        if command["do"] == "baseline":
            await sim.baseline(command["seconds"], command["motion_per_hour"])
            _say("done", do="baseline")
        elif command["do"] == "storm":
            members = await sim.storm(command["fraction"], command["seconds"], command["name"])
            _say("done", do="storm", members=members)
        elif command["do"] == "flip":
            await sim.flip(command["sample"], command["hold_s"])
            _say("done", do="flip")
        elif command["do"] == "records":
            args.records.write_text(json.dumps([asdict(r) for r in sim.records]))
            _say("done", do="records", count=len(sim.records))
    await sim.stop()
    args.records.write_text(json.dumps([asdict(r) for r in sim.records]))
    _say("stopped", count=len(sim.records))


def main() -> None:
    """`python -m bench.fleet_sim --bundles DIR --ids FILE --records OUT`: connects the cameras
    listed in FILE (bundle DIR/<id>), prints one JSON line `connected`, then runs JSON commands
    read from stdin (`{"do": "baseline" | "storm" | "flip" | "records", ...}`), answering each
    with a `done` line, until `stop` (or the end of stdin): a clean stop of every camera, and
    every publish written to OUT."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--bundles", type=Path, required=True)
    parser.add_argument("--ids", type=Path, required=True)
    parser.add_argument("--records", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--connect-concurrency", type=int, default=CONNECT_CONCURRENCY)
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
