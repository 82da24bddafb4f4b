"""Serve the fleet's flows as deployments, so they can be run from the Prefect UI.

`python -m flows.serve` is a long-running process of the local stack (and deployable on its own
in production). The CLI does not go through it: it runs flows in-process, which starts them at
once instead of waiting for a runner's poll.

It also syncs the fleet's automations (`flows.automations.sync`), which run the served
`camera-offline` and `camera-failing` deployments: those are registered first, for their ids.
"""

from __future__ import annotations

import asyncio
import logging

from prefect import serve
from prefect.deployments.runner import RunnerDeployment

from cloud.errors import FleetError
from flows import fleet_report, fleet_status, teardown
from flows.analyze import analyze_motion
from flows.automations import camera_alerts
from flows.automations.declaration import declaration_path
from flows.automations.sync import sync_automations
from flows.register import register_camera_flow, register_cameras_flow
from flows.runtime import runtime

log = logging.getLogger(__name__)


def sync_alert_automations(alerts: list[RunnerDeployment]) -> None:
    """Register the alert deployments, then sync the automations that run them. A failure is
    logged and the flows are served all the same: they do not need the automations."""
    settings = runtime().settings
    try:
        for deployment in alerts:
            deployment.apply()
        synced = asyncio.run(sync_automations(declaration_path(settings), settings.name))
    except FleetError as err:
        log.error("automations not synced: %s", err)
        return
    except Exception:  # the Prefect API's own errors while registering
        log.exception("automations not synced")
        return
    log.info("automations: %s", ", ".join(f"{r.name!r} {r.action.value}" for r in synced))


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    alerts = camera_alerts.deployments()
    deployments = [
        fleet_status.deployment(),
        fleet_report.deployment(),
        register_camera_flow.to_deployment(
            name="register-camera",
            description="Register one camera: stream, processor, role, IoT identity, bundle.",
            tags=["camera-fleet"],
        ),
        register_cameras_flow.to_deployment(
            name="register-cameras",
            description="Register many cameras concurrently.",
            tags=["camera-fleet"],
        ),
        analyze_motion.to_deployment(
            name="analyze-motion",
            description=(
                "Analyse a camera's video from a producer timestamp (ms) for up to 120 s. "
                "Motion starts these by itself; run one by hand to look at a moment again."
            ),
            tags=["camera-fleet"],
        ),
        teardown.deployment(),
        *alerts,
    ]
    sync_alert_automations(alerts)
    log.info("serving %d deployments", len(deployments))
    serve(*deployments)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
