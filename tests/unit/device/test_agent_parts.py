"""Pure parts of the device agent: outbox, stream meter, backoff, fragment store, checks."""

import os
import random
import threading
import time
from pathlib import Path

import pytest

from device.fragments import FragmentStore
from device.health import ProcessStats, StreamMeter, host_temperature_c
from device.messages import MotionEvent
from device.outbox import MotionOutbox

NOW_MS = 1_795_000_000_000
FRAME_NS = 66_666_666


def _motion(sequence: int) -> MotionEvent:
    return MotionEvent(
        camera_id="porch",
        sent_at_ms=NOW_MS,
        sequence=sequence,
        producer_timestamp_ms=NOW_MS,
        score=0.1,
    )


def test_outbox_keeps_order_until_acknowledged_and_drops_oldest_when_full() -> None:
    box = MotionOutbox(limit=3)
    events = [_motion(i) for i in range(5)]
    dropped = [box.put(e) for e in events]
    assert dropped == [None, None, None, events[0], events[1]]
    assert box.dropped == 2
    first = box.peek(timeout=0)
    assert first is events[2]
    assert box.peek(timeout=0) is events[2]  # not removed until delivered
    box.delivered(events[2])
    assert box.peek(timeout=0) is events[3]
    assert len(box) == 2


def test_outbox_delivered_ignores_an_event_already_dropped() -> None:
    box = MotionOutbox(limit=1)
    old = _motion(0)
    box.put(old)
    new = _motion(1)
    box.put(new)  # drops `old` while it may be in flight
    box.delivered(old)
    assert box.peek(timeout=0) is new


def test_stream_meter_rates_and_dropped_frames() -> None:
    meter = StreamMeter(window_s=10)
    for i in range(150):  # 15 fps for 10 s, 1000 bytes each
        meter.record(i / 15, 1000, i * FRAME_NS, FRAME_NS)
    now = 149 / 15
    assert meter.fps(now) == pytest.approx(15, abs=0.2)
    assert meter.bitrate_kbps(now) == pytest.approx(120, abs=2)
    assert meter.dropped_frames == 0
    # Three frames missing from the timestamps.
    meter.record(now + 4 / 15, 1000, 153 * FRAME_NS, FRAME_NS)
    assert meter.dropped_frames == 3
    # A restarted child starts its timestamps again: that is not a gap.
    meter.restarted()
    meter.record(now + 1, 1000, 0, FRAME_NS)
    assert meter.dropped_frames == 3
    assert meter.fps(now + 100) == 0


def test_stream_meter_is_read_while_the_pipeline_reader_records() -> None:
    # The pipeline's reader thread records while the agent's main loop reports health.
    meter = StreamMeter(window_s=1)
    frames = 50_000

    def record() -> None:
        for i in range(frames):
            meter.record(time.monotonic(), 1000, i * FRAME_NS, FRAME_NS)

    recorder = threading.Thread(target=record)
    recorder.start()
    readings = 0
    while recorder.is_alive():
        now = time.monotonic()
        meter.fps(now), meter.bitrate_kbps(now)  # raised "deque mutated" before the lock
        readings += 1
    recorder.join()
    assert readings > 0
    assert meter.dropped_frames == 0


def test_backoff_is_exponential_capped_and_jittered() -> None:
    from device.supervisor import backoff_delay

    rng = random.Random(7)
    delays = [backoff_delay(n, 1.0, 60.0, rng) for n in range(10)]
    for n, delay in enumerate(delays):
        ceiling = min(60.0, 2.0**n)
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 6) for d in delays}) == len(delays)


def test_fragment_store_names_by_producer_timestamp(tmp_path: Path) -> None:
    store = FragmentStore(tmp_path / "cam", retention_ms=60_000)
    store.recover()
    run = store.new_run(1)
    written = run / "00000.mkv"
    written.write_bytes(b"first")
    partial = store.opened(written, NOW_MS)
    assert partial == tmp_path / "cam" / f"{NOW_MS}.mkv.partial"
    assert store.closed(written) == (tmp_path / "cam" / f"{NOW_MS}.mkv", NOW_MS)
    # A fragment still open when the child dies is kept, as far as it got.
    second = run / "00001.mkv"
    second.write_bytes(b"second")
    store.opened(second, NOW_MS + 2000)
    store.end_run(run)
    assert sorted(p.name for p in (tmp_path / "cam").iterdir()) == [
        f"{NOW_MS}.mkv",
        f"{NOW_MS + 2000}.mkv",
    ]
    assert store.prune(NOW_MS + 61_000) == 1
    assert [p.name for p in (tmp_path / "cam").iterdir()] == [f"{NOW_MS + 2000}.mkv"]


def test_fragment_store_recovers_after_an_agent_crash(tmp_path: Path) -> None:
    cam = tmp_path / "cam"
    (cam / ".incoming" / "5").mkdir(parents=True)
    (cam / ".incoming" / "5" / "00000.mkv").write_bytes(b"never named")
    (cam / f"{NOW_MS}.mkv.partial").write_bytes(b"cut short")
    FragmentStore(cam, retention_ms=60_000).recover()
    assert [p.name for p in cam.iterdir()] == [f"{NOW_MS}.mkv"]


def test_host_temperature(tmp_path: Path) -> None:
    assert host_temperature_c(tmp_path) is None
    for zone, milli in (("thermal_zone0", "51234\n"), ("thermal_zone1", "48000\n")):
        (tmp_path / zone).mkdir()
        (tmp_path / zone / "temp").write_text(milli)
    assert host_temperature_c(tmp_path) == 51.2


def test_process_stats_from_the_kernel(tmp_path: Path) -> None:
    statm = tmp_path / "statm"
    statm.write_text("25000 2560 300 10 0 900 0\n")
    stats = ProcessStats()
    assert stats.rss_mb(statm) == round(2560 * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:  # burn 0.2 s of CPU
        pass
    assert stats.cpu_percent() > 10
