"""The postgres part: its command lines, the Prefect server's URL, its record, its probe."""

from __future__ import annotations

import stat
import struct
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from pydantic import ValidationError

from stack.supervisor.errors import StackError
from stack.supervisor.layout import PartName, StackLayout
from stack.supervisor.models import PrefectDatabase, StackRecord
from stack.supervisor.parts import probes, process_specs
from stack.supervisor.postgres import (
    PostgresInstall,
    PostgresProbe,
    RunAs,
    connection_url,
    create_database_script,
    ensure_password,
    find_bin_dir,
    initdb_argv,
    not_ready_reason,
    require_install,
    server_argv,
    startup_packet,
)

ROOT = Path("/srv/fleet/stack")
LAYOUT = StackLayout(ROOT)
BIN = Path("/usr/lib/postgresql/15/bin")
INSTALL = PostgresInstall(bin_dir=BIN)
AS_ROOT = PostgresInstall(bin_dir=BIN, run_as=RunAs(uid=101, gid=104, unshare="/usr/bin/unshare"))
SQLITE_RECORD = StackRecord(
    host="127.0.0.1",
    aws_port=15055,
    mqtt_port=18883,
    prefect_port=14200,
    processor_quota=3,
    stack_dir=ROOT,
    ca_file=LAYOUT.ca_cert,
)
RECORD = SQLITE_RECORD.model_copy(
    update={"prefect_database": PrefectDatabase.POSTGRESQL, "postgres_port": 15432}
)
PASSWORD = "s3cr3t/with:odd@chars"


def test_the_server_listens_on_loopback_on_its_port_without_a_unix_socket() -> None:
    argv = server_argv(INSTALL, ROOT / "postgres/data", "127.0.0.1", 15432)

    assert argv == [
        str(BIN / "postgres"),
        *("-D", str(ROOT / "postgres/data")),
        *("-c", "listen_addresses=127.0.0.1"),
        *("-c", "port=15432"),
        *("-c", "unix_socket_directories="),
    ]


def test_initdb_takes_the_password_from_its_file_and_asks_scram_everywhere() -> None:
    argv = initdb_argv(INSTALL, ROOT / "postgres/data", ROOT / "postgres/password")

    assert argv[0] == str(BIN / "initdb")
    assert f"--pwfile={ROOT / 'postgres/password'}" in argv
    assert "--auth-host=scram-sha-256" in argv
    assert "--auth-local=scram-sha-256" in argv
    assert "--username=prefect" in argv
    assert not any("trust" in arg for arg in argv)


def test_as_root_both_run_unprivileged_in_a_user_namespace() -> None:
    for argv, binary in (
        (server_argv(AS_ROOT, ROOT / "postgres/data", "127.0.0.1", 15432), "postgres"),
        (initdb_argv(AS_ROOT, ROOT / "postgres/data", ROOT / "postgres/password"), "initdb"),
    ):
        separator = argv.index("--")
        assert argv[:separator] == [
            "/usr/bin/unshare",
            "--user",
            "--map-user=101",
            "--map-group=104",
            "--fork",
        ]
        assert argv[separator + 1] == str(BIN / binary)


def test_the_connection_url_is_asyncpg_on_loopback_with_the_password_quoted() -> None:
    url = connection_url(PASSWORD, "127.0.0.1", 15432)
    parts = urlsplit(url)

    assert parts.scheme == "postgresql+asyncpg"
    assert (parts.hostname, parts.port, parts.path) == ("127.0.0.1", 15432, "/prefect")
    assert parts.username == "prefect"
    assert parts.password is not None
    assert unquote(parts.password) == PASSWORD


def test_the_prefect_server_gets_the_url_in_its_environment_not_on_its_command_line() -> None:
    caller = {"PATH": "/usr/bin", "PREFECT_API_DATABASE_CONNECTION_URL": "sqlite+aiosqlite:///x"}
    specs = process_specs(
        RECORD, LAYOUT, caller, "mosquitto", postgres=INSTALL, postgres_password=PASSWORD
    )

    server = specs[PartName.PREFECT]
    assert server.env["PREFECT_API_DATABASE_CONNECTION_URL"] == connection_url(
        PASSWORD, "127.0.0.1", 15432
    )
    assert not any(PASSWORD in arg or "prefect:" in arg for arg in server.argv)
    assert not any(PASSWORD in arg for arg in specs[PartName.POSTGRES].argv)
    for part in (PartName.FLOWS, PartName.BRIDGE, PartName.POSTGRES, PartName.AWS):
        assert "PREFECT_API_DATABASE_CONNECTION_URL" not in specs[part].env, part


def test_the_postgres_part_runs_the_server_of_the_recorded_port() -> None:
    spec = process_specs(RECORD, LAYOUT, {}, "mosquitto", postgres=INSTALL)[PartName.POSTGRES]

    assert spec.argv == tuple(server_argv(INSTALL, LAYOUT.postgres_data_dir, "127.0.0.1", 15432))
    assert spec.log_file == ROOT / "logs/postgres.log"
    assert spec.pid_file == ROOT / "run/postgres.pid"
    assert probes(RECORD, LAYOUT)[PartName.POSTGRES] == PostgresProbe("127.0.0.1", 15432)


def test_on_sqlite_there_is_no_postgres_part_and_no_database_url() -> None:
    specs = process_specs(SQLITE_RECORD, LAYOUT, {}, "mosquitto", postgres=INSTALL)

    assert PartName.POSTGRES not in specs
    assert PartName.POSTGRES not in probes(SQLITE_RECORD, LAYOUT)
    assert "PREFECT_API_DATABASE_CONNECTION_URL" not in specs[PartName.PREFECT].env
    assert PartName.POSTGRES not in SQLITE_RECORD.ports()
    assert RECORD.ports()[PartName.POSTGRES] == 15432


def test_a_record_without_the_new_fields_is_sqlite() -> None:
    old = SQLITE_RECORD.model_dump(mode="json")
    del old["prefect_database"], old["postgres_port"]

    record = StackRecord.model_validate(old)

    assert record.prefect_database is PrefectDatabase.SQLITE
    assert not record.uses_postgres


@pytest.mark.parametrize(
    ("database", "port"), [(PrefectDatabase.POSTGRESQL, None), (PrefectDatabase.SQLITE, 15432)]
)
def test_a_record_has_a_postgres_port_exactly_with_postgresql(
    database: PrefectDatabase, port: int | None
) -> None:
    data = SQLITE_RECORD.model_dump(mode="json") | {
        "prefect_database": database.value,
        "postgres_port": port,
    }
    with pytest.raises(ValidationError):
        StackRecord.model_validate(data)


def test_the_startup_packet_is_protocol_3_with_user_and_database() -> None:
    packet = startup_packet("prefect", "prefect")

    assert struct.unpack("!I", packet[:4])[0] == len(packet)
    assert struct.unpack("!I", packet[4:8])[0] == 3 << 16
    assert packet[8:] == b"user\0prefect\0database\0prefect\0\0"


def _error(code: str, message: str) -> bytes:
    fields = b"SFATAL\0" + b"C" + code.encode() + b"\0M" + message.encode() + b"\0\0"
    return b"E" + struct.pack("!I", len(fields) + 4) + fields


@pytest.mark.parametrize(
    ("reply", "ready"),
    [
        (b"R\x00\x00\x00\x17\x00\x00\x00\nSCRAM-SHA-256\x00\x00", True),  # asks for a password
        (_error("28P01", "password authentication failed"), True),  # answering: up
        (_error("57P03", "the database system is starting up"), False),
        (b"", False),
        (b"N", False),
    ],
)
def test_readiness_is_decided_as_pg_isready_does(reply: bytes, ready: bool) -> None:
    assert (not_ready_reason(reply) is None) is ready


def test_not_ready_says_what_the_server_said() -> None:
    reply = _error("57P03", "the database system is starting up")
    assert not_ready_reason(reply) == "the database system is starting up"


def test_the_password_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    path = tmp_path / "postgres" / "password"

    first = ensure_password(path)

    assert len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_password(path) == first
    assert ensure_password(tmp_path / "other" / "password") != first


def _fake_install(root: Path, major: str, *binaries: str) -> Path:
    bin_dir = root / major / "bin"
    bin_dir.mkdir(parents=True)
    for name in binaries:
        (bin_dir / name).write_text("#!/bin/sh\n")
    return bin_dir


def test_missing_binaries_are_refused_naming_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(StackError, match=r"Debian package `postgresql`"):
        require_install(tmp_path / "data", root=tmp_path / "lib")

    bin_dir = _fake_install(tmp_path / "lib", "15", "postgres", "psql")
    with pytest.raises(StackError, match=rf"initdb not found in {bin_dir}"):
        require_install(tmp_path / "data", root=tmp_path / "lib")

    (bin_dir / "initdb").write_text("#!/bin/sh\n")
    assert require_install(tmp_path / "data", root=tmp_path / "lib").bin_dir == bin_dir


def test_the_newest_major_serves_a_new_cluster_and_its_own_an_existing_one(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    _fake_install(lib, "9", "postgres", "initdb")
    fifteen = _fake_install(lib, "15", "postgres", "initdb")
    sixteen = _fake_install(lib, "16", "postgres", "initdb")
    data = tmp_path / "data"

    assert find_bin_dir(data, root=lib) == sixteen
    data.mkdir()
    (data / "PG_VERSION").write_text("15\n")
    assert find_bin_dir(data, root=lib) == fifteen
    (data / "PG_VERSION").write_text("14\n")
    assert find_bin_dir(data, root=lib) is None


def test_the_database_is_created_only_when_missing() -> None:
    script = create_database_script("prefect")

    assert script.startswith("SELECT 'CREATE DATABASE prefect' WHERE NOT EXISTS")
    assert "datname = 'prefect'" in script
    assert script.rstrip().endswith("\\gexec")
    with pytest.raises(ValueError):
        create_database_script("prefect; DROP DATABASE postgres")
