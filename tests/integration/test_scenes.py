"""The synthetic scenes: what they show (OpenCV), and that the agent's own pipeline plays them
and its motion detector fires on them (gst-launch-1.0 with device/pipeline.py's plan)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from cloud.settings import FleetSettings
from device.config import AgentConfig
from device.gst_output import FragmentClosed, GstEvent, MotionBegan, parse_line
from device.pipeline import build_pipeline, child_env
from stack.cameras.scenes import STORM_BURST_S, SceneKind, scene_frame, write_scene
from stack.cameras.simulation import SCENE_SECONDS, scene_file
from stack.endpoint.rekognition.detection import FaceDetector, Label


def read_frames(path: Path) -> list[np.ndarray[Any, Any]]:
    capture = cv2.VideoCapture(str(path))
    frames: list[np.ndarray[Any, Any]] = []
    while True:
        ok, frame = capture.read()
        if not ok:
            capture.release()
            return frames
        frames.append(frame)


@pytest.mark.parametrize("kind", list(SceneKind))
def test_a_scene_file_has_its_frames_and_moves(tmp_path: Path, kind: SceneKind) -> None:
    path = write_scene(kind, tmp_path / f"{kind.value}.avi", seconds=2, fps=10)
    frames = read_frames(path)
    assert len(frames) == 20
    assert frames[0].shape == (480, 640, 3)
    moved = np.abs(frames[0].astype(int) - frames[10].astype(int)).mean()
    assert moved > 2, "nothing moves in a second"


def test_scenes_are_the_same_every_time() -> None:
    for kind in SceneKind:
        assert np.array_equal(
            scene_frame(kind, 7, 320, 240, 15), scene_frame(kind, 7, 320, 240, 15)
        )


def test_the_storm_pauses_between_bursts() -> None:
    still = [scene_frame(SceneKind.STORM, i, 320, 240, 10) for i in (27, 33, 39)]  # 2.7-3.9 s
    assert all(np.array_equal(still[0], frame) for frame in still)
    after = scene_frame(SceneKind.STORM, 45, 320, 240, 10)  # the next burst
    assert not np.array_equal(still[0], after)
    assert STORM_BURST_S == 2.5


def test_a_scene_is_written_as_motion_jpeg_avi_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="AVI"):
        write_scene("person", tmp_path / "person.mkv", seconds=1)
    with pytest.raises(ValueError):
        write_scene("nobody", tmp_path / "x.avi", seconds=1)


def best_person(detector: FaceDetector, frame: np.ndarray[Any, Any]) -> float:
    found = [d.confidence for d in detector.detect(frame) if d.label is Label.PERSON]
    return max(found, default=0.0)


def test_the_detector_finds_the_person_and_nothing_in_the_empty_scene() -> None:
    detector = FaceDetector()
    fps = 15
    person = [
        best_person(detector, scene_frame(SceneKind.PERSON, i, 640, 480, fps))
        for i in range(0, 150, 25)
    ]
    empty = [
        best_person(detector, scene_frame(SceneKind.EMPTY, i, 640, 480, fps))
        for i in range(0, 150, 10)
    ]
    assert min(person) >= 50, person
    assert max(empty) < 50, empty


def test_the_person_box_is_around_the_face() -> None:
    frame = scene_frame(SceneKind.PERSON, 0, 640, 480, 15)
    (detection,) = [d for d in FaceDetector().detect(frame) if d.confidence >= 50]
    box = detection.box
    assert 0 < box.width < 0.5 and 0 < box.height < 1
    assert box.left >= 0 and box.left + box.width <= 1 and box.top + box.height <= 1


def agent_config(source: Path, fragment_dir: Path, gap_seconds: int = 5) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "camera_id": "porch",
            "mqtt": {"endpoint": "127.0.0.1", "client_id": "porch", "cert": "c"},
            "aws": {"region": "eu-west-1", "credentials_endpoint": "c.local", "role_alias": "r"},
            "source": {"kind": "file", "path": str(source)},
            "sink": {"kind": "local", "stream_name": "porch", "fragment_dir": str(fragment_dir)},
            "motion": {"gap_seconds": gap_seconds},
        }
    )


def play(config: AgentConfig, run_dir: Path, seconds: float) -> list[GstEvent]:
    """Run the agent's pipeline plan on its file source; its parsed output events."""
    plan = build_pipeline(config, run_dir)
    child = subprocess.Popen(
        plan.argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env(dict(os.environ)),
    )
    events: list[GstEvent] = []

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            event = parse_line(line)
            if event is not None:
                events.append(event)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        child.wait(seconds)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGINT)  # EOS, as the supervisor stops it
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        reader.join(5)
    return events


@pytest.mark.parametrize("kind", [SceneKind.PERSON, SceneKind.EMPTY])
def test_the_agent_pipeline_plays_a_scene_and_sees_motion(tmp_path: Path, kind: SceneKind) -> None:
    scene = write_scene(kind, tmp_path / f"{kind.value}.avi", seconds=3)
    started = time.monotonic()
    events = play(agent_config(scene, tmp_path), tmp_path, seconds=8)
    assert any(isinstance(e, MotionBegan) for e in events), events[-10:]
    assert any(isinstance(e, FragmentClosed) for e in events), events[-10:]
    assert time.monotonic() - started < 10


def test_the_storm_brings_motion_again_and_again(tmp_path: Path) -> None:
    scene = write_scene(SceneKind.STORM, tmp_path / "storm.avi", seconds=6)
    events = play(agent_config(scene, tmp_path, gap_seconds=1), tmp_path, seconds=10)
    begins = [e for e in events if isinstance(e, MotionBegan)]
    assert len(begins) >= 2, events[-10:]  # a burst at 0 s and one at 4 s


def test_cameras_simulated_at_once_each_find_the_whole_scene(tmp_path: Path) -> None:
    settings = FleetSettings(home=tmp_path)
    with ThreadPoolExecutor(max_workers=3) as pool:
        paths = list(pool.map(lambda _: scene_file(settings, SceneKind.VISITOR), range(3)))
    assert len(set(paths)) == 1 and paths[0].is_file()
    assert len(read_frames(paths[0])) == SCENE_SECONDS[SceneKind.VISITOR] * 15
    assert [p.name for p in paths[0].parent.iterdir()] == [paths[0].name]  # no partial left
