"""RTSP camera credentials: from the environment or a file only its owner can read.

They reach `rtspsrc` over a pipe to the GStreamer child (see `device.pipeline`), never on a
command line. No message here ever holds the password.
"""

from __future__ import annotations

import os
import stat

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from device.config import SourceConfig


class RtspCredentialsError(ValueError):
    """The configured RTSP credentials cannot be used; the message says what to fix."""


class RtspCredentials(BaseModel):
    model_config = ConfigDict(frozen=True)

    user: str = Field(min_length=1)
    password: SecretStr


def load_rtsp_credentials(source: SourceConfig) -> RtspCredentials | None:
    """From source.username/source.password (FLEET_AGENT_SOURCE__USERNAME / __PASSWORD) or
    source.credentials_file (`user:password` on one line); None when neither is set."""
    from_env = source.username is not None or source.password is not None
    if from_env and source.credentials_file is not None:
        raise RtspCredentialsError(
            "RTSP credentials are set both in the environment (source.username/password) and "
            f"in source.credentials_file {source.credentials_file}; keep one"
        )
    if from_env:
        if not source.username or source.password is None:
            missing = "source.password" if source.username else "source.username"
            raise RtspCredentialsError(
                f"RTSP credentials from the environment need {missing} too "
                "(FLEET_AGENT_SOURCE__USERNAME and FLEET_AGENT_SOURCE__PASSWORD)"
            )
        return RtspCredentials(user=source.username, password=source.password)
    if source.credentials_file is None:
        return None
    return _read_file(source.credentials_file)


def _read_file(path: os.PathLike[str]) -> RtspCredentials:
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)  # a FIFO must not hang
    except FileNotFoundError as err:
        raise RtspCredentialsError(f"RTSP credentials file {name} does not exist") from err
    except OSError as err:
        raise RtspCredentialsError(
            f"cannot read RTSP credentials file {name}: {err.strerror}"
        ) from err
    try:
        info = os.fstat(fd)  # the file opened, not whatever the path names by now
        if not stat.S_ISREG(info.st_mode):
            raise RtspCredentialsError(f"RTSP credentials file {name} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise RtspCredentialsError(
                f"RTSP credentials file {name} is open to other users (mode {mode:04o}); "
                f"run `chmod 600 {name}`"
            )
        data = os.read(fd, 64 * 1024)
    finally:
        os.close(fd)
    try:
        text = data.decode()
    except UnicodeDecodeError as err:
        raise RtspCredentialsError(f"RTSP credentials file {name} is not UTF-8 text") from err
    lines = text.splitlines()
    user, sep, password = lines[0].partition(":") if len(lines) == 1 else ("", "", "")
    if not (user and sep and password):
        # Never quote the content: it is a password, however malformed.
        raise RtspCredentialsError(
            f"RTSP credentials file {name} must hold one line `user:password` "
            "(user and password not empty, no other lines)"
        )
    return RtspCredentials(user=user, password=SecretStr(password))
