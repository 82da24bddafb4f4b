"""The local stack's PostgreSQL: the Prefect server's database with `--prefect-database postgresql`.

Debian's `postgresql` package provides the binaries (`/usr/lib/postgresql/<major>/bin`). The
cluster lives in `<stack>/postgres/data`, is created once by `initdb` and runs as a part of its
own (`postgres` in the foreground, supervised like every other part) on 127.0.0.1 only, on its
own port, with no Unix socket.

Authentication is scram-sha-256 with a generated password kept in `<stack>/postgres/password`
(0600): `trust` on 127.0.0.1 would let every local account connect as the cluster's superuser,
and a superuser runs programs as the stack's owner (`COPY ... TO PROGRAM`). The password reaches
`initdb` as a file (`--pwfile`) and the Prefect server in its environment, never a command line.

PostgreSQL refuses to run as root. Run by root, `initdb` and `postgres` go through
`unshare --user`: inside a user namespace of their own they have an unprivileged uid (the
`postgres` account's, else nobody's) that stands for root outside, so the files stay root's and
the processes have no privilege.
"""

from __future__ import annotations

import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil

from stack.supervisor import processes
from stack.supervisor.errors import StackError
from stack.supervisor.health import ProbeFailedError
from stack.supervisor.processes import ProcessSpec

logger = logging.getLogger(__name__)

DEBIAN_PACKAGE = "postgresql"
BIN_ROOT = Path("/usr/lib/postgresql")
DEFAULT_MAJOR = "15"
ROLE = "prefect"
DATABASE = "prefect"
MAINTENANCE_DATABASE = "postgres"
NOBODY = 65534
BINARIES = ("initdb", "postgres", "psql")
INITDB_TIMEOUT_S = 120.0
CONNECT_TIMEOUT_S = 10.0
# Protocol 3.0, and the SQLSTATE of "the database system is starting up" (or shutting down).
_PROTOCOL_3 = 196608
_CANNOT_CONNECT_NOW = "57P03"


@dataclass(frozen=True)
class RunAs:
    """The uid and gid `initdb` and `postgres` have inside their user namespace (when root)."""

    uid: int
    gid: int
    unshare: str = "/usr/bin/unshare"


@dataclass(frozen=True)
class PostgresInstall:
    """Where the binaries are, and whether they run in a user namespace of their own."""

    bin_dir: Path
    run_as: RunAs | None = None

    def binary(self, name: str) -> str:
        return str(self.bin_dir / name)


# Pure: command lines, URLs and the readiness handshake.


def _wrapped(install: PostgresInstall, argv: Sequence[str]) -> list[str]:
    """`argv`, through `unshare --user` when run by root. `--fork` keeps `unshare` as the
    supervised process, so its command line stays the part's."""
    if install.run_as is None:
        return list(argv)
    run_as = install.run_as
    return [
        run_as.unshare,
        "--user",
        f"--map-user={run_as.uid}",
        f"--map-group={run_as.gid}",
        "--fork",
        "--",
        *argv,
    ]


def initdb_argv(install: PostgresInstall, data_dir: Path, password_file: Path) -> list[str]:
    """Create the cluster: its superuser `prefect`, password from the file, scram everywhere."""
    return _wrapped(
        install,
        [
            install.binary("initdb"),
            *("--pgdata", str(data_dir)),
            f"--username={ROLE}",
            f"--pwfile={password_file}",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
        ],
    )


def server_argv(install: PostgresInstall, data_dir: Path, host: str, port: int) -> list[str]:
    """The server in the foreground: on `host` only, on `port`, without a Unix socket."""
    return _wrapped(
        install,
        [
            install.binary("postgres"),
            *("-D", str(data_dir)),
            *("-c", f"listen_addresses={host}"),
            *("-c", f"port={port}"),
            *("-c", "unix_socket_directories="),
        ],
    )


def connection_url(password: str, host: str, port: int, database: str = DATABASE) -> str:
    """What Prefect's `PREFECT_API_DATABASE_CONNECTION_URL` takes (SQLAlchemy, asyncpg)."""
    return f"postgresql+asyncpg://{ROLE}:{quote(password, safe='')}@{host}:{port}/{database}"


def database_env(password: str, host: str, port: int) -> dict[str, str]:
    """What the Prefect server's environment gets to use this database."""
    return {"PREFECT_API_DATABASE_CONNECTION_URL": connection_url(password, host, port)}


def startup_packet(user: str, database: str) -> bytes:
    """A protocol 3.0 StartupMessage: length, version, then NUL-terminated key/value pairs."""
    body = struct.pack("!I", _PROTOCOL_3)
    for key, value in (("user", user), ("database", database)):
        body += key.encode() + b"\0" + value.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def not_ready_reason(reply: bytes) -> str | None:
    """None if the server's first reply says it accepts connections (as `pg_isready` decides:
    an authentication request, or any error but "cannot connect now"), else why not."""
    if not reply:
        return "the server closed the connection"
    kind = reply[:1]
    if kind == b"R":
        return None
    if kind != b"E":
        return f"unexpected reply {kind!r}"
    fields = {
        part[:1].decode(errors="replace"): part[1:].decode(errors="replace")
        for part in reply[5:].split(b"\0")
        if part
    }
    if fields.get("C") == _CANNOT_CONNECT_NOW:
        return fields.get("M", "the database system is starting up")
    return None


def major_version(data_dir: Path) -> str | None:
    """The major version a cluster was created with (`PG_VERSION`), None before `initdb`."""
    try:
        return (data_dir / "PG_VERSION").read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def _major_key(path: Path) -> tuple[int, str]:
    name = path.parent.parent.name
    return (int(name), name) if name.isdigit() else (-1, name)


# I/O: finding the binaries, the password, initdb, the database, stopping.


def find_bin_dir(data_dir: Path, root: Path = BIN_ROOT) -> Path | None:
    """The binaries of the cluster's major version, else of the newest installed one."""
    major = major_version(data_dir)
    if major is not None:
        wanted = root / major / "bin"
        return wanted if (wanted / "postgres").is_file() else None
    found = sorted(root.glob("*/bin/postgres"), key=_major_key)
    return found[-1].parent if found else None


def install_for(data_dir: Path, root: Path = BIN_ROOT) -> PostgresInstall:
    """The install the part's command line names; Debian's default place when none is found
    (`fleet status` and `fleet down` must still work; `require_install` refuses to start)."""
    bin_dir = find_bin_dir(data_dir, root) or root / DEFAULT_MAJOR / "bin"
    return PostgresInstall(bin_dir=bin_dir, run_as=_run_as())


def require_install(data_dir: Path, root: Path = BIN_ROOT) -> PostgresInstall:
    """The install, or a StackError naming the Debian package when the binaries are missing."""
    bin_dir = find_bin_dir(data_dir, root)
    missing = [name for name in BINARIES if bin_dir is None or not (bin_dir / name).is_file()]
    if missing:
        where = bin_dir or root / (major_version(data_dir) or "<major>") / "bin"
        raise StackError(
            f"PostgreSQL's {', '.join(missing)} not found in {where}: install the Debian "
            f"package `{DEBIAN_PACKAGE}` (apt-get install {DEBIAN_PACKAGE}), or run the Prefect "
            "server on SQLite (`fleet up --prefect-database sqlite`)"
        )
    install = install_for(data_dir, root)
    if install.run_as is not None and not Path(install.run_as.unshare).is_file():
        raise StackError(
            "PostgreSQL refuses to run as root and `unshare` (util-linux) was not found: "
            "run `fleet up` as an unprivileged user"
        )
    return install


def _run_as() -> RunAs | None:
    if os.geteuid() != 0:
        return None
    try:
        account = pwd.getpwnam("postgres")
        uid, gid = account.pw_uid, account.pw_gid
    except KeyError:
        uid, gid = NOBODY, NOBODY
    return RunAs(uid=uid, gid=gid, unshare=shutil.which("unshare") or "/usr/bin/unshare")


def ensure_password(path: Path) -> str:
    """The cluster's password: generated once, kept 0600."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    password = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
    return password


def ensure_cluster(install: PostgresInstall, data_dir: Path, password_file: Path) -> bool:
    """Run `initdb` unless the cluster exists; True if it was created now."""
    if major_version(data_dir) is not None:
        return False
    data_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    argv = initdb_argv(install, data_dir, password_file)
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=INITDB_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise StackError(f"initdb of {data_dir} failed: {err}") from err
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()
        raise StackError(f"initdb of {data_dir} failed ({done.returncode}):\n{output}")
    logger.info("created the PostgreSQL cluster in %s", data_dir)
    return True


def create_database_script(database: str) -> str:
    """psql input creating `database` unless it exists (`\\gexec` runs the query's result)."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", database):
        raise ValueError(f"not a plain database name: {database!r}")
    return (
        f"SELECT 'CREATE DATABASE {database}' "
        f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{database}')\\gexec\n"
    )


def ensure_database(
    install: PostgresInstall, password: str, host: str, port: int, database: str = DATABASE
) -> bool:
    """Create the Prefect database unless it exists; True if it was created now. The password
    goes in psql's environment (`PGPASSWORD`), not its command line."""
    argv = [
        install.binary("psql"),
        *("--no-psqlrc", "--set=ON_ERROR_STOP=1"),
        *("--host", host, "--port", str(port), "--username", ROLE),
        *("--dbname", MAINTENANCE_DATABASE),
    ]
    env = {"PATH": os.environ.get("PATH", ""), "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"}
    try:
        done = subprocess.run(
            argv,
            input=create_database_script(database),
            capture_output=True,
            text=True,
            env=env,
            timeout=CONNECT_TIMEOUT_S * 3,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise StackError(f"cannot create the database {database}: {err}") from err
    if done.returncode != 0:
        raise StackError(
            f"cannot create the database {database} on {host}:{port}: {done.stderr.strip()}"
        )
    created = "CREATE DATABASE" in done.stdout
    if created:
        logger.info("created the database %s", database)
    return created


def postmaster_pid(data_dir: Path) -> int | None:
    """The running server's pid, from the first line of `postmaster.pid`."""
    try:
        first = (data_dir / "postmaster.pid").read_text(encoding="utf-8").split("\n", 1)[0]
    except FileNotFoundError:
        return None
    return int(first) if first.strip().isdigit() else None


def stop(spec: ProcessSpec, data_dir: Path, timeout: float) -> bool:
    """Fast shutdown (SIGINT to the server: sessions rolled back, a clean checkpoint), then the
    part's usual stop for whatever is left; True if it was running."""
    leader = processes.find_process(spec)
    if leader is None:
        return processes.stop(spec, timeout)
    pid = postmaster_pid(data_dir)
    if pid is not None and _belongs_to(pid, leader):
        logger.info("stopping postgres (pid %d): fast shutdown", pid)
        try:
            os.kill(pid, signal.SIGINT)
            psutil.Process(pid).wait(timeout)
        except (psutil.NoSuchProcess, ProcessLookupError):
            pass
        except psutil.TimeoutExpired:
            logger.warning("postgres did not shut down within %.0f s", timeout)
    processes.stop(spec, timeout)
    return True


def _belongs_to(pid: int, leader: psutil.Process) -> bool:
    """The postmaster is the part's process, or its child under `unshare --fork`."""
    if pid == leader.pid:
        return True
    try:
        return any(child.pid == pid for child in leader.children())
    except psutil.NoSuchProcess:
        return False


@dataclass(frozen=True)
class PostgresProbe:
    """Asks the server what `pg_isready` asks: does it accept connections (no login needed)."""

    host: str
    port: int

    def check(self, timeout: float) -> None:
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout) as conn:
                conn.sendall(startup_packet(ROLE, DATABASE))
                reply = conn.recv(1024)
        except OSError as err:
            raise ProbeFailedError(f"PostgreSQL on {self.host}:{self.port}: {err}") from err
        reason = not_ready_reason(reply)
        if reason is not None:
            raise ProbeFailedError(f"PostgreSQL on {self.host}:{self.port}: {reason}")
