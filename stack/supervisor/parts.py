"""What each part of the local stack runs and how it is probed: pure, from the stack record."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from stack.supervisor.health import HeartbeatProbe, HttpProbe, MqttProbe, Probe
from stack.supervisor.layout import PartName, StackLayout
from stack.supervisor.models import StackRecord
from stack.supervisor.postgres import PostgresInstall, PostgresProbe, database_env, server_argv
from stack.supervisor.processes import ProcessSpec

AWS_HEALTH_PATH = "/_fleet/health"

# Everything Prefect would otherwise send to the internet.
PREFECT_OFFLINE = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
}


def venv_bin() -> Path:
    """The bin directory of the environment the stack's Python parts run from.

    `sys.prefix`, not `sys.executable`: the same venv is reached as `python` or `python3`, and
    a part's command line must come out the same whichever process computes it.
    """
    return Path(sys.prefix) / "bin"


def prefect_client_env(record: StackRecord, layout: StackLayout) -> dict[str, str]:
    """What a process needs to talk to this stack's Prefect server.

    PREFECT_HOME points at the stack's own Prefect home so that a user's profile (which may
    name Prefect Cloud and hold an API key) is not picked up. PREFECT_API_SSL_CERT_FILE names a
    one-certificate file: the Prefect client builds a TLS context for every client it creates
    (one per task run), even for this plain-http loopback URL, and parsing the whole certifi
    bundle each time is CPU every task run pays.
    """
    return {
        "PREFECT_API_URL": record.prefect_api_url,
        "PREFECT_HOME": str(layout.prefect_home),
        "PREFECT_API_SSL_CERT_FILE": str(layout.ca_cert),
        **PREFECT_OFFLINE,
    }


def base_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without its Prefect settings (a part gets the stack's only)."""
    return {key: value for key, value in environ.items() if not key.startswith("PREFECT_")}


def aws_argv(record: StackRecord, layout: StackLayout) -> list[str]:
    return [
        str(venv_bin() / "python"),
        *("-m", "stack.endpoint"),
        *("--host", record.host),
        *("--port", str(record.aws_port)),
        *("--state-dir", str(layout.aws_state_dir)),
        *("--processor-quota", str(record.processor_quota)),
        *(() if record.streaming_video else ("--no-streaming-video",)),
        *("--mqtt-host", record.host),
        *("--acl-file", str(layout.acl_file)),
        *("--broker-pid-file", str(layout.pid_file(PartName.MOSQUITTO))),
        *("--broker-port", str(record.mqtt_port)),
        *("--broker-admin-cert", str(layout.admin_cert)),
        *("--broker-admin-key", str(layout.admin_key)),
        # Where the simulated cameras' agents write their fragments (flows.runtime.fragment_root).
        *("--fragment-root", str(layout.root / "fragments")),
    ]


def bridge_argv(layout: StackLayout) -> list[str]:
    return [
        str(venv_bin() / "python"),
        *("-m", "services.bridge"),
        *("--heartbeat-file", str(layout.bridge_heartbeat)),
    ]


def results_argv(layout: StackLayout) -> list[str]:
    return [
        str(venv_bin() / "python"),
        *("-m", "services.results_consumer"),
        *("--heartbeat-file", str(layout.results_heartbeat)),
    ]


def analyzer_argv(layout: StackLayout) -> list[str]:
    return [
        str(venv_bin() / "python"),
        *("-m", "services.analyzer"),
        *("--heartbeat-file", str(layout.analyzer_heartbeat)),
    ]


def prefect_argv(record: StackRecord) -> list[str]:
    return [
        str(venv_bin() / "prefect"),
        *("server", "start"),
        *("--host", record.host),
        *("--port", str(record.prefect_port)),
    ]


def process_specs(
    record: StackRecord,
    layout: StackLayout,
    environ: Mapping[str, str],
    mosquitto: str,
    fleet_env: Mapping[str, str] | None = None,
    postgres: PostgresInstall | None = None,
    postgres_password: str | None = None,
) -> dict[PartName, ProcessSpec]:
    """Each part's command, environment, log and pid file.

    `mosquitto` is the broker binary; `fleet_env` (FLEET_* variables) tells the flows' serve
    process, the bridge, the results consumer and the analysis worker which fleet and which
    stack they work on. The first three talk to Prefect: the bridge runs `analyze-motion` flow
    runs, the results consumer emits `camera.detection` events; the analysis worker does not.

    With PostgreSQL recorded, `postgres` (the binaries) gives its part; `postgres_password`, when
    given, the Prefect server's connection URL, in its environment (a command line is public).
    """
    env = base_env(environ)
    prefect_env = {**env, **prefect_client_env(record, layout)}
    flows_env = {**prefect_env, **(fleet_env or {})}
    analyzer_env = {**env, **(fleet_env or {})}
    server_env = {
        **prefect_env,
        "PREFECT_SERVER_API_HOST": record.host,
        "PREFECT_SERVER_API_PORT": str(record.prefect_port),
        "PREFECT_SERVER_UI_API_URL": record.prefect_api_url,
    }
    if record.postgres_port is not None and postgres_password is not None:
        server_env.update(database_env(postgres_password, record.host, record.postgres_port))
    argv = {
        PartName.AWS: (aws_argv(record, layout), env),
        PartName.MOSQUITTO: ([mosquitto, "-c", str(layout.mosquitto_conf)], env),
        PartName.PREFECT: (prefect_argv(record), server_env),
        PartName.FLOWS: ([str(venv_bin() / "python"), "-m", "flows.serve"], flows_env),
        PartName.BRIDGE: (bridge_argv(layout), flows_env),
        PartName.RESULTS: (results_argv(layout), flows_env),
        PartName.ANALYZER: (analyzer_argv(layout), analyzer_env),
    }
    if record.postgres_port is not None and postgres is not None:
        argv[PartName.POSTGRES] = (
            server_argv(postgres, layout.postgres_data_dir, record.host, record.postgres_port),
            env,
        )
    return {
        part: ProcessSpec(
            name=part.value,
            argv=tuple(command),
            log_file=layout.log_file(part),
            pid_file=layout.pid_file(part),
            env=part_env,
            cwd=layout.root,
        )
        for part, (command, part_env) in argv.items()
    }


def probes(record: StackRecord, layout: StackLayout) -> dict[PartName, Probe]:
    """How each part is asked whether it works (the flows part has no port and no heartbeat)."""
    found: dict[PartName, Probe] = {}
    if record.postgres_port is not None:
        found[PartName.POSTGRES] = PostgresProbe(host=record.host, port=record.postgres_port)
    return found | {
        PartName.AWS: HttpProbe(f"{record.aws_endpoint}{AWS_HEALTH_PATH}"),
        PartName.MOSQUITTO: MqttProbe(
            host=record.host,
            port=record.mqtt_port,
            ca_file=layout.ca_cert,
            cert_file=layout.admin_cert,
            key_file=layout.admin_key,
        ),
        PartName.PREFECT: HttpProbe(f"{record.prefect_api_url}/health"),
        PartName.BRIDGE: HeartbeatProbe(layout.bridge_heartbeat),
        PartName.RESULTS: HeartbeatProbe(layout.results_heartbeat),
        PartName.ANALYZER: HeartbeatProbe(layout.analyzer_heartbeat),
    }
