"""Serve the fleet's flows as deployments, so they can be run from the Prefect UI.

`python -m flows.serve` is a long-running process of the local stack (and deployable on its own
in production). The CLI does not go through it: it runs flows in-process, which starts them at
once instead of waiting for a runner's poll.
"""

from __future__ import annotations

import logging

from prefect import serve

from flows import fleet_status, teardown
from flows.analyze import analyze_motion
from flows.register import register_camera_flow, register_cameras_flow

log = logging.getLogger(__name__)


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    deployments = [
        fleet_status.deployment(),
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
    ]
    log.info("serving %d deployments", len(deployments))
    serve(*deployments)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
