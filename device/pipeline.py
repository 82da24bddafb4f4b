"""The GStreamer pipeline of a camera host, built from the agent's config. Pure: no I/O.

The child runs `gst-launch-1.0 -m -v -e <tokens>` in the environment `child_env` gives, or, when
an RTSP password must reach `rtspsrc`, `gst_child.py` fed the description and the password over
stdin: no command line, environment or description holds a secret. Elements the agent relies on:
`src`; `motion` (motioncells); `meter` (an `identity` just before the sink: one `last-message`
line per encoded buffer, for fps, bitrate, dropped frames and stalls); `kvs` (kvssink) or `store`
(splitmuxsink, Matroska: a fragment cut short by SIGKILL still plays). Every motion branch starts
with a leaky queue, so a slow detector drops its own frames, never the recording's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from device.config import ENV_PREFIX, AgentConfig, SinkKind, SourceKind
from device.rtsp_credentials import RtspCredentials

GST_CHILD = Path(__file__).resolve().with_name("gst_child.py")
# -X: leave out -v lines the agent does not read: every pad's caps (some over 1 kB, again at
# each fragment) and splitmuxsink's queue growing. The meter's last-message lines stay; -m still
# prints every property-notify message, whatever -X says.
GST_LAUNCH_OPTIONS = ("-m", "-v", "-e", "-X", "caps", "-X", "max-size-buffers")
# The rtsp motion branch queues compressed video: dropping H.264 corrupts the pictures after the
# drop, so it only drops when the detector lags this far behind.
_RTSP_MOTION_QUEUE_NS = 2_000_000_000

PropValue = str | int | float | bool | Path


class PipelinePlan(BaseModel):
    """What the supervisor runs. `argv`, `description` and `repr` never hold a secret."""

    model_config = ConfigDict(frozen=True)

    argv: tuple[str, ...]
    # JSON for gst_child.py (description and credentials), else None. Kept out of repr.
    stdin: bytes | None = Field(default=None, repr=False)
    description: str
    required_elements: tuple[str, ...]
    fragment_dir: Path | None


@dataclass(frozen=True)
class _Element:
    factory: str
    props: Mapping[str, PropValue] = field(default_factory=dict)

    def tokens(self) -> list[str]:
        return [self.factory, *(f"{k}={_value(v)}" for k, v in self.props.items())]


@dataclass(frozen=True)
class _Raw:
    """A token taken as is: caps (`video/x-raw,...`) or a branch start (`t.`)."""

    text: str

    def tokens(self) -> list[str]:
        return [self.text]


_Item = _Element | _Raw


def build_pipeline(
    config: AgentConfig, run_dir: Path, credentials: RtspCredentials | None = None
) -> PipelinePlan:
    """The child's command for this config; `run_dir` receives a local sink's fragments."""
    if credentials is not None and config.source.kind is not SourceKind.RTSP:
        raise ValueError(
            f"credentials given for a {config.source.kind.value!r} source; only rtsp uses them"
        )
    branches = _branches(config, run_dir)
    tokens = [token for branch in branches for token in _chain(branch)]
    description = " ".join(tokens)
    required = _required([item for branch in branches for item in branch], config.sink.kind)
    fragment_dir = run_dir if config.sink.kind is SinkKind.LOCAL else None
    if credentials is None:
        return PipelinePlan(
            argv=(config.pipeline.gst_launch, *GST_LAUNCH_OPTIONS, *tokens),
            description=description,
            required_elements=required,
            fragment_dir=fragment_dir,
        )
    secrets = {"user-id": credentials.user, "user-pw": credentials.password.get_secret_value()}
    request = {
        "description": description,
        "secret_properties": {"src": secrets},
        # The child gives up on EOS by itself just before the supervisor would kill it.
        "eos_timeout_seconds": max(1.0, config.pipeline.stop_timeout_seconds - 1.0),
    }
    return PipelinePlan(
        argv=(config.pipeline.gi_python, str(GST_CHILD)),
        stdin=json.dumps(request).encode(),
        description=description,
        required_elements=required,
        fragment_dir=fragment_dir,
    )


def _branches(config: AgentConfig, run_dir: Path) -> list[list[_Item]]:
    """The pipeline as chains of linked items; a tee's branches start with `t.`."""
    head = _source_chain(config)
    record: list[_Item]
    motion_head: list[_Item]
    if config.source.kind is SourceKind.RTSP:
        head += [_Element("h264parse"), _Raw("video/x-h264,stream-format=avc,alignment=au")]
        record = [_Element("queue"), _meter(), _sink(config, run_dir)]
        leaky = {"max-size-buffers": 0, "max-size-bytes": 0, "max-size-time": _RTSP_MOTION_QUEUE_NS}
        motion_head = [
            _Element("queue", {"leaky": "downstream", **leaky}),
            _Element("avdec_h264", {"output-corrupt": False}),  # broken pictures look like motion
        ]
    else:
        head += [_Element("videoconvert"), _Raw("video/x-raw,format=I420")]
        record = [_Element("queue"), *_encoder(config), _meter(), _sink(config, run_dir)]
        motion_head = [_Element("queue", {"leaky": "downstream", "max-size-buffers": 2})]
    if not config.motion.enabled:
        return [[*head, *record]]
    tee = _Element("tee", {"name": "t"})
    return [[*head, tee], [_Raw("t."), *record], [_Raw("t."), *motion_head, *_motion(config)]]


def child_env(base: Mapping[str, str]) -> dict[str, str]:
    """The child's environment: the agent's without its own settings (FLEET_AGENT_SOURCE__PASSWORD
    among them), in the C locale: gst-launch translates the messages the parser reads."""
    env = {k: v for k, v in base.items() if not k.upper().startswith(ENV_PREFIX)}
    env["LC_ALL"] = "C"
    return env


def fragment_start_ms(anchor_ms: int, running_time_ns: int) -> int:
    """Producer timestamp (ms since the epoch) of a pipeline running time.

    `anchor_ms` is the wall clock when the pipeline went to PLAYING, which is running time 0
    for a live pipeline; splitmuxsink's fragment messages and motioncells' timestamps are
    running times in nanoseconds.
    """
    return anchor_ms + running_time_ns // 1_000_000


# Where an element comes from, on Debian/Ubuntu (and Raspberry Pi OS).
_PACKAGES = {
    "gstreamer1.0-tools": ("gst-launch-1.0", "gst-inspect-1.0"),
    "libgstreamer1.0-0": (
        "queue",
        "tee",
        "identity",
        "fakesink",
        "filesrc",
        "filesink",
        "clocksync",
    ),
    "gstreamer1.0-plugins-base": (
        "videotestsrc",
        "videoconvert",
        "videoscale",
        "videorate",
        "decodebin",
        "uridecodebin",
    ),
    "gstreamer1.0-plugins-good": (
        "rtspsrc",
        "rtph264depay",
        "splitmuxsink",
        "matroskamux",
        "matroskademux",
        "v4l2src",
        "qtdemux",
    ),
    "gstreamer1.0-plugins-bad": ("h264parse",),
    "gstreamer1.0-plugins-ugly": ("x264enc",),
    "gstreamer1.0-libav": ("avdec_h264",),
    "gstreamer1.0-opencv": ("motioncells",),
}
_PACKAGE_OF = {element: package for package, names in _PACKAGES.items() for element in names}
_KVSSINK_HINT = (
    "build the GStreamer plugin of the Kinesis Video Streams producer SDK "
    "(github.com/awslabs/amazon-kinesis-video-streams-producer-sdk-cpp, README section "
    '"Raspberry Pi": cmake -DBUILD_GSTREAMER_PLUGIN=ON, then make), and set GST_PLUGIN_PATH '
    "to its build directory and LD_LIBRARY_PATH to its open-source/local/lib"
)


def install_hint(element: str) -> str:
    """What to install for a missing element (or GStreamer tool)."""
    if element == "kvssink":
        return _KVSSINK_HINT
    if element == "python3-gi":  # pipeline.gi_python, which runs gst_child.py
        return "install the Debian packages python3-gi and gir1.2-gstreamer-1.0"
    package = _PACKAGE_OF.get(element)
    if package is None:
        return (
            f"install the GStreamer plugin package that provides {element!r} "
            "(apt-cache search gstreamer1.0), then check with gst-inspect-1.0 " + element
        )
    return f"install the Debian package {package} (apt-get install {package})"


def _source_chain(config: AgentConfig) -> list[_Item]:
    source = config.source
    size = f"width={source.width},height={source.height},framerate={source.fps}/1"
    match source.kind:
        case SourceKind.TEST:
            src = _Element(
                "videotestsrc", {"name": "src", "is-live": True, "pattern": source.pattern}
            )
            return [src, _Raw(f"video/x-raw,{size},pixel-aspect-ratio=1/1")]
        case SourceKind.V4L2:
            assert source.device is not None  # SourceConfig requires it
            return [
                _Element("v4l2src", {"name": "src", "device": source.device}),
                _Raw(f"video/x-raw,{size}"),
            ]
        case SourceKind.FILE:
            assert source.path is not None
            return [
                _Element("filesrc", {"name": "src", "location": source.path}),
                _Element("decodebin"),
                _Element("videoconvert"),
                _Element("videoscale"),
                _Element("videorate"),
                _Raw(f"video/x-raw,{size},pixel-aspect-ratio=1/1"),
                _Element("clocksync"),  # real time, like a camera
            ]
        case SourceKind.RTSP:
            assert source.uri is not None
            src = _Element(
                "rtspsrc",
                {
                    "name": "src",
                    "location": source.uri,
                    "protocols": "tcp",
                    "latency": source.rtsp_latency_ms,
                },
            )
            return [src, _Element("rtph264depay")]
    raise ValueError(f"unknown source kind {source.kind!r}")


def _encoder(config: AgentConfig) -> list[_Item]:
    source = config.source
    x264 = _Element(
        "x264enc",
        {
            "bframes": 0,
            "key-int-max": source.keyframe_interval,
            "bitrate": source.bitrate_kbps,
            "tune": "zerolatency",
            "speed-preset": "veryfast",
        },
    )
    caps = "video/x-h264,stream-format=avc,alignment=au,profile=baseline"
    return [x264, _Element("h264parse"), _Raw(caps)]


def _meter() -> _Element:
    return _Element("identity", {"name": "meter", "silent": False})


def _motion(config: AgentConfig) -> list[_Item]:
    motion = config.motion
    caps = f"video/x-raw,width={motion.width},height={motion.height},framerate={motion.fps}/1"
    detector = _Element(
        "motioncells",
        {
            "name": "motion",
            "sensitivity": motion.sensitivity,
            "gap": motion.gap_seconds,
            "threshold": motion.min_area,
            "minimummotionframes": motion.min_frames,
            "postallmotion": False,
            "display": False,
        },
    )
    return [
        _Element("videorate"),  # rate first: only the kept frames are scaled
        _Element("videoscale"),
        _Raw(caps),
        _Element("videoconvert"),
        detector,
        _Element("fakesink", {"sync": False, "async": False}),
    ]


def _sink(config: AgentConfig, run_dir: Path) -> _Element:
    sink = config.sink
    if sink.kind is SinkKind.LOCAL:
        # splitmuxsink's location is a printf pattern: a '%' of the directory must be doubled.
        pattern = str(run_dir).replace("%", "%%") + "/%05d.mkv"
        return _Element(
            "splitmuxsink",
            {
                "name": "store",
                "muxer-factory": "matroskamux",
                "max-size-time": sink.fragment_seconds * 1_000_000_000,
                "send-keyframe-requests": True,
                "location": pattern,
            },
        )
    return _Element(
        "kvssink",
        {
            "name": "kvs",
            "stream-name": sink.stream_name,
            "storage-size": sink.storage_size_mb,
            "aws-region": config.aws.region,
            # Teardown deletes the stream; a camera must not bring it back.
            "allow-create-stream": False,
            "iot-certificate": iot_certificate(config),
        },
    )


def iot_certificate(config: AgentConfig) -> str:
    """kvssink's `iot-certificate` GstStructure: the IoT credential provider, no static keys.

    Every field is typed `(string)`: kvssink refuses non-string fields, and an untyped
    `iot-thing-name=1234` would be parsed as an integer.
    """
    fields = {
        "endpoint": config.aws.credentials_endpoint,
        "cert-path": str(config.mqtt.cert),
        "key-path": str(config.mqtt.key),
        "ca-path": str(config.mqtt.ca),
        "role-aliases": config.aws.role_alias,
        "iot-thing-name": config.camera_id,
    }
    return "iot-certificate," + ",".join(
        f"{k}=(string){_structure_string(v)}" for k, v in fields.items()
    )


# Values gst-launch takes unquoted; anything else is quoted.
_BARE_VALUE = re.compile(r"[A-Za-z0-9_./:%+-]+")
# Strings a GstStructure takes unquoted (gst_structure's "simple string" characters).
_BARE_STRUCTURE_STRING = re.compile(r"[A-Za-z0-9_./:+-]+")


def _value(value: PropValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if "\n" in text or "\r" in text or "\0" in text:
        raise ValueError(f"a pipeline property value cannot hold a line break: {text!r}")
    if _BARE_VALUE.fullmatch(text):
        return text
    return '"' + _escape(text) + '"'


def _structure_string(text: str) -> str:
    if _BARE_STRUCTURE_STRING.fullmatch(text):
        return text
    return '"' + _escape(text) + '"'


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _chain(items: Sequence[_Item]) -> list[str]:
    tokens: list[str] = []
    for i, item in enumerate(items):
        if i:
            tokens.append("!")
        tokens.extend(item.tokens())
    return tokens


def _required(items: Sequence[_Item], sink: SinkKind) -> tuple[str, ...]:
    names = [item.factory for item in items if isinstance(item, _Element)]
    if sink is SinkKind.LOCAL:
        names += ["matroskamux"]  # created by splitmuxsink from muxer-factory
    return tuple(dict.fromkeys(names))
