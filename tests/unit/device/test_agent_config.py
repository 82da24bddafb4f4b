"""agent.toml plus FLEET_AGENT_ environment overrides: what wins, and errors that name the field."""

from pathlib import Path

import pytest

from device.config import AgentConfigError, SourceKind, load_agent_config

TOML = """camera_id = "porch"
[mqtt]
endpoint = "broker.local"
client_id = "porch"
[aws]
region = "eu-west-1"
credentials_endpoint = "c.local"
role_alias = "fleet-kvs"
[sink]
kind = "local"
stream_name = "porch"
fragment_dir = "fragments"
"""


@pytest.fixture
def toml(tmp_path: Path) -> Path:
    path = tmp_path / "bundle" / "agent.toml"
    path.parent.mkdir()
    path.write_text(TOML)
    return path


def test_the_environment_overrides_the_file_at_any_depth(toml: Path) -> None:
    config = load_agent_config(
        toml,
        {
            "FLEET_AGENT_MQTT__PORT": "8884",
            "FLEET_AGENT_SOURCE__KIND": "v4l2",
            "FLEET_AGENT_SOURCE__DEVICE": "/dev/video0",
            "FLEET_AGENT_HEALTH_INTERVAL_SECONDS": "5",
            "fleet_agent_motion__sensitivity": "0.8",  # names are case-insensitive
            "OTHER": "ignored",
        },
    )
    assert config.mqtt.port == 8884 and config.mqtt.endpoint == "broker.local"
    assert config.source.kind is SourceKind.V4L2 and config.source.device == Path("/dev/video0")
    assert config.health_interval_seconds == 5 and config.motion.sensitivity == 0.8


def test_relative_paths_are_the_bundles(toml: Path) -> None:
    config = load_agent_config(toml, {"FLEET_AGENT_STATE_DIR": "/var/lib/camera-fleet"})
    assert config.mqtt.key == toml.parent / "private.pem.key"
    assert config.sink.fragment_dir == toml.parent / "fragments"
    assert config.state_dir == Path("/var/lib/camera-fleet")


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"FLEET_AGENT_MQTT__PORT": "99999"}, "mqtt.port (from FLEET_AGENT_MQTT__PORT)"),
        ({"FLEET_AGENT_MQTT__PROT": "1"}, "mqtt.prot (from FLEET_AGENT_MQTT__PROT)"),
        ({"FLEET_AGENT_SOURCE__KIND": "rtsp"}, "needs source.uri"),
    ],
)
def test_a_bad_environment_value_is_named(toml: Path, environ: dict[str, str], named: str) -> None:
    with pytest.raises(AgentConfigError) as caught:
        load_agent_config(toml, environ)
    assert named in str(caught.value) and str(toml) in str(caught.value)


def test_a_bad_file_is_named(toml: Path) -> None:
    toml.write_text(TOML.replace('client_id = "porch"', "client_id = porch"))
    with pytest.raises(AgentConfigError, match="not valid TOML"):
        load_agent_config(toml, {})
    toml.write_text(TOML.replace('region = "eu-west-1"\n', ""))
    with pytest.raises(AgentConfigError, match=r"aws\.region: Field required"):
        load_agent_config(toml, {})
    with pytest.raises(AgentConfigError, match="does not exist"):
        load_agent_config(toml.with_name("missing.toml"), {})
