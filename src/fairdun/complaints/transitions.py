"""The case workflow as data: the statuses, the whitelist of transitions with who may take
each, and the response deadlines. Pure: no session, no clock (``now`` is a parameter).

Deadlines follow the 2020 complaint-handling rules (REGULATIONS.md, CN-COMPLAINT-SLA):
a decision within 15 days of receipt, 30 for a complex case, 60 for a specially complex
one with a senior's approval and notice to the reporter. The institution receives the
complaint when it is forwarded. Days are counted as Chinese law counts periods: the day
of receipt is not counted, and the last day ends at midnight, Beijing time.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class Status(StrEnum):
    SUBMITTED = "submitted"  # received from the reporter, not yet reviewed
    TRIAGED = "triaged"  # reviewed by the regulator: categories and institution confirmed
    FORWARDED = "forwarded"  # with the institution, its deadline running
    RESPONDED = "responded"  # the institution answered; the reporter may accept or dispute
    ACCEPTED = "accepted"  # the reporter accepted the answer
    DISPUTED = "disputed"  # the reporter disputed the answer
    ESCALATED = "escalated"  # the regulator handles the case itself
    CLOSED = "closed"  # finished; nothing more happens


class Party(StrEnum):
    """Who takes a step."""

    REPORTER = "reporter"
    INSTITUTION = "institution"
    REGULATOR = "regulator"
    SYSTEM = "system"


S, P = Status, Party
# Every allowed (from, to) and who may take it. Anything not listed is refused.
TRANSITIONS: dict[tuple[Status, Status], frozenset[Party]] = {
    (S.SUBMITTED, S.TRIAGED): frozenset({P.REGULATOR}),
    (S.SUBMITTED, S.CLOSED): frozenset({P.REGULATOR}),  # spam, out of scope, duplicate
    (S.TRIAGED, S.FORWARDED): frozenset({P.REGULATOR}),
    (S.TRIAGED, S.ESCALATED): frozenset({P.REGULATOR}),  # serious: the regulator acts itself
    (S.TRIAGED, S.CLOSED): frozenset({P.REGULATOR}),
    (S.FORWARDED, S.RESPONDED): frozenset({P.INSTITUTION}),
    (S.FORWARDED, S.ESCALATED): frozenset({P.REGULATOR}),  # e.g. the deadline passed
    (S.RESPONDED, S.ACCEPTED): frozenset({P.REPORTER}),
    (S.RESPONDED, S.DISPUTED): frozenset({P.REPORTER}),
    (S.RESPONDED, S.ESCALATED): frozenset({P.REGULATOR}),
    (S.RESPONDED, S.CLOSED): frozenset({P.REGULATOR}),  # the reporter never answered
    (S.ACCEPTED, S.CLOSED): frozenset({P.REGULATOR, P.SYSTEM}),
    (S.DISPUTED, S.FORWARDED): frozenset({P.REGULATOR}),  # back to the institution
    (S.DISPUTED, S.ESCALATED): frozenset({P.REGULATOR}),
    (S.DISPUTED, S.CLOSED): frozenset({P.REGULATOR}),
    (S.ESCALATED, S.CLOSED): frozenset({P.REGULATOR}),
}

# Statuses in which the institution may see the case (it was forwarded to it once).
INSTITUTION_VISIBLE = frozenset(
    {S.FORWARDED, S.RESPONDED, S.ACCEPTED, S.DISPUTED, S.ESCALATED, S.CLOSED}
)
OPEN = frozenset(set(Status) - {S.CLOSED})


class TransitionRefused(ValueError):
    """A step the whitelist does not allow; ``wrong_party`` when only the actor is wrong."""

    def __init__(self, message: str, *, wrong_party: bool = False) -> None:
        super().__init__(message)
        self.wrong_party = wrong_party


def allowed_next(current: Status, party: Party) -> list[Status]:
    return [to for (frm, to), who in TRANSITIONS.items() if frm == current and party in who]


def check_transition(current: Status, target: Status, party: Party) -> None:
    """Return if ``party`` may move a case from ``current`` to ``target``; else raise."""
    who = TRANSITIONS.get((current, target))
    if who is None:
        raise TransitionRefused(
            f"a case that is {current.value} cannot become {target.value}"
            + (
                f" (from {current.value} it can become: "
                + ", ".join(sorted({to.value for (frm, to) in TRANSITIONS if frm == current}))
                + ")"
                if current is not S.CLOSED
                else " (a closed case is final)"
            )
        )
    if party not in who:
        raise TransitionRefused(
            f"only the {' or '.join(sorted(p.value for p in who))} may move a case from "
            f"{current.value} to {target.value}",
            wrong_party=True,
        )


# --- deadlines -------------------------------------------------------------------------------


class Complexity(StrEnum):
    STANDARD = "standard"
    COMPLEX = "complex"
    EXTENDED = "extended"  # specially complex: a senior approved it and the reporter was told


DAYS = {Complexity.STANDARD: 15, Complexity.COMPLEX: 30, Complexity.EXTENDED: 60}
# Only forward: a standard case may become complex, a complex one extended.
RAISES = {Complexity.STANDARD: Complexity.COMPLEX, Complexity.COMPLEX: Complexity.EXTENDED}
LEGAL_ZONE = ZoneInfo("Asia/Shanghai")
DUE_SOON = timedelta(days=3)


def due_at(received_at: datetime, complexity: Complexity, zone: ZoneInfo = LEGAL_ZONE) -> datetime:
    """The moment the answer is late: midnight (local) after the last day of the period,
    which starts the day after receipt."""
    received_day = received_at.astimezone(zone).date()
    last_day = received_day + timedelta(days=DAYS[complexity])
    return datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone)


def check_raise(current: Complexity, target: Complexity) -> None:
    if RAISES.get(current) is not target:
        if target is Complexity.EXTENDED and current is Complexity.STANDARD:
            raise TransitionRefused("only a case already marked complex may be extended to 60 days")
        raise TransitionRefused(f"a {current.value} case cannot be marked {target.value}")


class DeadlineState(StrEnum):
    ON_TIME = "on_time"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    ANSWERED_LATE = "answered_late"
    ANSWERED = "answered"


def deadline_state(
    status: Status,
    due: datetime | None,
    now: datetime,
    responded_at: datetime | None = None,
    soon: timedelta = DUE_SOON,
) -> DeadlineState | None:
    """Where a case stands against its deadline; None before it was ever forwarded."""
    if due is None:
        return None
    if responded_at is not None and status is not S.FORWARDED:
        return DeadlineState.ANSWERED_LATE if responded_at >= due else DeadlineState.ANSWERED
    if status is not S.FORWARDED:
        return None
    if now >= due:
        return DeadlineState.OVERDUE
    if now >= due - soon:
        return DeadlineState.DUE_SOON
    return DeadlineState.ON_TIME


def is_overdue(status: Status, due: datetime | None, now: datetime) -> bool:
    return deadline_state(status, due, now) is DeadlineState.OVERDUE


# --- what a report is about ----------------------------------------------------------------


class ReporterKind(StrEnum):
    BORROWER = "borrower"
    CONTACT_OR_RELATIVE = "contact_or_relative"
    COLLEAGUE_OR_EMPLOYER = "colleague_or_employer"
    STRANGER = "stranger"


class ResponseOutcome(StrEnum):
    EXPLANATION = "explanation"  # explained; nothing was wrong
    REMEDY = "remedy"  # the conduct was corrected (collector disciplined, contact stopped)
    RELIEF = "relief"  # money: fees waived, interest reduced, compensation
    NO_ACTION = "no_action"  # the institution declines to act


# Conduct the content checker cannot see in a message: how often, when, and visits.
CONDUCT_CATEGORIES: tuple[str, ...] = ("frequency", "hours", "visits")


class Audience(StrEnum):
    """The widest audience of a timeline entry: public (the reporter too), institution
    (the institution and the regulator), or the regulator alone."""

    PUBLIC = "public"
    INSTITUTION = "institution"
    REGULATOR = "regulator"
