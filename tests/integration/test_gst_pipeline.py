"""The built pipelines, run by the real gst-launch-1.0 (GStreamer 1.22), read by the real parser.

Also the helpers test_gst_child_rtsp.py uses to run a plan and check fragments.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from device.config import AgentConfig
from device.gst_output import (
    Buffer,
    EndOfStream,
    FragmentClosed,
    FragmentOpened,
    GstEvent,
    MissingElement,
    MotionBegan,
    PipelineError,
    Playing,
    parse_line,
)
from device.pipeline import PipelinePlan, build_pipeline, child_env
from tests.support.fragments import decoded_frames

GI_PYTHON = "/usr/bin/python3"


def agent_config(tmp_path: Path, **sections: dict[str, Any]) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "camera_id": "porch",
            "mqtt": {"endpoint": "127.0.0.1", "client_id": "porch", "cert": str(tmp_path / "c")},
            "aws": {"region": "eu-west-1", "credentials_endpoint": "c.local", "role_alias": "r"},
            "sink": {"kind": "local", "stream_name": "porch", "fragment_dir": str(tmp_path)},
            **sections,
        }
    )


class Child:
    """A plan's process, its output parsed as the supervisor parses it."""

    def __init__(self, plan: PipelinePlan, base_env: dict[str, str] | None = None):
        self.lines: list[str] = []
        self.events: list[GstEvent] = []
        self.proc = subprocess.Popen(
            plan.argv,
            stdin=subprocess.PIPE if plan.stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=child_env(base_env if base_env is not None else dict(os.environ)),
        )
        if plan.stdin is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(plan.stdin.decode())
            self.proc.stdin.close()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            event = parse_line(line)
            if event is not None:
                self.events.append(event)

    def wait_for(self, kind: type, count: int = 1, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while sum(isinstance(e, kind) for e in self.events) < count:
            assert self.proc.poll() is None or self._reader.is_alive(), self.output()
            assert time.monotonic() < deadline, f"no {count} {kind.__name__}:\n{self.output()}"
            time.sleep(0.05)

    def interrupt(self, timeout: float = 10) -> int:
        """SIGINT, as the supervisor stops a pipeline: EOS, then exit."""
        self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def wait(self, timeout: float = 10) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the pipeline did not end:\n{self.output()}") from None
        self._reader.join(5)
        return code

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def output(self) -> str:
        return "".join(line for line in self.lines if "last-message" not in line)[-4000:]


def check_fragments(child: Child, run_dir: Path, fps: int, seconds: int) -> None:
    """Fragments open where the last closed, in run_dir, and every one decodes."""
    opened, closed = child.of(FragmentOpened), child.of(FragmentClosed)
    assert len(closed) >= 2, child.output()
    assert [o.location for o in opened] == [c.location for c in closed]
    for before, after in zip(closed, opened[1:], strict=False):
        assert after.running_time_ns == before.running_time_ns
    for fragment in closed:
        assert fragment.location.parent == run_dir
        frames = decoded_frames(fragment.location)
        assert frames > 0, f"{fragment.location} does not decode"
    # A full fragment (not the last, cut by EOS) holds about fragment_seconds of video.
    assert decoded_frames(closed[0].location) >= fps * seconds // 2


def check_buffers(buffers: Sequence[Buffer], fps: int, keyframe_interval: int) -> None:
    assert buffers[0].keyframe
    assert all(b.size > 0 and b.pts_ns is not None for b in buffers)
    keyframes = [i for i, b in enumerate(buffers) if b.keyframe]
    assert keyframes[:2] == [0, keyframe_interval]
    assert buffers[1].duration_ns == 1_000_000_000 // fps


def test_ball_is_recorded_in_fragments_and_moves(tmp_path: Path) -> None:
    run_dir = tmp_path / "run 1"  # quoted on the command line
    run_dir.mkdir()
    config = agent_config(tmp_path, source={"kind": "test", "pattern": "ball", "fps": 15})
    plan = build_pipeline(config, run_dir)
    for element in plan.required_elements:
        exists = subprocess.run(["gst-inspect-1.0", "--exists", element], check=False)
        assert exists.returncode == 0, element

    child = Child(plan)
    child.wait_for(FragmentClosed, count=2, timeout=15)
    assert child.interrupt() == 0, child.output()

    assert isinstance(child.events[0], Playing)
    assert child.of(MotionBegan), child.output()
    assert isinstance(child.events[-1], EndOfStream)
    assert not child.of(PipelineError)
    check_buffers(child.of(Buffer), fps=15, keyframe_interval=30)
    check_fragments(child, run_dir, fps=15, seconds=2)
    # -X caps keeps the pads' caps out of -v: the noise is the -m copy of each buffer line.
    assert not any(" caps = " in line for line in child.lines)


def test_a_static_picture_is_no_motion(tmp_path: Path) -> None:
    config = agent_config(tmp_path)  # the default pattern
    assert config.source.pattern == "smpte100"
    child = Child(build_pipeline(config, tmp_path))
    # The ball is seen moving after 1.8 s at the default sensitivity; give this twice as long.
    child.wait_for(FragmentClosed, count=2, timeout=15)
    assert child.interrupt() == 0, child.output()
    assert len(child.of(Buffer)) > 45
    assert not child.of(MotionBegan)


def test_a_file_plays_in_real_time_then_ends(tmp_path: Path) -> None:
    clip = tmp_path / "front door.mp4"
    subprocess.run(
        [
            "gst-launch-1.0",
            "-q",
            "-e",
            "videotestsrc",
            "num-buffers=50",
            "pattern=ball",
            "!",
            "video/x-raw,width=320,height=240,framerate=20/1",
            "!",
            "x264enc",
            "!",
            "mp4mux",
            "!",
            "filesink",
            f"location={clip}",
        ],
        check=True,
        timeout=30,
    )
    config = agent_config(tmp_path, source={"kind": "file", "path": str(clip), "fps": 10})
    started = time.monotonic()
    child = Child(build_pipeline(config, tmp_path))
    assert child.wait(timeout=15) == 0, child.output()
    assert time.monotonic() - started >= 2.4  # 2.5 s of video, paced like a camera
    assert isinstance(child.events[-1], EndOfStream)
    assert 20 <= len(child.of(Buffer)) <= 27  # 20 fps re-timed to 10
    check_fragments(child, tmp_path, fps=10, seconds=1)


def test_a_kvssink_plan_without_the_plugin_reports_it_missing(tmp_path: Path) -> None:
    config = agent_config(tmp_path, sink={"kind": "kvssink", "stream_name": "porch"})
    plan = build_pipeline(config, tmp_path)
    assert "kvssink" in plan.required_elements
    if subprocess.run(["gst-inspect-1.0", "--exists", "kvssink"], check=False).returncode == 0:
        pytest.skip("kvssink is installed here")
    child = Child(plan)
    assert child.wait() != 0
    assert child.events == [MissingElement("kvssink")], child.output()


def test_a_missing_camera_device_is_an_error_of_src(tmp_path: Path) -> None:
    device = "/dev/video-fleet-test-missing"
    config = agent_config(tmp_path, source={"kind": "v4l2", "device": device})
    child = Child(build_pipeline(config, tmp_path))
    assert child.wait() != 0
    assert PipelineError("src", f"Cannot identify device '{device}'.") in child.events


FAKE_KVSSINK = r"""
import ctypes, json, sys
import gi
gi.require_version("Gst", "1.0")
from gi.repository import GObject, Gst
Gst.init(None)

class FakeKvsSink(Gst.Element):
    # The kvssink properties the agent sets, with kvssink's types (gstkvssink.cpp).
    __gproperties__ = {
        "stream-name": (str, "", "", "DEFAULT_STREAM", GObject.ParamFlags.READWRITE),
        "storage-size": (GObject.TYPE_UINT, "", "", 0, 2**32 - 1, 128, GObject.ParamFlags.READWRITE),
        "aws-region": (str, "", "", "", GObject.ParamFlags.READWRITE),
        "allow-create-stream": (bool, "", "", True, GObject.ParamFlags.READWRITE),
        "iot-certificate": (Gst.Structure, "", "", GObject.ParamFlags.READWRITE),
    }
    def __init__(self):
        super().__init__()
        self.add_pad(Gst.Pad.new("sink", Gst.PadDirection.SINK))
        self.values = {}
    def do_get_property(self, prop):
        return self.values.get(prop.name)
    def do_set_property(self, prop, value):
        self.values[prop.name] = value

# Without gst-python's overrides, element metadata must be set through the C API.
gobject, gst = ctypes.CDLL("libgobject-2.0.so.0"), ctypes.CDLL("libgstreamer-1.0.so.0")
gobject.g_type_from_name.restype = ctypes.c_size_t
gobject.g_type_class_ref.restype = ctypes.c_void_p
gobject.g_type_class_ref.argtypes = [ctypes.c_size_t]
gst.gst_element_class_set_static_metadata.argtypes = [ctypes.c_void_p] + [ctypes.c_char_p] * 4
klass = gobject.g_type_class_ref(gobject.g_type_from_name(FakeKvsSink.__gtype__.name.encode()))
gst.gst_element_class_set_static_metadata(klass, b"KVS Sink", b"Sink/Video", b"fake", b"tests")
Gst.Element.register(None, "kvssink", Gst.Rank.NONE, FakeKvsSink)
pipeline = Gst.parse_launchv(json.load(sys.stdin))  # what gst-launch-1.0 does with its argv
kvs = pipeline.get_by_name("kvs")
iot = kvs.get_property("iot-certificate")
fields = {iot.nth_field_name(i): iot.get_value(iot.nth_field_name(i)) for i in range(iot.n_fields())}
print(json.dumps({
    "structure": iot.get_name(),
    "iot": fields,
    "types": sorted({type(v).__name__ for v in fields.values()}),
    "stream-name": kvs.get_property("stream-name"),
    "storage-size": kvs.get_property("storage-size"),
    "aws-region": kvs.get_property("aws-region"),
    "allow-create-stream": kvs.get_property("allow-create-stream"),
}))
"""


def test_kvssink_properties_reach_the_element_as_configured(tmp_path: Path) -> None:
    """Through GStreamer's own parser, with awkward paths: kvssink gets every iot-certificate
    field as a string (it refuses any other type) and the exact values."""
    certs = tmp_path / 'my "cams", porch!'
    config = AgentConfig.model_validate(
        {
            "camera_id": "1234",
            "mqtt": {
                "endpoint": "127.0.0.1",
                "client_id": "1234",
                "cert": str(certs / "cert.pem"),
                "key": str(certs / "key=1.pem"),
                "ca": str(certs / "ca\\root.pem"),
            },
            "aws": {
                "region": "eu-west-1",
                "credentials_endpoint": "c1x2.credentials.iot.eu-west-1.amazonaws.com",
                "role_alias": "true",
            },
            "sink": {"kind": "kvssink", "stream_name": "1234", "storage_size_mb": 256},
            "motion": {"enabled": False},
        }
    )
    plan = build_pipeline(config, tmp_path)
    tokens = plan.argv[plan.argv.index("videotestsrc") :]
    run = subprocess.run(
        [GI_PYTHON, "-c", FAKE_KVSSINK],
        input=json.dumps(tokens),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {
        "structure": "iot-certificate",
        "iot": {
            "endpoint": "c1x2.credentials.iot.eu-west-1.amazonaws.com",
            "cert-path": str(certs / "cert.pem"),
            "key-path": str(certs / "key=1.pem"),
            "ca-path": str(certs / "ca\\root.pem"),
            "role-aliases": "true",
            "iot-thing-name": "1234",
        },
        "types": ["str"],
        "stream-name": "1234",
        "storage-size": 256,
        "aws-region": "eu-west-1",
        "allow-create-stream": False,
    }
