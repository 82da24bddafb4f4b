"""The local MQTT broker's configuration: a typed model rendered through `infra/mosquitto/`.

`render_config` is pure (model and template text in, config text out); `write_broker_files`
is the I/O edge that puts the rendered config, the ACL and the certificates in place.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
from functools import cache
from pathlib import Path
from string import Template

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cloud.settings import LOOPBACK
from stack.broker.shared_subscriptions import bootstrap_config, config_admin

logger = logging.getLogger(__name__)

TEMPLATE_PATH = (
    Path(__file__).resolve().parents[2] / "infra" / "mosquitto" / "mosquitto.conf.template"
)
ACL_HEADER = (
    "# mosquitto ACL of the local stack, keyed by certificate CN (use_identity_as_username).\n"
    "# The local AWS endpoint rewrites this file whenever IoT bindings change.\n"
)


class MosquittoConfig(BaseModel):
    """Everything the rendered `mosquitto.conf` depends on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = LOOPBACK
    port: int = Field(ge=1, le=65535)
    user: str = Field(description="The user the broker runs as when started as root.")
    ca_file: Path
    cert_file: Path
    key_file: Path
    acl_file: Path
    pid_file: Path
    log_file: Path
    persistence_dir: Path
    dynsec_plugin: Path = Field(description="mosquitto_dynamic_security.so (Debian's mosquitto).")
    dynsec_file: Path
    max_queued_messages: int = Field(1000, ge=1)
    max_inflight_messages: int = Field(20, ge=1)

    @field_validator(
        "ca_file",
        "cert_file",
        "key_file",
        "acl_file",
        "pid_file",
        "log_file",
        "persistence_dir",
        "dynsec_plugin",
        "dynsec_file",
    )
    @classmethod
    def _absolute_single_token(cls, value: Path) -> Path:
        # mosquitto reads one directive per line and splits on spaces: a path with whitespace
        # would be cut short, and a newline would inject a directive.
        if not value.is_absolute():
            raise ValueError(f"mosquitto needs an absolute path, got {value}")
        if any(char.isspace() for char in str(value)):
            raise ValueError(f"mosquitto paths cannot contain whitespace: {str(value)!r}")
        return value

    @field_validator("host", "user")
    @classmethod
    def _single_token(cls, value: str) -> str:
        if not value or any(char.isspace() for char in value):
            raise ValueError(f"must be one non-empty word, got {value!r}")
        return value


@cache
def load_template() -> str:
    return TEMPLATE_PATH.read_text(encoding="utf-8")


def render_config(config: MosquittoConfig, template: str) -> str:
    """Fill the template; a placeholder the model does not provide raises KeyError."""
    values = {name: str(value) for name, value in config.model_dump().items()}
    return Template(template).substitute(values)


def current_user() -> str:
    """The user the broker should run as: the owner of the stack (see the template's comment)."""
    return pwd.getpwuid(os.geteuid()).pw_name


def ensure_acl_file(path: Path) -> None:
    """mosquitto refuses to start without its ACL file: create an empty one (no access)."""
    if not path.exists():
        _write_private(path, ACL_HEADER)
        logger.info("created an empty broker ACL at %s", path)


def ensure_dynsec_file(path: Path, admin_username: str) -> None:
    """The guard's initial state, naming the stack's admin identity. Once the broker runs, the
    plugin owns the file (it saves every change): only a missing file or another admin is redone.
    """
    if path.exists():
        try:
            if config_admin(json.loads(path.read_text(encoding="utf-8"))) == admin_username:
                return
        except ValueError:
            logger.warning("%s is not JSON; writing it again", path)
    _write_private(path, json.dumps(bootstrap_config(admin_username), indent=2) + "\n")
    logger.info("wrote the broker's dynamic-security state %s", path)


def write_config(config: MosquittoConfig, path: Path) -> None:
    """Render and write the config, leaving the file alone when it is already up to date."""
    text = render_config(config, load_template())
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    _write_private(path, text)
    logger.info("wrote broker config %s", path)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    tmp.replace(path)
