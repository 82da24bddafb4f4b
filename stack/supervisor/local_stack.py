"""`fleet up` / `fleet down` / `fleet status`: the local stack on loopback.

`up` is idempotent: a part whose process is running (checked by pid and command line) is left
alone, a crashed one is started again. The Prefect server, the slowest to start, goes first; the
AWS endpoint and the broker start while it migrates its database. Then the served flows, the MQTT
bridge (once its IoT identity is ensured), the results consumer (once the fleet-level
resources are ensured) and the analysis worker (which idles while the fleet has no analysis
queue), each waited for. State lives under `settings.stack_dir` and survives
`down` unless `wipe=True`.

With `prefect_database=postgresql` (kept in stack.json: a later `up` without it keeps it), a
PostgreSQL cluster in the stack's home is started first, and the Prefect server uses it.

`status`, `down` and `prefect_env` serve the CLI's quick commands: what only `up` needs (the CA,
the broker's files, AWS clients, the automations' declaration) is imported by `up`'s functions.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
from pydantic import ValidationError

from cloud.errors import ConflictError
from cloud.settings import LOOPBACK, FleetSettings
from stack.supervisor import postgres, processes
from stack.supervisor.errors import PortInUseError, StackError
from stack.supervisor.health import PartCheck, Probe, check_once, wait_until_healthy
from stack.supervisor.layout import PartName, StackLayout
from stack.supervisor.models import PartStatus, PrefectDatabase, StackRecord, StackStatus
from stack.supervisor.parts import prefect_client_env, probes, process_specs
from stack.supervisor.processes import ProcessSpec

if TYPE_CHECKING:
    from cloud.clients import AwsClients
    from stack.endpoint.ca import LocalCA

logger = logging.getLogger(__name__)

UP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
# Ceilings, not delays: a cold start imports Prefect and awscrt (seconds; more on a busy host).
BRIDGE_TIMEOUT_S = 60.0
RESULTS_TIMEOUT_S = 60.0
ANALYZER_TIMEOUT_S = 60.0
POSTGRES_TIMEOUT_S = 60.0
MOSQUITTO_SEARCH_PATH = "/usr/sbin:/usr/local/sbin:/usr/bin:/usr/local/bin"
DYNSEC_PLUGIN = "mosquitto_dynamic_security.so"
DYNSEC_SEARCH = ("/usr/lib/*-linux-gnu", "/usr/lib", "/usr/local/lib")
_PORT_SETTING = {
    PartName.AWS: "FLEET_AWS_PORT",
    PartName.MOSQUITTO: "FLEET_MQTT_PORT",
    PartName.PREFECT: "FLEET_PREFECT_PORT",
}
# Start order: Prefect first (slow cold start), then the AWS endpoint and the broker.
_SERVERS = (PartName.PREFECT, PartName.AWS, PartName.MOSQUITTO)
# Against a real AWS account only the orchestration runs here.
_AWS_TARGET_SERVERS = (PartName.PREFECT,)
_RUN_IT_YOURSELF = {
    PartName.BRIDGE: " (run `fleet bridge run`)",
    PartName.RESULTS: " (run `fleet results run`)",
    PartName.ANALYZER: " (run `fleet analyzer run`)",
}


def _servers(settings: FleetSettings) -> tuple[PartName, ...]:
    return _SERVERS if settings.is_local else _AWS_TARGET_SERVERS


def up(
    settings: FleetSettings,
    timeout: float = UP_TIMEOUT_S,
    prefect_database: PrefectDatabase | None = None,
) -> StackStatus:
    """Start every part that is not running and return once all of them answer.

    `prefect_database`: the Prefect server's database; None keeps the recorded one (SQLite for a
    new stack)."""
    from cloud.clients import AwsClients
    from flows.automations.declaration import declaration_path, load_declaration
    from stack.endpoint.ca import LocalCA

    # The served flows sync the automations in the background: a malformed declaration is
    # refused here, before anything starts, rather than only in their log.
    load_declaration(declaration_path(settings))
    layout = StackLayout(settings.stack_dir)
    _make_private_dir(settings.home)
    _make_private_dir(layout.root)
    record = _record_for_up(settings, layout, prefect_database)
    if record.uses_postgres:  # missing binaries are refused before anything is recorded or started
        postgres.require_install(layout.postgres_data_dir)
    _refuse_other_running_stack(layout, record)
    _write_record(layout, record)
    # The CA is created here, before the AWS endpoint starts: the two must not race to create it.
    ca = LocalCA.load_or_create(layout.ca_dir)
    if settings.is_local:  # the endpoint drives the broker's guard as this identity
        _ensure_admin_identity(layout, ca)
    password = _prepare_postgres(layout) if record.uses_postgres else None
    specs = _specs(record, layout, fleet_env(settings), password)
    part_probes = probes(record, layout)
    if password is not None:  # the Prefect server migrates its database as it starts
        _start_postgres(
            record, layout, specs[PartName.POSTGRES], part_probes[PartName.POSTGRES], password
        )
    servers = _servers(settings)
    started: dict[PartName, int] = {}
    for part in servers:
        spec = specs[part]
        if processes.is_running(spec):
            logger.info("%s is already running", part.value)
            continue
        _check_port_free(part, record.host, record.ports()[part])
        if part is PartName.MOSQUITTO:
            _prepare_broker(layout, record, ca)
        started[part] = processes.start(spec)
    wait_until_healthy(
        [_part_check(p, part_probes[p], specs[p], started.get(p)) for p in servers], timeout
    )
    _start_flows(specs[PartName.FLOWS])
    if settings.is_local:
        clients = AwsClients(settings)
        _start_bridge(clients, layout, specs[PartName.BRIDGE], part_probes[PartName.BRIDGE])
        _start_results(clients, layout, specs[PartName.RESULTS], part_probes[PartName.RESULTS])
        _start_analyzer(layout, specs[PartName.ANALYZER], part_probes[PartName.ANALYZER])
    result = status(settings)
    logger.info("local stack is up in %s", layout.root)
    return result


def down(settings: FleetSettings, wipe: bool = False) -> None:
    """Stop every part (in reverse start order); with `wipe`, delete the whole state directory."""
    layout = StackLayout(settings.stack_dir)
    stop(
        settings,
        PartName.ANALYZER,
        PartName.RESULTS,
        PartName.BRIDGE,
        PartName.FLOWS,
        PartName.MOSQUITTO,
        PartName.AWS,
        PartName.PREFECT,
        PartName.POSTGRES,
    )
    if wipe and layout.root.exists():
        shutil.rmtree(layout.root)
        logger.info("deleted the local stack's state in %s", layout.root)


def stop(settings: FleetSettings, *parts: PartName) -> None:
    """Stop these parts, in this order (a benchmark replaces the stack's bridge with its own)."""
    layout = StackLayout(settings.stack_dir)
    specs = _specs(_load_record(layout) or _record_from(settings, layout), layout)
    for part in parts:
        spec = specs.get(part)  # postgres has a part only when the stack uses it
        if spec is None:
            continue
        if part is PartName.POSTGRES:
            stopped = postgres.stop(spec, layout.postgres_data_dir, STOP_TIMEOUT_S)
        else:
            stopped = processes.stop(spec, timeout=STOP_TIMEOUT_S)
        if stopped:
            logger.info("stopped %s", part.value)


def status(settings: FleetSettings) -> StackStatus:
    """Where the stack's endpoints are and whether each part answers, from any process."""
    layout = StackLayout(settings.stack_dir)
    record = _load_record(layout) or _record_from(settings, layout)
    return StackStatus(
        aws_endpoint=record.aws_endpoint,
        mqtt=record.mqtt,
        prefect_api_url=record.prefect_api_url,
        prefect_ui_url=record.prefect_ui_url,
        prefect_database=record.prefect_database,
        stack_dir=layout.root,
        parts=_observe(settings, layout, record, _parts(record)),
    )


def check(settings: FleetSettings, parts: Sequence[PartName]) -> list[PartStatus]:
    """Only these parts, as `status` sees them: what a command needs before it starts."""
    layout = StackLayout(settings.stack_dir)
    record = _load_record(layout) or _record_from(settings, layout)
    return _observe(settings, layout, record, parts)


def _observe(
    settings: FleetSettings, layout: StackLayout, record: StackRecord, parts: Sequence[PartName]
) -> list[PartStatus]:
    specs = _specs(record, layout)
    part_probes = probes(record, layout)
    used = {*_servers(settings), PartName.FLOWS}
    if record.uses_postgres:
        used.add(PartName.POSTGRES)
    if settings.is_local:
        used.update((PartName.BRIDGE, PartName.RESULTS, PartName.ANALYZER))

    def observe(part: PartName) -> PartStatus:
        if part in used:
            return _part_status(part, specs[part], part_probes.get(part))
        return PartStatus(
            name=part,
            healthy=False,
            running=False,
            log_file=specs[part].log_file,
            skipped=True,
            detail="not used with the real AWS target" + _RUN_IT_YOURSELF.get(part, ""),
        )

    # Each probe waits on a socket or a file: asked together, the slowest one sets the time.
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        return list(pool.map(observe, parts))


def prefect_env(settings: FleetSettings) -> dict[str, str]:
    """The environment a process needs to talk to this stack's Prefect server."""
    layout = StackLayout(settings.stack_dir)
    record = _load_record(layout) or _record_from(settings, layout)
    return prefect_client_env(record, layout)


def _parts(record: StackRecord) -> tuple[PartName, ...]:
    """The stack's parts, in start order: postgres only when the Prefect server uses it."""
    return tuple(p for p in PartName if p is not PartName.POSTGRES or record.uses_postgres)


def _record_for_up(
    settings: FleetSettings, layout: StackLayout, database: PrefectDatabase | None
) -> StackRecord:
    """The record `up` works to: the database asked for, else the recorded one; PostgreSQL on
    its recorded port while that is usable (free, or its cluster's), else on a free one."""
    previous = _load_record(layout)
    if database is None:
        database = previous.prefect_database if previous is not None else PrefectDatabase.SQLITE
    if database is PrefectDatabase.SQLITE:
        return _record_from(settings, layout)
    return _record_from(settings, layout, database, _postgres_port(previous, layout))


def _postgres_port(previous: StackRecord | None, layout: StackLayout) -> int:
    recorded = previous.postgres_port if previous is not None else None
    if previous is None or recorded is None:
        return _free_port(LOOPBACK)
    if _port_is_free(LOOPBACK, recorded):
        return recorded
    if processes.is_running(_specs(previous, layout)[PartName.POSTGRES]):
        return recorded
    return _free_port(LOOPBACK)


def _record_from(
    settings: FleetSettings,
    layout: StackLayout,
    database: PrefectDatabase = PrefectDatabase.SQLITE,
    postgres_port: int | None = None,
) -> StackRecord:
    return StackRecord(
        host=LOOPBACK,
        aws_port=settings.aws_port,
        mqtt_port=settings.mqtt_port,
        prefect_port=settings.prefect_port,
        processor_quota=settings.processor_quota,
        streaming_video=settings.streaming_video,
        stack_dir=layout.root,
        ca_file=layout.ca_cert,
        prefect_database=database,
        postgres_port=postgres_port,
    )


def _load_record(layout: StackLayout) -> StackRecord | None:
    try:
        return StackRecord.model_validate_json(layout.stack_json.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValidationError as err:
        raise StackError(f"{layout.stack_json} is not a stack record: {err}") from err


def _write_record(layout: StackLayout, record: StackRecord) -> None:
    tmp = layout.stack_json.with_name(layout.stack_json.name + ".tmp")
    tmp.write_text(record.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tmp.replace(layout.stack_json)


def fleet_env(settings: FleetSettings) -> dict[str, str]:
    """The settings as FLEET_* variables, for a child process that builds its own FleetSettings."""
    values = settings.model_dump(mode="json", exclude_none=True)
    return {f"FLEET_{name.upper()}": str(value) for name, value in values.items()}


def _specs(
    record: StackRecord,
    layout: StackLayout,
    fleet: dict[str, str] | None = None,
    postgres_password: str | None = None,
) -> dict[PartName, ProcessSpec]:
    return process_specs(
        record,
        layout,
        os.environ,
        mosquitto=_find_mosquitto(),
        fleet_env=fleet,
        postgres=postgres.install_for(layout.postgres_data_dir) if record.uses_postgres else None,
        postgres_password=postgres_password,
    )


def _find_dynsec_plugin() -> Path:
    """The broker's dynamic-security plugin: Debian's mosquitto package ships it."""
    for pattern in DYNSEC_SEARCH:
        for found in sorted(Path("/").glob(f"{pattern.lstrip('/')}/{DYNSEC_PLUGIN}")):
            return found
    raise StackError(
        f"mosquitto's {DYNSEC_PLUGIN} was not found (looked in {', '.join(DYNSEC_SEARCH)}); "
        "install the Debian package `mosquitto` (make install)"
    )


def _find_mosquitto() -> str:
    """The broker binary: Debian installs it in /usr/sbin, which a user's PATH may lack."""
    path = f"{os.environ.get('PATH', '')}:{MOSQUITTO_SEARCH_PATH}"
    return shutil.which("mosquitto", path=path) or "/usr/sbin/mosquitto"


def _make_private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)


def _refuse_other_running_stack(layout: StackLayout, record: StackRecord) -> None:
    """Changing ports or the quota while the stack runs would orphan the running parts."""
    previous = _load_record(layout)
    if previous is None or previous == record:
        return
    running = [
        name.value for name, spec in _specs(previous, layout).items() if processes.is_running(spec)
    ]
    if running:
        raise ConflictError(
            f"the local stack in {layout.root} is running with other settings "
            f"({', '.join(running)} up); run `fleet down` first"
        )


def _check_port_free(part: PartName, host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR: a port left in TIME_WAIT by our own previous run counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            raise PortInUseError(
                f"port {host}:{port}, needed by the stack's {part.value} part, is taken"
                f"{_port_owner(port)}; stop it or choose another port ({_PORT_SETTING[part]})"
            ) from err


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def _port_owner(port: int) -> str:
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid is None:
                    return ""
                return f" by pid {conn.pid} ({' '.join(psutil.Process(conn.pid).cmdline())})"
    except (psutil.Error, OSError):
        return ""
    return ""


def _ensure_admin_identity(layout: StackLayout, ca: LocalCA) -> None:
    """The stack's own MQTT identity: the broker's health probe and the guard's admin."""
    _make_private_dir(layout.mosquitto_dir)
    if not (layout.admin_cert.exists() and layout.admin_key.exists()):
        cert_pem, key_pem = ca.issue_key_and_cert()
        _write_private(layout.admin_key, key_pem)
        _write_private(layout.admin_cert, cert_pem)
        logger.info("issued the stack's own MQTT identity")


def _prepare_broker(layout: StackLayout, record: StackRecord, ca: LocalCA) -> None:
    """The broker's certificate, the stack's own MQTT identity, the ACL, the guard, the config."""
    from stack.broker import mosquitto
    from stack.endpoint.ca import certificate_identity

    _make_private_dir(layout.mosquitto_dir)
    _make_private_dir(layout.mosquitto_data_dir)
    if not (layout.server_cert.exists() and layout.server_key.exists()):
        ca.issue_server_cert(["localhost", LOOPBACK], layout.mosquitto_dir)
        logger.info("issued the broker's server certificate")
    _ensure_admin_identity(layout, ca)
    mosquitto.ensure_acl_file(layout.acl_file)
    mosquitto.ensure_dynsec_file(
        layout.dynsec_file, certificate_identity(layout.admin_cert.read_text())
    )
    config = mosquitto.MosquittoConfig(
        host=record.host,
        port=record.mqtt_port,
        user=mosquitto.current_user(),
        ca_file=layout.ca_cert,
        cert_file=layout.server_cert,
        key_file=layout.server_key,
        acl_file=layout.acl_file,
        pid_file=layout.pid_file(PartName.MOSQUITTO),
        log_file=layout.log_file(PartName.MOSQUITTO),
        persistence_dir=layout.mosquitto_data_dir,
        dynsec_plugin=_find_dynsec_plugin(),
        dynsec_file=layout.dynsec_file,
    )
    mosquitto.write_config(config, layout.mosquitto_conf)


def _prepare_postgres(layout: StackLayout) -> str:
    """The cluster's password and the cluster (`initdb` the first time); returns the password."""
    _make_private_dir(layout.postgres_dir)
    password = postgres.ensure_password(layout.postgres_password_file)
    install = postgres.require_install(layout.postgres_data_dir)
    postgres.ensure_cluster(install, layout.postgres_data_dir, layout.postgres_password_file)
    return password


def _start_postgres(
    record: StackRecord, layout: StackLayout, spec: ProcessSpec, probe: Probe, password: str
) -> None:
    """Start the cluster unless it runs, wait until it accepts connections, and create the
    Prefect database the first time."""
    if record.postgres_port is None:
        raise StackError("the stack record names no PostgreSQL port")
    started = None
    if processes.is_running(spec):
        logger.info("postgres is already running")
    else:
        started = processes.start(spec)
    wait_until_healthy([_part_check(PartName.POSTGRES, probe, spec, started)], POSTGRES_TIMEOUT_S)
    install = postgres.install_for(layout.postgres_data_dir)
    postgres.ensure_database(install, password, record.host, record.postgres_port)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _start_flows(spec: ProcessSpec) -> None:
    if processes.is_running(spec):
        logger.info("flows are already served")
        return
    processes.start(spec)


def _start_bridge(
    clients: AwsClients, layout: StackLayout, spec: ProcessSpec, probe: Probe
) -> None:
    """Ensure the bridge's own IoT identity (through the AWS endpoint), start the bridge, and
    wait until it is connected and subscribed. A running bridge is left alone: after a broker
    restart it reconnects and subscribes again by itself."""
    from cloud.bridge_identity import ensure_bridge_identity
    from cloud.fleet import fleet_names

    if processes.is_running(spec):
        logger.info("the bridge is already running")
        return
    identity = ensure_bridge_identity(
        clients, fleet_names(clients), clients.settings.bridge_dir, layout.ca_cert.read_text()
    )
    logger.info("bridge identity %s ready", identity.thing_name)
    layout.bridge_heartbeat.unlink(missing_ok=True)  # a stale one must not pass for this run's
    pid = processes.start(spec)
    wait_until_healthy([_part_check(PartName.BRIDGE, probe, spec, pid)], BRIDGE_TIMEOUT_S)


def _start_results(
    clients: AwsClients, layout: StackLayout, spec: ProcessSpec, probe: Probe
) -> None:
    """Ensure the fleet-level resources (the results queue, its dead-letter queue, the detections
    table, the notification topic among them), start the results consumer and wait until it
    polls. A running consumer is left alone."""
    from cloud.fleet import ensure_fleet

    if processes.is_running(spec):
        logger.info("the results consumer is already running")
        return
    ensure_fleet(clients)
    layout.results_heartbeat.unlink(missing_ok=True)
    pid = processes.start(spec)
    wait_until_healthy([_part_check(PartName.RESULTS, probe, spec, pid)], RESULTS_TIMEOUT_S)


def _start_analyzer(layout: StackLayout, spec: ProcessSpec, probe: Probe) -> None:
    """Start the analysis worker and wait until it reports itself: polling the fleet's analysis
    queue, or waiting for it (a fleet on stream processors has none). A running one is left
    alone."""
    if processes.is_running(spec):
        logger.info("the analysis worker is already running")
        return
    layout.analyzer_heartbeat.unlink(missing_ok=True)
    pid = processes.start(spec)
    wait_until_healthy([_part_check(PartName.ANALYZER, probe, spec, pid)], ANALYZER_TIMEOUT_S)


def _part_check(
    part: PartName, probe: Probe, spec: ProcessSpec, started: int | None = None
) -> PartCheck:
    """`started`: the pid just started, watched as such (its command line may not be readable
    yet); else the part's process as its pid file names it."""
    if started is not None:
        return PartCheck(part.value, probe, spec.log_file, alive=lambda: processes.alive(started))
    return PartCheck(part.value, probe, spec.log_file, alive=lambda: processes.is_running(spec))


def _part_status(part: PartName, spec: ProcessSpec, probe: Probe | None) -> PartStatus:
    proc = processes.find_process(spec)
    pid = proc.pid if proc is not None else None
    if proc is None:
        return PartStatus(
            name=part, healthy=False, running=False, log_file=spec.log_file, detail="not running"
        )
    reason = None
    if probe is not None:
        reason = check_once(_part_check(part, probe, spec))
    return PartStatus(
        name=part,
        healthy=reason is None,
        running=True,
        pid=pid,
        log_file=spec.log_file,
        detail=reason or "",
    )
