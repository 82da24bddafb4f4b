"""Where the local stack keeps its state: every path derives from `FleetSettings.stack_dir`.

```
<stack_dir>/                 0700, owned by whoever ran `fleet up`
  stack.json                 the resolved ports and paths (StackRecord)
  logs/<part>.log            each part's stdout and stderr (mosquitto logs there too)
  run/<part>.pid             each part's pid
  aws/                       the AWS endpoint's state (--state-dir)
  aws/ca/                    the local IoT CA (LocalCA): where the endpoint keeps it by default;
                             the broker's cafile and the stack's own identity come from it too
  mosquitto/                 mosquitto.conf, acl, dynamic-security.json (the shared-subscription
                             guard's state, owned by the broker once it runs), server.pem/.key,
                             admin.crt/.key (the stack's own MQTT identity: health probe, guard),
                             data/ (persistence)
  bridge/                    the MQTT bridge's own bundle (key, certificate, CA)
  run/bridge.heartbeat.json  what the bridge last said about itself (`fleet status`)
  run/results.heartbeat.json what the results consumer last said about itself
  run/analyzer.heartbeat.json what the analysis worker last said about itself
  prefect/                   PREFECT_HOME of the Prefect server (SQLite database)
  postgres/                  with `--prefect-database postgresql`: password (0600), data/ (the
                             cluster: the Prefect server's database)
```
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cloud.settings import LOCAL_BROKER_CA


class PartName(StrEnum):
    """The parts of the local stack, in start order (postgres only with its option)."""

    POSTGRES = "postgres"
    AWS = "aws"
    MOSQUITTO = "mosquitto"
    PREFECT = "prefect"
    FLOWS = "flows"
    BRIDGE = "bridge"
    RESULTS = "results"
    ANALYZER = "analyzer"


@dataclass(frozen=True)
class StackLayout:
    root: Path

    @property
    def stack_json(self) -> Path:
        return self.root / "stack.json"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def ca_dir(self) -> Path:
        """The endpoint's default CA directory (`<state-dir>/ca`): one CA for IoT and the broker."""
        return self.aws_state_dir / "ca"

    @property
    def aws_state_dir(self) -> Path:
        return self.root / "aws"

    @property
    def mosquitto_dir(self) -> Path:
        return self.root / "mosquitto"

    @property
    def mosquitto_conf(self) -> Path:
        return self.mosquitto_dir / "mosquitto.conf"

    @property
    def acl_file(self) -> Path:
        return self.mosquitto_dir / "acl"

    @property
    def dynsec_file(self) -> Path:
        """The broker's dynamic-security plugin state: guards who may join shared subscriptions."""
        return self.mosquitto_dir / "dynamic-security.json"

    @property
    def mosquitto_data_dir(self) -> Path:
        return self.mosquitto_dir / "data"

    @property
    def server_cert(self) -> Path:
        """Written by `LocalCA.issue_server_cert` (with `server.key`) into the mosquitto dir."""
        return self.mosquitto_dir / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.mosquitto_dir / "server.key"

    @property
    def ca_cert(self) -> Path:
        """The local IoT CA's certificate: the broker's `cafile` and what clients trust."""
        return self.root / LOCAL_BROKER_CA

    @property
    def admin_cert(self) -> Path:
        """The stack's own MQTT identity, used by the broker health probe."""
        return self.mosquitto_dir / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.mosquitto_dir / "admin.key"

    @property
    def prefect_home(self) -> Path:
        return self.root / "prefect"

    @property
    def postgres_dir(self) -> Path:
        return self.root / "postgres"

    @property
    def postgres_data_dir(self) -> Path:
        return self.postgres_dir / "data"

    @property
    def postgres_password_file(self) -> Path:
        """The cluster's generated password (0600): `initdb --pwfile`, the Prefect server's URL."""
        return self.postgres_dir / "password"

    @property
    def bridge_heartbeat(self) -> Path:
        return self.run_dir / "bridge.heartbeat.json"

    @property
    def results_heartbeat(self) -> Path:
        return self.run_dir / "results.heartbeat.json"

    @property
    def analyzer_heartbeat(self) -> Path:
        return self.run_dir / "analyzer.heartbeat.json"

    def log_file(self, part: PartName) -> Path:
        return self.logs_dir / f"{part.value}.log"

    def pid_file(self, part: PartName) -> Path:
        return self.run_dir / f"{part.value}.pid"
