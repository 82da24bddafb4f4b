"""The register-camera flow (one camera) and register-cameras (a batch, concurrently).

Each camera's registration is one task: preflight, idempotent steps, rollback on failure (see
cloud.registration). The batch is one flow run with a task per camera, because flow runs are the
scarce resource on the Prefect server and tasks are cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from prefect import flow, get_run_logger, task
from prefect.futures import PrefectFuture, as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from cloud import rekognition
from cloud.errors import FleetError, QuotaExceededError
from cloud.fleet import ensure_fleet
from cloud.models import Analyzer, CameraSpec, FleetRecord, Model, RegistrationResult
from cloud.quotas import processor_quota
from cloud.registration import WRITE_FAMILIES, RegistrationContext, register_camera
from flows.rate_limits import acquire, ensure_rate_limits, wave_size
from flows.retry import AWS_RETRY
from flows.runtime import runtime

MAX_CONCURRENCY = 16


class RegistrationOutcome(Model):
    camera_id: str
    result: RegistrationResult | None = None
    error: str | None = None


# The CLI sets this to draw a progress bar; tasks run in threads with a copy of the context.
progress_reporter: ContextVar[Callable[[RegistrationOutcome], None] | None] = ContextVar(
    "progress_reporter", default=None
)


@task(
    name="ensure-fleet",
    **AWS_RETRY,
)
def ensure_fleet_task() -> FleetRecord:
    return ensure_fleet(runtime().clients)


@task(
    name="register-camera-resources",
    task_run_name="register {camera.camera_id}",
    **AWS_RETRY,
)
def register_camera_task(
    camera: CameraSpec, fleet: FleetRecord, replace: bool = False
) -> RegistrationResult:
    rt = runtime()
    context = RegistrationContext(
        clients=rt.clients,
        names=rt.names,
        fleet=fleet,
        bundle_root=rt.settings.bundles_dir,
        broker_ca_pem=rt.broker_ca_file.read_text(),
        fragment_root=rt.fragment_root,
    )
    result = register_camera(context, camera, replace=replace)
    get_run_logger().info(
        "camera %s: %s", camera.camera_id, "; ".join(result.changed) or "already registered"
    )
    return result


@flow(name="register-camera", flow_run_name="register {camera.camera_id}", log_prints=False)
async def register_camera_flow(camera: CameraSpec, replace: bool = False) -> RegistrationResult:
    """Provision one camera's stream, processor, role and IoT identity; write its bundle."""
    await ensure_rate_limits()
    fleet = ensure_fleet_task()
    await acquire(WRITE_FAMILIES)
    return register_camera_task(camera, fleet, replace)


def check_batch_quota(cameras: list[CameraSpec]) -> None:
    """Refuse a batch that cannot fit in the processor quota before creating anything (a
    frames fleet has no processors)."""
    rt = runtime()
    if rt.analyzer is Analyzer.FRAMES:
        return
    existing = set(rekognition.list_processor_names(rt.clients))
    new = [c for c in cameras if rt.names.processor(c.camera_id) not in existing]
    quota = processor_quota(rt.clients)
    free = quota.value - len(existing)
    if len(new) > free:
        raise QuotaExceededError(
            f"registering {len(new)} new cameras needs {len(new)} stream processors but only "
            f"{max(free, 0)} of {quota.value} are free in {rt.settings.region} (quota "
            f"{quota.code!r}, {quota.name!r}). Raise it in Service Quotas, or on the local stack "
            "with `fleet up --processor-quota N`. Nothing was created."
        )


@flow(
    name="register-cameras",
    task_runner=ThreadPoolTaskRunner(max_workers=MAX_CONCURRENCY),  # type: ignore[arg-type]
)
async def register_cameras_flow(
    cameras: list[CameraSpec], replace: bool = False
) -> list[RegistrationOutcome]:
    """Register many cameras concurrently; one failure does not stop the others."""
    ids = [c.camera_id for c in cameras]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise FleetError(f"camera ids listed more than once: {', '.join(duplicates)}")
    check_batch_quota(cameras)
    await ensure_rate_limits()
    fleet = ensure_fleet_task()
    futures: list[PrefectFuture[RegistrationResult]] = []
    wave = wave_size(WRITE_FAMILIES)
    for start in range(0, len(cameras), wave):
        batch = cameras[start : start + wave]
        # Paces submissions to AWS's write rates; earlier waves run meanwhile in the threads.
        await acquire(WRITE_FAMILIES, len(batch))
        futures.extend(register_camera_task.submit(c, fleet, replace) for c in batch)
    by_id = {f.task_run_id: c.camera_id for f, c in zip(futures, cameras, strict=True)}
    report = progress_reporter.get()
    outcomes: dict[str, RegistrationOutcome] = {}
    for future in as_completed(list(futures)):
        camera_id = by_id[future.task_run_id]
        try:
            outcome = RegistrationOutcome(camera_id=camera_id, result=future.result())
        except Exception as err:
            outcome = RegistrationOutcome(camera_id=camera_id, error=str(err))
        outcomes[camera_id] = outcome
        if report is not None:
            report(outcome)
    ordered = [outcomes[c] for c in ids]
    failed = [o for o in ordered if o.error]
    if failed:
        raise FleetError(
            f"{len(failed)} of {len(ordered)} cameras failed to register: "
            + "; ".join(f"{o.camera_id}: {o.error}" for o in failed)
        )
    return ordered
