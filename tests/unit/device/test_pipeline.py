"""The pipeline builder: every source and sink, motion on and off, kvssink's exact properties,
quoting, and secrets kept out of argv and the description."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from device.config import AgentConfig, AwsConfig, MotionConfig, MqttConfig, SinkConfig, SourceConfig
from device.pipeline import (
    GST_CHILD,
    GST_LAUNCH_OPTIONS,
    PipelinePlan,
    build_pipeline,
    child_env,
    fragment_start_ms,
    install_hint,
)
from device.rtsp_credentials import RtspCredentials

RUN = Path("/var/lib/fleet/fragments/run-1")
PASSWORD = "pa55 w:rd\"'!"
CREDENTIALS = RtspCredentials(user="viewer", password=SecretStr(PASSWORD))
KVS_IOT = (
    'iot-certificate="iot-certificate,'
    "endpoint=(string)c1x2.credentials.iot.eu-west-1.amazonaws.com,"
    "cert-path=(string)/etc/fleet/porch/certificate.pem.crt,"
    "key-path=(string)/etc/fleet/porch/private.pem.key,"
    "ca-path=(string)/etc/fleet/porch/root-ca.pem,"
    "role-aliases=(string)camera-fleet-kvs,"
    'iot-thing-name=(string)porch"'
)
ENCODE = (
    "queue ! x264enc bframes=0 key-int-max=30 bitrate=1000 tune=zerolatency speed-preset=veryfast"
    " ! h264parse ! video/x-h264,stream-format=avc,alignment=au,profile=baseline"
)
STORE = (
    "splitmuxsink name=store muxer-factory=matroskamux max-size-time=2000000000"
    " send-keyframe-requests=true location=/var/lib/fleet/fragments/run-1/%05d.mkv"
)
MOTION = (
    "videorate ! videoscale ! video/x-raw,width=320,height=240,framerate=5/1 ! videoconvert"
    " ! motioncells name=motion sensitivity=0.5 gap=5 threshold=0.01 minimummotionframes=1"
    " postallmotion=false display=false ! fakesink sync=false async=false"
)


@pytest.fixture(autouse=True)
def _no_agent_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """AgentConfig reads FLEET_AGENT_* from the environment: keep the tests' configs exact."""
    import os

    for name in os.environ:
        if name.startswith("FLEET_AGENT_"):
            monkeypatch.delenv(name)


def config(
    source: dict[str, Any] | None = None,
    sink: dict[str, Any] | None = None,
    motion: dict[str, Any] | None = None,
    camera_id: str = "porch",
    cert_dir: str = "/etc/fleet/porch",
) -> AgentConfig:
    return AgentConfig(
        camera_id=camera_id,
        mqtt=MqttConfig(
            endpoint="a1b2-ats.iot.eu-west-1.amazonaws.com",
            client_id=camera_id,
            cert=Path(cert_dir, "certificate.pem.crt"),
            key=Path(cert_dir, "private.pem.key"),
            ca=Path(cert_dir, "root-ca.pem"),
        ),
        aws=AwsConfig(
            region="eu-west-1",
            credentials_endpoint="c1x2.credentials.iot.eu-west-1.amazonaws.com",
            role_alias="camera-fleet-kvs",
        ),
        source=SourceConfig(**(source or {})),
        sink=SinkConfig(**{"stream_name": camera_id, **(sink or {})}),
        motion=MotionConfig(**(motion or {})),
    )


LOCAL = {"kind": "local", "fragment_dir": "/var/lib/fleet/fragments"}
RTSP = {"kind": "rtsp", "uri": "rtsp://192.168.1.20:554/stream1"}


def element_tokens(plan: PipelinePlan, factory: str) -> list[str]:
    """The tokens of one element in argv: its factory name and its properties."""
    argv = list(plan.argv)
    start = argv.index(factory)
    end = next((i for i in range(start + 1, len(argv)) if "=" not in argv[i]), len(argv))
    return argv[start:end]


def test_test_source_to_local_fragments_with_motion() -> None:
    plan = build_pipeline(config(sink=LOCAL), RUN)
    assert plan.description == (
        "videotestsrc name=src is-live=true pattern=smpte100"
        " ! video/x-raw,width=640,height=480,framerate=15/1,pixel-aspect-ratio=1/1"
        " ! videoconvert ! video/x-raw,format=I420 ! tee name=t"
        f" t. ! {ENCODE} ! identity name=meter silent=false ! {STORE}"
        f" t. ! queue leaky=downstream max-size-buffers=2 ! {MOTION}"
    )
    assert plan.argv == ("gst-launch-1.0", *GST_LAUNCH_OPTIONS, *plan.description.split(" "))
    assert GST_LAUNCH_OPTIONS == ("-m", "-v", "-e", "-X", "caps", "-X", "max-size-buffers")
    assert plan.stdin is None
    assert plan.fragment_dir == RUN
    assert plan.required_elements == (
        "videotestsrc",
        "videoconvert",
        "tee",
        "queue",
        "x264enc",
        "h264parse",
        "identity",
        "splitmuxsink",
        "videorate",
        "videoscale",
        "motioncells",
        "fakesink",
        "matroskamux",
    )


def test_motion_off_has_no_tee_and_no_detector() -> None:
    plan = build_pipeline(
        config(sink=LOCAL, motion={"enabled": False}, source={"pattern": "ball"}), RUN
    )
    assert plan.description == (
        "videotestsrc name=src is-live=true pattern=ball"
        " ! video/x-raw,width=640,height=480,framerate=15/1,pixel-aspect-ratio=1/1"
        f" ! videoconvert ! video/x-raw,format=I420 ! {ENCODE}"
        f" ! identity name=meter silent=false ! {STORE}"
    )
    assert "motioncells" not in plan.required_elements
    assert "tee" not in plan.required_elements


def test_kvssink_properties_are_exact_and_keyless() -> None:
    plan = build_pipeline(config(), RUN)
    assert element_tokens(plan, "kvssink") == [
        "kvssink",
        "name=kvs",
        "stream-name=porch",
        "storage-size=128",
        "aws-region=eu-west-1",
        "allow-create-stream=false",
        KVS_IOT,
    ]
    assert plan.description.endswith(
        f"identity name=meter silent=false ! kvssink name=kvs stream-name=porch storage-size=128 aws-region=eu-west-1 allow-create-stream=false {KVS_IOT} t. ! queue leaky=downstream max-size-buffers=2 ! {MOTION}"
    )
    for static_key in ("access-key", "secret-key", "session-token", "credential-path"):
        assert static_key not in plan.description
    assert plan.fragment_dir is None
    assert "kvssink" in plan.required_elements
    assert "splitmuxsink" not in plan.required_elements


def test_kvssink_quotes_awkward_paths_and_types_every_field_as_a_string() -> None:
    plan = build_pipeline(
        config(
            camera_id="1234",
            cert_dir='/etc/fleet/my cams, "porch"',
            sink={"storage_size_mb": 512, "stream_name": "1234"},
        ),
        RUN,
    )
    # A path quoted inside the structure, the structure quoted for gst-launch: escapes twice.
    assert element_tokens(plan, "kvssink")[-1] == (
        'iot-certificate="iot-certificate,'
        "endpoint=(string)c1x2.credentials.iot.eu-west-1.amazonaws.com,"
        r"cert-path=(string)\"/etc/fleet/my cams, \\\"porch\\\"/certificate.pem.crt\","
        r"key-path=(string)\"/etc/fleet/my cams, \\\"porch\\\"/private.pem.key\","
        r"ca-path=(string)\"/etc/fleet/my cams, \\\"porch\\\"/root-ca.pem\","
        "role-aliases=(string)camera-fleet-kvs,"
        # untyped, 1234 would be an integer, which kvssink refuses
        'iot-thing-name=(string)1234"'
    )
    assert "storage-size=512" in element_tokens(plan, "kvssink")


@pytest.mark.parametrize(
    ("source", "head", "needs"),
    [
        (
            {"kind": "v4l2", "device": "/dev/video0", "width": 1280, "height": 720, "fps": 30},
            "v4l2src name=src device=/dev/video0 ! video/x-raw,width=1280,height=720,framerate=30/1"
            " ! videoconvert ! video/x-raw,format=I420 ! tee name=t t. ! queue ! x264enc",
            {"v4l2src", "x264enc", "motioncells"},
        ),
        (
            {"kind": "file", "path": "/srv/clips/front door.mp4", "fps": 10},
            'filesrc name=src location="/srv/clips/front door.mp4" ! decodebin ! videoconvert'
            " ! videoscale ! videorate"
            " ! video/x-raw,width=640,height=480,framerate=10/1,pixel-aspect-ratio=1/1"
            " ! clocksync ! videoconvert ! video/x-raw,format=I420 ! tee name=t t. ! queue ! x264enc",
            {"filesrc", "decodebin", "clocksync", "x264enc"},
        ),
        (
            {"kind": "test", "pattern": "ball", "width": 320, "height": 240, "fps": 5},
            "videotestsrc name=src is-live=true pattern=ball"
            " ! video/x-raw,width=320,height=240,framerate=5/1,pixel-aspect-ratio=1/1"
            " ! videoconvert ! video/x-raw,format=I420 ! tee name=t t. ! queue ! x264enc",
            {"videotestsrc", "x264enc"},
        ),
    ],
)
def test_raw_sources_are_encoded_after_the_tee(
    source: dict[str, Any], head: str, needs: set[str]
) -> None:
    plan = build_pipeline(config(source=source, sink=LOCAL), RUN)
    assert plan.description.startswith(head)
    assert needs <= set(plan.required_elements)
    assert "avdec_h264" not in plan.required_elements  # raw video into the motion branch


def test_rtsp_passes_h264_through_and_decodes_only_for_motion() -> None:
    plan = build_pipeline(config(source=RTSP, sink=LOCAL), RUN)
    assert plan.description == (
        "rtspsrc name=src location=rtsp://192.168.1.20:554/stream1 protocols=tcp latency=200"
        " ! rtph264depay ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! tee name=t"
        f" t. ! queue ! identity name=meter silent=false ! {STORE}"
        " t. ! queue leaky=downstream max-size-buffers=0 max-size-bytes=0 max-size-time=2000000000"
        f" ! avdec_h264 output-corrupt=false ! {MOTION}"
    )
    assert "x264enc" not in plan.required_elements
    assert plan.argv[0] == "gst-launch-1.0"  # no credentials: nothing to hide


def test_rtsp_without_motion_needs_no_decoder() -> None:
    plan = build_pipeline(config(source=RTSP, motion={"enabled": False}), RUN)
    assert plan.description.startswith(
        "rtspsrc name=src location=rtsp://192.168.1.20:554/stream1 protocols=tcp latency=200"
        " ! rtph264depay ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! queue"
        " ! identity name=meter silent=false ! kvssink name=kvs"
    )
    assert "avdec_h264" not in plan.required_elements


def test_rtsp_credentials_go_to_the_child_over_stdin_only() -> None:
    cfg = config(source={**RTSP, "rtsp_latency_ms": 500}, sink=LOCAL)
    plan = build_pipeline(cfg, RUN, CREDENTIALS)
    assert plan.argv == ("/usr/bin/python3", str(GST_CHILD))
    assert GST_CHILD.is_absolute()
    assert GST_CHILD.is_file()
    assert plan.description == build_pipeline(cfg, RUN).description
    assert "latency=500" in plan.description
    for public in (" ".join(plan.argv), plan.description, repr(plan), str(plan)):
        assert PASSWORD not in public
        assert "user-pw" not in public
    assert plan.stdin is not None
    request = json.loads(plan.stdin)
    assert request == {
        "description": plan.description,
        "secret_properties": {"src": {"user-id": "viewer", "user-pw": PASSWORD}},
        "eos_timeout_seconds": 9.0,
    }


def test_credentials_for_another_source_are_refused() -> None:
    with pytest.raises(ValueError, match="only rtsp"):
        build_pipeline(config(sink=LOCAL), RUN, CREDENTIALS)


@pytest.mark.parametrize(
    ("run_dir", "location"),
    [
        (Path("/srv/fleet/run 1"), 'location="/srv/fleet/run 1/%05d.mkv"'),
        # splitmuxsink's location is a printf pattern
        (Path("/srv/100%/x"), "location=/srv/100%%/x/%05d.mkv"),
        (Path('/srv/a"b\\c!d,e=f'), r'location="/srv/a\"b\\c!d,e=f/%05d.mkv"'),
    ],
)
def test_local_location_is_quoted(run_dir: Path, location: str) -> None:
    plan = build_pipeline(config(sink=LOCAL), run_dir)
    assert element_tokens(plan, "splitmuxsink")[-1] == location
    assert plan.fragment_dir == run_dir


def _outside_quotes(token: str) -> str:
    """The characters of a gst-launch token outside double quotes (escapes honoured)."""
    kept, quoted, escaped = [], False, False
    for char in token:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted:
            kept.append(char)
    assert not quoted, token
    return "".join(kept)


@pytest.mark.parametrize(
    "cfg",
    [
        config(source={"kind": "file", "path": "/srv/my clips/a.mp4"}, sink=LOCAL),
        config(source={"kind": "rtsp", "uri": "rtsp://cam/live?channel=1&subtype=0"}),
        config(cert_dir="/etc/fleet/with space"),
    ],
)
def test_description_is_the_argv_tokens_joined(cfg: AgentConfig) -> None:
    """gst-launch joins its arguments with spaces, escaping spaces outside quotes: the child
    parses the description string. Both read the same pipeline only if no token has a space
    outside quotes."""
    plan = build_pipeline(cfg, Path("/tmp/run dir"))
    tokens = plan.argv[len(GST_LAUNCH_OPTIONS) + 1 :]
    assert " ".join(tokens) == plan.description
    for token in tokens:
        assert " " not in _outside_quotes(token), token


def test_a_line_break_in_a_value_is_refused() -> None:
    with pytest.raises(ValueError, match="line break"):
        build_pipeline(config(source={"kind": "file", "path": "/srv/a\nb.mp4"}, sink=LOCAL), RUN)


@pytest.mark.parametrize(
    ("motion", "message"),
    [({"gap_seconds": 61}, "gap_seconds"), ({"min_frames": 61}, "min_frames")],
)
def test_motion_settings_beyond_motioncells_limits_are_refused(
    motion: dict[str, Any], message: str
) -> None:
    """motioncells' own limits (1 to 60) are the config's: refused when the config loads."""
    with pytest.raises(ValidationError, match=message):
        config(motion=motion, sink=LOCAL)


def test_motion_settings_reach_motioncells() -> None:
    motion = {"sensitivity": 0.8, "gap_seconds": 60, "min_area": 0.05, "min_frames": 3, "fps": 2}
    plan = build_pipeline(config(motion=motion, sink=LOCAL), RUN)
    assert element_tokens(plan, "motioncells") == [
        "motioncells",
        "name=motion",
        "sensitivity=0.8",
        "gap=60",
        "threshold=0.05",
        "minimummotionframes=3",
        "postallmotion=false",
        "display=false",
    ]
    assert "video/x-raw,width=320,height=240,framerate=2/1" in plan.argv


@pytest.mark.parametrize(
    ("element", "hint"),
    [
        ("motioncells", "gstreamer1.0-opencv"),
        ("x264enc", "gstreamer1.0-plugins-ugly"),
        ("avdec_h264", "gstreamer1.0-libav"),
        ("rtspsrc", "gstreamer1.0-plugins-good"),
        ("splitmuxsink", "gstreamer1.0-plugins-good"),
        ("matroskamux", "gstreamer1.0-plugins-good"),
        ("v4l2src", "gstreamer1.0-plugins-good"),
        ("rtph264depay", "gstreamer1.0-plugins-good"),
        ("h264parse", "gstreamer1.0-plugins-bad"),
        ("videotestsrc", "gstreamer1.0-plugins-base"),
        ("videoconvert", "gstreamer1.0-plugins-base"),
        ("decodebin", "gstreamer1.0-plugins-base"),
        ("gst-launch-1.0", "gstreamer1.0-tools"),
        ("python3-gi", "python3-gi and gir1.2-gstreamer-1.0"),
        ("kvssink", '"Raspberry Pi": cmake -DBUILD_GSTREAMER_PLUGIN=ON'),
        ("kvssink", "GST_PLUGIN_PATH"),
        ("video/x-h266 decoder", "provides 'video/x-h266 decoder'"),
    ],
)
def test_install_hint(element: str, hint: str) -> None:
    assert hint in install_hint(element)


def test_fragment_start_is_the_anchor_plus_running_time_in_ms() -> None:
    assert fragment_start_ms(1_795_000_000_000, 2_013_316_161) == 1_795_000_002_013
    assert fragment_start_ms(1_795_000_000_000, 0) == 1_795_000_000_000
    assert fragment_start_ms(1_795_000_000_000, 999_999) == 1_795_000_000_000


def test_child_env_drops_the_agents_settings_and_speaks_english() -> None:
    env = child_env(
        {
            "PATH": "/usr/bin",
            "LANG": "de_DE.UTF-8",
            "LC_ALL": "de_DE.UTF-8",
            "FLEET_AGENT_SOURCE__PASSWORD": PASSWORD,
            "FLEET_AGENT_SOURCE__USERNAME": "viewer",
            "GST_PLUGIN_PATH": "/opt/kvs/build",
        }
    )
    assert env == {
        "PATH": "/usr/bin",
        "LANG": "de_DE.UTF-8",
        "LC_ALL": "C",
        "GST_PLUGIN_PATH": "/opt/kvs/build",
    }
