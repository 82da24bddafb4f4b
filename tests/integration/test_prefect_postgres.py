"""The Prefect server on the stack's PostgreSQL: the two parts as `fleet up` starts them (the
same specs, probes and module), in a temporary stack home on free ports; a flow run created
through the API is stored in PostgreSQL, and `fleet down`'s fast shutdown stops the cluster."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from prefect import flow
from prefect.client.orchestration import PrefectClient

from cloud.settings import FleetSettings
from stack.supervisor import local_stack, postgres, processes
from stack.supervisor.errors import StackError
from stack.supervisor.health import PartCheck, wait_until_healthy
from stack.supervisor.layout import PartName, StackLayout
from stack.supervisor.models import PrefectDatabase, StackRecord
from stack.supervisor.parts import probes, process_specs
from stack.supervisor.processes import ProcessSpec
from tests.support.ports import free_ports

# Ceilings, not delays: a cold Prefect server migrates a new database as it starts.
POSTGRES_TIMEOUT_S = 30.0
PREFECT_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Running:
    record: StackRecord
    layout: StackLayout
    password: str
    install: postgres.PostgresInstall
    specs: dict[PartName, ProcessSpec]


@flow(name="stored-in-postgres")
def stored_in_postgres() -> None:
    """Only registered: the test creates a run of it and reads it back."""


def _record(layout: StackLayout) -> StackRecord:
    postgres_port, prefect_port, aws_port, mqtt_port = free_ports(4)
    return StackRecord(
        host="127.0.0.1",
        aws_port=aws_port,
        mqtt_port=mqtt_port,
        prefect_port=prefect_port,
        processor_quota=1,
        stack_dir=layout.root,
        ca_file=layout.ca_cert,
        prefect_database=PrefectDatabase.POSTGRESQL,
        postgres_port=postgres_port,
    )


@contextmanager
def _postgres_part(root: Path) -> Iterator[Running]:
    """The cluster created and started as `fleet up` does; stopped on the way out."""
    layout = StackLayout(root)
    layout.root.mkdir(mode=0o700)
    record = _record(layout)
    password = postgres.ensure_password(layout.postgres_password_file)
    install = postgres.require_install(layout.postgres_data_dir)
    assert postgres.ensure_cluster(install, layout.postgres_data_dir, layout.postgres_password_file)
    specs = process_specs(
        record, layout, os.environ, "mosquitto", postgres=install, postgres_password=password
    )
    spec = specs[PartName.POSTGRES]
    try:
        pid = processes.start(spec)
        wait_until_healthy([_check(PartName.POSTGRES, record, spec, pid)], POSTGRES_TIMEOUT_S)
        yield Running(record, layout, password, install, specs)
    finally:
        postgres.stop(spec, layout.postgres_data_dir, STOP_TIMEOUT_S)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """PostgreSQL with the Prefect database, and a Prefect server on it."""
    with _postgres_part(tmp_path_factory.mktemp("pg") / "stack") as pg:
        port = pg.record.postgres_port
        assert port is not None
        assert postgres.ensure_database(pg.install, pg.password, pg.record.host, port)
        assert not postgres.ensure_database(pg.install, pg.password, pg.record.host, port)
        spec = pg.specs[PartName.PREFECT]
        try:
            pid = processes.start(spec)
            wait_until_healthy([_check(PartName.PREFECT, pg.record, spec, pid)], PREFECT_TIMEOUT_S)
            yield pg
        finally:
            processes.stop(spec, timeout=STOP_TIMEOUT_S)


def _check(part: PartName, record: StackRecord, spec: ProcessSpec, pid: int) -> PartCheck:
    probe = probes(record, StackLayout(record.stack_dir))[part]
    return PartCheck(part.value, probe, spec.log_file, lambda: processes.alive(pid))


async def _create_and_read(api_url: str) -> tuple[uuid.UUID, str, str]:
    async with PrefectClient(api=api_url) as client:
        run = await client.create_flow_run(stored_in_postgres, name="pg-run")
        read = await client.read_flow_run(run.id)
        flow_ = await client.read_flow(read.flow_id)
    return read.id, read.name, flow_.name


def _psql(pg: Running, sql: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    """One query through psql over TCP, as the cluster's role; the password in its environment."""
    return subprocess.run(
        [
            pg.install.binary("psql"),
            *("--no-psqlrc", "--tuples-only", "--no-align"),
            *("--host", pg.record.host, "--port", str(pg.record.postgres_port)),
            *("--username", postgres.ROLE, "--dbname", postgres.DATABASE),
            *("--command", sql),
        ],
        env={"PGPASSWORD": password or pg.password, "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_flow_run_created_through_the_api_is_stored_in_postgresql(running: Running) -> None:
    run_id, name, flow_name = asyncio.run(_create_and_read(running.record.prefect_api_url))

    assert (name, flow_name) == ("pg-run", "stored-in-postgres")
    stored = _psql(running, f"SELECT name FROM flow_run WHERE id = '{run_id}'")
    assert stored.returncode == 0, stored.stderr
    assert stored.stdout.strip() == "pg-run"
    assert not (running.layout.prefect_home / "prefect.db").exists()  # not on SQLite


def test_the_cluster_is_private_to_the_stack(running: Running) -> None:
    assert stat.S_IMODE(running.layout.postgres_password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(running.layout.postgres_data_dir.stat().st_mode) == 0o700
    refused = _psql(running, "SELECT 1", password="not-the-password")
    assert refused.returncode != 0
    assert "password authentication failed" in refused.stderr
    server = processes.find_process(running.specs[PartName.PREFECT])
    assert server is not None
    assert not any(running.password in arg for arg in server.cmdline())


def test_stop_is_a_fast_shutdown_that_leaves_nothing_running(tmp_path: Path) -> None:
    with _postgres_part(tmp_path / "stack") as pg:
        spec = pg.specs[PartName.POSTGRES]
        assert processes.is_running(spec)

        assert postgres.stop(spec, pg.layout.postgres_data_dir, STOP_TIMEOUT_S)

        assert not processes.is_running(spec)
        assert postgres.postmaster_pid(pg.layout.postgres_data_dir) is None
        log = spec.log_file.read_text(encoding="utf-8")
        assert "received fast shutdown request" in log
        assert "database system is shut down" in log
        assert not postgres.stop(spec, pg.layout.postgres_data_dir, STOP_TIMEOUT_S)


def test_up_without_the_binaries_fails_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "find_bin_dir", lambda data_dir, root=None: None)
    aws_port, mqtt_port, prefect_port = free_ports(3)
    settings = FleetSettings(
        home=tmp_path, aws_port=aws_port, mqtt_port=mqtt_port, prefect_port=prefect_port
    )
    layout = StackLayout(settings.stack_dir)

    with pytest.raises(StackError, match=r"install the Debian package `postgresql`"):
        local_stack.up(settings, prefect_database=PrefectDatabase.POSTGRESQL)

    assert not layout.stack_json.exists()
    assert not layout.run_dir.exists()
    assert not layout.postgres_dir.exists()
