"""Running a plan's steps (retries, failures, what waits on them) and the report built from the
outcomes and the second discovery: what is left and why, the plan and proof tables."""

from __future__ import annotations

from cloud.errors import AccessDeniedError, RetryableError
from cloud.teardown.models import Inventory, Kind, LeftAlone, Resource, Service
from cloud.teardown.plan import build_plan
from flows.retry import RETRY_DELAYS
from flows.teardown import run_steps
from flows.teardown_report import (
    StepOutcome,
    StepStatus,
    build_report,
    plan_rows,
    proof_rows,
    summary_line,
)

CERT = "arn:aws:iot:eu-west-1:123456789012:cert/abc"
PORCH = (
    Resource(kind=Kind.PROCESSOR, name="camfleet-porch", camera="porch"),
    Resource(kind=Kind.CERTIFICATE, name=CERT, camera="porch", parent="porch"),
    Resource(kind=Kind.THING, name="porch", camera="porch"),
    Resource(kind=Kind.STREAM, name="porch", camera="porch"),
    Resource(kind=Kind.RESULTS, name="cameras/porch/", camera="porch", parent="bucket", count=2),
)
PLAN = build_plan(Inventory(fleet="camfleet", cameras=("porch",), resources=PORCH))


class FakeAws:
    """Deletes by kind: `errors[kind]` is raised (a list: one per call, then success)."""

    def __init__(self, errors: dict[Kind, list[Exception]] | None = None):
        self.errors = errors or {}
        self.calls: list[Kind] = []

    def delete(self, resource: Resource) -> bool:
        self.calls.append(resource.kind)
        pending = self.errors.get(resource.kind, [])
        if pending:
            raise pending.pop(0)
        return resource.kind is not Kind.STREAM  # the stream was already gone


def test_every_step_runs_in_order_and_says_whether_it_deleted() -> None:
    aws, slept = FakeAws(), list[float]()
    outcomes = run_steps(PLAN.steps, set(), aws.delete, slept.append)
    assert aws.calls == [s.resource.kind for s in PLAN.steps]
    assert [o.status for o in outcomes] == [
        StepStatus.DELETED,
        StepStatus.DELETED,
        StepStatus.DELETED,
        StepStatus.ABSENT,
        StepStatus.DELETED,
    ]
    assert slept == []


def test_throttling_is_retried_with_jittered_backoff() -> None:
    throttled = RetryableError("ThrottlingException")
    aws, slept = FakeAws({Kind.STREAM: [throttled, throttled]}), list[float]()
    outcomes = run_steps(PLAN.steps, set(), aws.delete, slept.append)
    assert all(o.ok for o in outcomes)
    assert aws.calls.count(Kind.STREAM) == 3
    assert len(slept) == 2
    for delay, base in zip(slept, RETRY_DELAYS, strict=False):
        assert base * 0.5 <= delay <= base * 1.5


def test_a_failure_is_reported_what_waits_on_it_is_skipped_and_the_rest_goes_on() -> None:
    aws = FakeAws({Kind.CERTIFICATE: [AccessDeniedError("UpdateCertificate: AccessDenied")]})
    failed: set[str] = set()
    outcomes = run_steps(PLAN.steps, failed, aws.delete, lambda _: None)
    by_kind = {o.resource.kind: o for o in outcomes}
    assert by_kind[Kind.CERTIFICATE].status is StepStatus.FAILED
    assert "AccessDenied" in (by_kind[Kind.CERTIFICATE].error or "")
    assert by_kind[Kind.THING].status is StepStatus.SKIPPED  # it waits for its certificate
    assert Kind.THING not in aws.calls
    assert by_kind[Kind.STREAM].ok and by_kind[Kind.RESULTS].ok
    assert failed == {by_kind[Kind.CERTIFICATE].resource.key, by_kind[Kind.THING].resource.key}


def test_retryable_errors_that_never_stop_end_as_a_failure() -> None:
    forever = [RetryableError("Throttling")] * 10
    aws = FakeAws({Kind.STREAM: list(forever)})
    outcomes = run_steps(PLAN.steps, set(), aws.delete, lambda _: None)
    assert aws.calls.count(Kind.STREAM) == len(RETRY_DELAYS) + 1
    assert [o.status for o in outcomes if o.resource.kind is Kind.STREAM] == [StepStatus.FAILED]


def _outcomes(failed: Kind | None = None) -> list[StepOutcome]:
    return [
        StepOutcome(
            resource=s.resource,
            status=StepStatus.FAILED if s.resource.kind is failed else StepStatus.DELETED,
            error="AccessDenied" if s.resource.kind is failed else None,
        )
        for s in PLAN.steps
    ]


def test_nothing_left_is_a_complete_teardown() -> None:
    report = build_report(PLAN, _outcomes(), Inventory(fleet="camfleet", cameras=("porch",)))
    assert report.complete and report.left == () and report.deleted == len(PORCH)
    assert all(row["fleet resources left"] == "0" for row in proof_rows(report))
    assert [row["service"] for row in proof_rows(report)] == [s.value for s in Service]
    assert "nothing of the fleet is left" in summary_line(report)


def test_what_is_left_says_why() -> None:
    stream = PORCH[3]
    surprise = Resource(kind=Kind.ROLE, name="camfleet-rekognition-porch", camera="porch")
    after = Inventory(fleet="camfleet", cameras=("porch",), resources=(stream, PORCH[0], surprise))
    report = build_report(PLAN, _outcomes(failed=Kind.STREAM), after)
    reasons = {x.resource.kind: x.reason for x in report.left}
    assert reasons[Kind.STREAM] == "AccessDenied"
    assert "still listed" in reasons[Kind.PROCESSOR]
    assert "appeared while the teardown ran" in reasons[Kind.ROLE]
    assert not report.complete
    rows = {row["service"]: row for row in proof_rows(report)}
    assert rows[Service.KVS.value]["fleet resources left"] == "1"
    assert "KVS stream porch: AccessDenied" in rows[Service.KVS.value]["what is left and why"]
    assert rows[Service.S3.value]["what is left and why"] == "nothing"


def test_a_failed_step_is_left_even_when_the_listing_no_longer_shows_it() -> None:
    """A certificate detached from its thing but not deleted is no thing's principal any more."""
    report = build_report(PLAN, _outcomes(failed=Kind.CERTIFICATE), Inventory(fleet="camfleet"))
    assert [x.resource.kind for x in report.left] == [Kind.CERTIFICATE]


def test_kept_results_are_not_left_overs() -> None:
    plan = build_plan(
        Inventory(fleet="camfleet", cameras=("porch",), resources=PORCH), keep_results=True
    )
    outcomes = [StepOutcome(resource=s.resource, status=StepStatus.DELETED) for s in plan.steps]
    after = Inventory(fleet="camfleet", cameras=("porch",), resources=(PORCH[4],))
    report = build_report(plan, outcomes, after)
    assert report.complete
    rows = {row["service"]: row for row in proof_rows(report)}
    assert rows[Service.S3.value]["kept (--keep-results)"] == "1"


def test_the_plan_table_lists_steps_in_order_then_what_is_kept_and_left_alone() -> None:
    lookalike = LeftAlone(kind=Kind.STREAM, name="camfleet-x", reason="no tag")
    inventory = Inventory(
        fleet="camfleet", cameras=("porch",), resources=PORCH, left_alone=(lookalike,)
    )
    rows = plan_rows(build_plan(inventory, keep_results=True))
    assert [r["#"] for r in rows] == ["1", "2", "3", "4", "", ""]
    assert [r["resource"] for r in rows[:4]] == [
        "stream processor",
        "IoT certificate",
        "IoT thing",
        "KVS stream",
    ]
    assert rows[4]["action"] == "keep (--keep-results)"
    assert rows[5]["action"].startswith("leave alone") and rows[5]["detail"] == "no tag"
