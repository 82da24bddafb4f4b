"""RTSP credentials: environment or owner-only file; clear errors that never show the password."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from device.config import SourceConfig, load_agent_config
from device.rtsp_credentials import RtspCredentials, RtspCredentialsError, load_rtsp_credentials

SECRET = "s3cr:et pass"
URI = "rtsp://192.168.1.20/stream1"


def rtsp(**fields: object) -> SourceConfig:
    return SourceConfig.model_validate({"kind": "rtsp", "uri": URI, **fields})


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "rtsp credentials"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_none_configured_gives_none() -> None:
    assert load_rtsp_credentials(rtsp()) is None


def test_from_the_environment_through_the_agent_config(tmp_path: Path) -> None:
    toml = tmp_path / "agent.toml"
    toml.write_text(
        'camera_id = "porch"\n'
        '[mqtt]\nendpoint = "localhost"\nclient_id = "porch"\n'
        '[aws]\nregion = "eu-west-1"\ncredentials_endpoint = "c.local"\nrole_alias = "r"\n'
        f'[source]\nkind = "rtsp"\nuri = "{URI}"\n'
        '[sink]\nstream_name = "porch"\n'
    )
    environ = {"FLEET_AGENT_SOURCE__USERNAME": "viewer", "FLEET_AGENT_SOURCE__PASSWORD": SECRET}
    config = load_agent_config(toml, environ)
    credentials = load_rtsp_credentials(config.source)
    assert credentials == RtspCredentials(user="viewer", password=SecretStr(SECRET))
    assert SECRET not in repr(credentials)
    assert SECRET not in str(credentials)


@pytest.mark.parametrize(
    ("fields", "missing"),
    [({"username": "viewer"}, "source.password"), ({"password": SECRET}, "source.username")],
)
def test_half_the_environment_is_an_error(fields: dict[str, str], missing: str) -> None:
    with pytest.raises(RtspCredentialsError, match=missing) as caught:
        load_rtsp_credentials(rtsp(**fields))
    assert "FLEET_AGENT_SOURCE__PASSWORD" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_environment_and_file_together_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, f"viewer:{SECRET}\n")
    with pytest.raises(RtspCredentialsError, match="both") as caught:
        load_rtsp_credentials(rtsp(username="viewer", password=SECRET, credentials_file=path))
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("text", [f"viewer:{SECRET}\n", f"viewer:{SECRET}", f"viewer:{SECRET}\r\n"])
def test_from_an_owner_only_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    credentials = load_rtsp_credentials(rtsp(credentials_file=path))
    assert credentials is not None
    assert credentials.user == "viewer"
    assert credentials.password.get_secret_value() == SECRET  # split at the first colon


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_file_others_can_read_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path, f"viewer:{SECRET}\n", mode)
    with pytest.raises(RtspCredentialsError) as caught:
        load_rtsp_credentials(rtsp(credentials_file=path))
    message = str(caught.value)
    assert str(path) in message
    assert f"chmod 600 {path}" in message
    assert f"mode {mode:04o}" in message
    assert SECRET not in message


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "viewer-and-no-colon\n",
        "viewer\n",
        f":{SECRET}\n",
        "viewer:\n",
        f"viewer:{SECRET}\nsecond:line\n",
    ],
)
def test_a_malformed_file_is_refused_without_quoting_it(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RtspCredentialsError, match="one line `user:password`") as caught:
        load_rtsp_credentials(rtsp(credentials_file=path))
    message = str(caught.value)
    assert str(path) in message
    for part in ("viewer", "no-colon", "second", SECRET):
        assert part not in message


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "nope"
    with pytest.raises(RtspCredentialsError, match=f"{path} does not exist"):
        load_rtsp_credentials(rtsp(credentials_file=path))


def test_a_directory_is_not_a_credentials_file(tmp_path: Path) -> None:
    directory = tmp_path / "dir"
    directory.mkdir(mode=0o700)
    with pytest.raises(RtspCredentialsError, match="not a regular file"):
        load_rtsp_credentials(rtsp(credentials_file=directory))
