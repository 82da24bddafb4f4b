"""The broker config rendered from infra/mosquitto/ has the directives the stack relies on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from stack.broker.mosquitto import (
    MosquittoConfig,
    ensure_acl_file,
    ensure_dynsec_file,
    load_template,
    render_config,
)

STATE = Path("/srv/fleet/stack")


def _config(**overrides: object) -> MosquittoConfig:
    values: dict[str, object] = {
        "port": 18883,
        "user": "alice",
        "ca_file": STATE / "ca/ca.pem",
        "cert_file": STATE / "mosquitto/server.pem",
        "key_file": STATE / "mosquitto/server.key",
        "acl_file": STATE / "mosquitto/acl",
        "pid_file": STATE / "run/mosquitto.pid",
        "log_file": STATE / "logs/mosquitto.log",
        "persistence_dir": STATE / "mosquitto/data",
        "dynsec_plugin": Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"),
        "dynsec_file": STATE / "mosquitto/dynamic-security.json",
    }
    values.update(overrides)
    return MosquittoConfig.model_validate(values)


def _directives(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_rendered_config_has_one_mutual_tls_listener_on_loopback() -> None:
    lines = _directives(render_config(_config(), load_template()))

    assert [line for line in lines if line.startswith("listener")] == ["listener 18883 127.0.0.1"]
    for expected in [
        "per_listener_settings false",
        "allow_anonymous false",
        "require_certificate true",
        "use_identity_as_username true",
        f"cafile {STATE}/ca/ca.pem",
        f"certfile {STATE}/mosquitto/server.pem",
        f"keyfile {STATE}/mosquitto/server.key",
        f"acl_file {STATE}/mosquitto/acl",
        f"pid_file {STATE}/run/mosquitto.pid",
        f"log_dest file {STATE}/logs/mosquitto.log",
        f"persistence_location {STATE}/mosquitto/data/",
        "persistence true",
        "connection_messages true",
        "user alice",
        "max_queued_messages 1000",
        "max_inflight_messages 20",
        "plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
        f"plugin_opt_config_file {STATE}/mosquitto/dynamic-security.json",
    ]:
        assert expected in lines
    assert {line for line in lines if line.startswith("log_type")} == {
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
    }


def test_every_template_placeholder_is_filled() -> None:
    assert "${" not in render_config(_config(), load_template())


def test_unknown_placeholder_in_a_template_fails_loudly() -> None:
    with pytest.raises(KeyError):
        render_config(_config(), "listener ${port}\nbind_interface ${interface}\n")


@pytest.mark.parametrize(
    "overrides",
    [
        {"acl_file": Path("relative/acl")},
        {"log_file": Path("/home/a user/fleet/mosquitto.log")},
        {"cafile": STATE / "ca.pem"},
        {"key_file": Path("/srv/x.key\nallow_anonymous true")},
        {"user": "root\nallow_anonymous true"},
        {"port": 0},
        {"max_queued_messages": 0},
    ],
)
def test_config_refuses_values_mosquitto_would_misread(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _config(**overrides)


def test_acl_file_is_created_private_and_empty_of_rules(tmp_path: Path) -> None:
    acl = tmp_path / "mosquitto" / "acl"

    ensure_acl_file(acl)

    assert acl.stat().st_mode & 0o777 == 0o600
    assert _directives(acl.read_text()) == []


def test_dynsec_file_names_the_admin_and_defers_everything_else(tmp_path: Path) -> None:
    path = tmp_path / "dynamic-security.json"

    ensure_dynsec_file(path, "ad01")

    config = json.loads(path.read_text())
    assert path.stat().st_mode & 0o777 == 0o600
    assert set(config["defaultACLAccess"].values()) == {False}  # the plugin's "defer"
    assert [c["username"] for c in config["clients"]] == ["ad01"]
    acls = config["roles"][0]["acls"]
    assert {a["topic"] for a in acls} == {"$CONTROL/dynamic-security/#"}


def test_dynsec_file_the_broker_owns_is_left_alone_unless_the_admin_changed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dynamic-security.json"
    ensure_dynsec_file(path, "ad01")
    owned = json.loads(path.read_text())
    owned["clients"].append({"username": "c0ffee", "roles": []})
    path.write_text(json.dumps(owned))

    ensure_dynsec_file(path, "ad01")
    assert "c0ffee" in path.read_text()

    ensure_dynsec_file(path, "ad02")
    assert [c["username"] for c in json.loads(path.read_text())["clients"]] == ["ad02"]


def test_existing_acl_file_is_left_alone(tmp_path: Path) -> None:
    acl = tmp_path / "acl"
    acl.write_text("user abc\ntopic write fleet/cam/#\n")

    ensure_acl_file(acl)

    assert acl.read_text() == "user abc\ntopic write fleet/cam/#\n"
