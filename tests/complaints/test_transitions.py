"""The case workflow's whitelist and the response deadlines (pure: no database)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from fairdun.complaints.transitions import (
    DAYS,
    INSTITUTION_VISIBLE,
    TRANSITIONS,
    Complexity,
    DeadlineState,
    Party,
    Status,
    TransitionRefused,
    allowed_next,
    check_raise,
    check_transition,
    deadline_state,
    due_at,
    is_overdue,
)

# The whitelist as the issue describes it, written out independently of the module.
EXPECTED = {
    ("submitted", "triaged", "regulator"),
    ("submitted", "closed", "regulator"),
    ("triaged", "forwarded", "regulator"),
    ("triaged", "escalated", "regulator"),
    ("triaged", "closed", "regulator"),
    ("forwarded", "responded", "institution"),
    ("forwarded", "escalated", "regulator"),
    ("responded", "accepted", "reporter"),
    ("responded", "disputed", "reporter"),
    ("responded", "escalated", "regulator"),
    ("responded", "closed", "regulator"),
    ("accepted", "closed", "regulator"),
    ("accepted", "closed", "system"),
    ("disputed", "forwarded", "regulator"),
    ("disputed", "escalated", "regulator"),
    ("disputed", "closed", "regulator"),
    ("escalated", "closed", "regulator"),
}
EVERY_STEP = list(itertools.product(Status, Status, Party))


def test_the_whitelist_is_exactly_the_expected_one() -> None:
    table = {(f.value, t.value, p.value) for (f, t), who in TRANSITIONS.items() for p in who}
    assert table == EXPECTED


@pytest.mark.parametrize(
    ("current", "target", "party"),
    [s for s in EVERY_STEP if (s[0].value, s[1].value, s[2].value) in EXPECTED],
    ids=lambda v: v.value,
)
def test_every_allowed_step_passes(current: Status, target: Status, party: Party) -> None:
    check_transition(current, target, party)
    assert target in allowed_next(current, party)


@pytest.mark.parametrize(
    ("current", "target", "party"),
    [s for s in EVERY_STEP if (s[0].value, s[1].value, s[2].value) not in EXPECTED],
    ids=lambda v: v.value,
)
def test_every_other_step_is_refused(current: Status, target: Status, party: Party) -> None:
    with pytest.raises(TransitionRefused):
        check_transition(current, target, party)
    assert target not in allowed_next(current, party)


def test_a_closed_case_is_final() -> None:
    for target, party in itertools.product(Status, Party):
        with pytest.raises(TransitionRefused, match="closed case is final"):
            check_transition(Status.CLOSED, target, party)


def test_a_wrong_party_is_told_who_may() -> None:
    with pytest.raises(TransitionRefused, match="only the institution") as info:
        check_transition(Status.FORWARDED, Status.RESPONDED, Party.REGULATOR)
    assert info.value.wrong_party
    with pytest.raises(TransitionRefused) as info:
        check_transition(Status.SUBMITTED, Status.RESPONDED, Party.INSTITUTION)
    assert not info.value.wrong_party
    assert "submitted cannot become responded" in str(info.value)


def test_the_institution_never_sees_a_case_before_it_is_forwarded() -> None:
    assert Status.SUBMITTED not in INSTITUTION_VISIBLE
    assert Status.TRIAGED not in INSTITUTION_VISIBLE


# --- deadlines ---------------------------------------------------------------------------------

# 10:00 in Beijing on 2026-12-01.
RECEIVED = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def test_the_periods_are_15_30_and_60_days() -> None:
    assert DAYS == {Complexity.STANDARD: 15, Complexity.COMPLEX: 30, Complexity.EXTENDED: 60}


@pytest.mark.parametrize(
    ("complexity", "last_day"),
    [
        (Complexity.STANDARD, "2026-12-16"),
        (Complexity.COMPLEX, "2026-12-31"),
        (Complexity.EXTENDED, "2027-01-30"),
    ],
)
def test_the_period_starts_the_day_after_receipt_and_ends_at_midnight_in_beijing(
    complexity: Complexity, last_day: str
) -> None:
    due = due_at(RECEIVED, complexity)
    # The last moment on time is 23:59:59 of the last day, Beijing time (UTC+8).
    last = datetime.fromisoformat(f"{last_day}T23:59:59+08:00")
    assert last < due <= last + timedelta(seconds=1)


def test_receipt_late_in_the_evening_utc_counts_by_the_beijing_day() -> None:
    # 2026-12-01 17:00 UTC is already 2026-12-02 01:00 in Beijing.
    late = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    assert due_at(late, Complexity.STANDARD) == datetime.fromisoformat("2026-12-18T00:00:00+08:00")


def test_overdue_exactly_when_the_deadline_passes() -> None:
    due = due_at(RECEIVED, Complexity.STANDARD)
    assert not is_overdue(Status.FORWARDED, due, due - timedelta(seconds=1))
    assert is_overdue(Status.FORWARDED, due, due)
    assert is_overdue(Status.FORWARDED, due, due + timedelta(days=10))


def test_a_case_that_is_not_waiting_for_the_institution_is_never_overdue() -> None:
    due = due_at(RECEIVED, Complexity.STANDARD)
    later = due + timedelta(days=30)
    for status in Status:
        if status is not Status.FORWARDED:
            assert not is_overdue(status, due, later)


def test_deadline_states() -> None:
    due = due_at(RECEIVED, Complexity.STANDARD)
    f = Status.FORWARDED
    assert deadline_state(f, None, RECEIVED) is None
    assert deadline_state(f, due, RECEIVED) is DeadlineState.ON_TIME
    assert deadline_state(f, due, due - timedelta(days=2)) is DeadlineState.DUE_SOON
    assert deadline_state(f, due, due) is DeadlineState.OVERDUE
    answered = due - timedelta(days=1)
    assert deadline_state(Status.RESPONDED, due, due, answered) is DeadlineState.ANSWERED
    late = due + timedelta(hours=1)
    assert deadline_state(Status.RESPONDED, due, due, late) is DeadlineState.ANSWERED_LATE


def test_more_time_only_step_by_step() -> None:
    check_raise(Complexity.STANDARD, Complexity.COMPLEX)
    check_raise(Complexity.COMPLEX, Complexity.EXTENDED)
    with pytest.raises(TransitionRefused, match="already marked complex"):
        check_raise(Complexity.STANDARD, Complexity.EXTENDED)
    for current, target in [
        (Complexity.COMPLEX, Complexity.COMPLEX),
        (Complexity.EXTENDED, Complexity.EXTENDED),
        (Complexity.EXTENDED, Complexity.COMPLEX),
        (Complexity.COMPLEX, Complexity.STANDARD),
    ]:
        with pytest.raises(TransitionRefused):
            check_raise(current, target)
