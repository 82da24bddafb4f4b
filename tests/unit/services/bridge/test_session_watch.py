"""The bridge's view of which analysis sessions have ended, from a listing of the cameras'
session statuses."""

from cloud.models import ProcessorStatus
from services.bridge.session_watch import ActiveSessions, Session

STARTING, STOPPED, FAILED = (
    ProcessorStatus.STARTING,
    ProcessorStatus.STOPPED,
    ProcessorStatus.FAILED,
)


def sessions(*started: Session) -> ActiveSessions:
    active = ActiveSessions()
    for session in started:
        active.add(session)
    return active


def test_a_stopped_session_ends_its_camera_session_and_a_running_or_failed_one_does_not() -> None:
    porch, yard, door = (
        Session(camera, f"s-{camera}", 10.0) for camera in ("porch", "yard", "door")
    )
    active = sessions(porch, yard, door)
    listing = {"porch": STOPPED, "yard": STARTING, "door": FAILED, "other": STOPPED}
    # FAILED is the flow run's to report and retry.
    assert active.ended(listing, listed_at=11.0) == [porch]


def test_a_listing_begun_before_the_start_answered_does_not_judge_the_session() -> None:
    active = sessions(Session("porch", "s2", 10.0))
    # The previous session's STOPPED, listed while the follow-up was being started.
    assert active.ended({"porch": STOPPED}, listed_at=9.5) == []
    assert active.ended({"porch": STOPPED}, listed_at=10.5) != []


def test_a_late_end_of_an_earlier_session_leaves_its_follow_up_running() -> None:
    active = sessions(Session("porch", "s1", 10.0))
    assert active.remove("porch", "s1")  # the watcher saw it stop
    active.add(Session("porch", "s2", 11.0))  # the follow-up
    assert not active.remove("porch", "s1")  # s1's flow run ends afterwards
    assert len(active) == 1
    assert active.remove("porch", "s2") and len(active) == 0
