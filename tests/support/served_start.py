"""The naive motion path, for bench/motion.py's baseline: a deployment served with `serve`'s
default settings, whose event trigger runs a flow per motion event; the flow calls
StartStreamProcessor for the camera (a start while a session runs is refused, and logged).

`python -m tests.support.served_start DEPLOYMENT EVENT` serves it until SIGTERM; it needs the
stack's Prefect and FLEET_* environment. A module of its own, importing no more than the flow
needs: the runner spawns a process per flow run, which imports the serving module.
"""

from __future__ import annotations

import argparse

from prefect import flow, get_run_logger
from prefect.events import DeploymentEventTrigger

from cloud import rekognition
from cloud.errors import ConflictError
from flows.runtime import runtime

FLOW_NAME = "bench-start-on-motion"


@flow(name=FLOW_NAME, log_prints=False)
async def start_on_motion(
    camera_id: str, start_ms: int, duration_s: int, warm_up: bool = False
) -> str | None:
    """Start the camera's processor at the motion's producer timestamp (less the preroll)."""
    if warm_up:  # checks the trigger and the runner before a measurement; calls nothing
        return None
    rt = runtime()
    try:
        return rekognition.start_session(
            rt.clients, rt.names.processor(camera_id), start_ms, duration_s
        )
    except ConflictError:
        get_run_logger().info("camera %s: a session is running, start refused", camera_id)
        return None


def motion_trigger(event: str) -> DeploymentEventTrigger:
    return DeploymentEventTrigger(
        expect={event},
        parameters={
            "camera_id": "{{ event.payload.camera_id }}",
            "start_ms": "{{ event.payload.start_ms }}",
            "duration_s": "{{ event.payload.duration_s }}",
            "warm_up": "{{ event.payload.warm_up }}",
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("deployment")
    parser.add_argument("event")
    args = parser.parse_args()
    start_on_motion.serve(name=args.deployment, triggers=[motion_trigger(args.event)])


if __name__ == "__main__":
    main()
