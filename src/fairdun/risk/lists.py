"""Black, grey and white lists: entries with a reason, a source and dates; maker-checker for
manual entries; the borrower's appeal, a case with a deadline. Never commits: the caller's
unit of work does. Every change writes one audit record.

Tenancy. Every function takes the ``institution_id`` it acts for, and every id it is given
(borrower, entry, appeal) must belong to that institution: an id of another institution is
"not found", exactly as an id that does not exist. The boundary (web, CLI) resolves the
principal into that institution and an ``actor`` string (``Principal.actor``, or
``system:...`` for a job) and checks the role; :func:`list_institution` does both for the
staff who manage lists.

Lifecycle::

    manual:      add -> PENDING --approve (another person)--> ACTIVE --revoke--> REVOKED
                                --reject  (another person)--> REJECTED
    rule/model:  add -> ACTIVE --revoke / appeal upheld--> REVOKED

An entry is *effective* on a day when it is ACTIVE, its effective date is on or before the
day and the day is before its expiry date (the expiry date is the first day it no longer
counts). A borrower on several lists counts as the strictest: black, then grey, then white.

The audit trail records ids, kinds, sources, rule ids, dates and statuses, never the free
text (reasons and notes typed by staff, the borrower's appeal): the trail is append-only
and must not keep personal data that a deletion request could not reach.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fairdun.audit import service as audit
from fairdun.identity.models import Role
from fairdun.identity.principal import Principal
from fairdun.kit.clock import utcnow
from fairdun.kit.errors import Conflict, Forbidden, Invalid, NotFound
from fairdun.loans.models import Borrower
from fairdun.risk.models import (
    AppealStatus,
    ListAppeal,
    ListEntry,
    ListKind,
    ListSource,
    ListStatus,
)

__all__ = [
    "APPEAL_DAYS",
    "APPEAL_TEXT_MAX",
    "APPEAL_TEXT_MIN",
    "LIST_ROLES",
    "PRECEDENCE",
    "add_entry",
    "appeals",
    "approve",
    "decide_appeal",
    "effective_kind",
    "effective_kinds",
    "entries",
    "get_appeal",
    "get_entry",
    "is_overdue",
    "is_system_actor",
    "list_institution",
    "open_appeal",
    "overdue_appeals",
    "reject",
    "revoke",
    "strictest",
]

# Calendar days the institution has to decide an appeal, counted from the day it is opened.
APPEAL_DAYS = 15
APPEAL_TEXT_MIN = 10
APPEAL_TEXT_MAX = 4000
REASON_MAX = 500
ENTRY_NOTE_MAX = 500
APPEAL_NOTE_MAX = 1000

# Staff who make and check list entries and decide appeals.
LIST_ROLES = frozenset({Role.RISK_ANALYST, Role.INSTITUTION_ADMIN})

# The strictest list wins when a borrower is on several.
PRECEDENCE: dict[ListKind, int] = {ListKind.BLACK: 3, ListKind.GREY: 2, ListKind.WHITE: 1}

_ENTRY_NOT_FOUND = "no such list entry"
_APPEAL_NOT_FOUND = "no such appeal"


def list_institution(actor: Principal) -> int:
    """The institution whose lists ``actor`` manages: a risk analyst's or administrator's
    own. Anyone else is refused."""
    if actor.role not in LIST_ROLES:
        raise Forbidden("only a risk analyst or an institution administrator manages lists")
    if actor.institution_id is None:
        raise Forbidden("your account belongs to no institution")
    return actor.institution_id


def is_system_actor(actor: str) -> bool:
    """Jobs act as ``system`` or ``system:<job>``; they can make rule entries, never check."""
    return actor == "system" or actor.startswith("system:")


def strictest(kinds: Iterable[ListKind]) -> ListKind | None:
    best: ListKind | None = None
    for kind in kinds:
        if best is None or PRECEDENCE[kind] > PRECEDENCE[best]:
            best = kind
    return best


# --- entries ---------------------------------------------------------------------------


def _target(entry_id: int) -> str:
    return f"risk_list_entry:{entry_id}"


def _kind(value: ListKind | str) -> ListKind:
    try:
        return ListKind(value)
    except ValueError:
        known = ", ".join(k.value for k in ListKind)
        raise Invalid("kind", f"unknown list {value!r}; known: {known}") from None


def _source(value: ListSource | str) -> ListSource:
    try:
        return ListSource(value)
    except ValueError:
        known = ", ".join(s.value for s in ListSource)
        raise Invalid("source", f"unknown source {value!r}; known: {known}") from None


def _actor(actor: str) -> str:
    actor = actor.strip()
    if not actor or len(actor) > 100:
        raise Invalid("actor", "name who acts (1 to 100 characters)")
    return actor


def _text(field: str, value: str, *, low: int, high: int, what: str) -> str:
    value = value.strip()
    if len(value) < low:
        raise Invalid(
            field, f"{what} is required" if low <= 1 else f"{what}: at least {low} characters"
        )
    if len(value) > high:
        raise Invalid(field, f"{what}: at most {high} characters")
    return value


def _check_borrower(session: Session, institution_id: int, borrower_id: int) -> None:
    found = session.scalar(
        select(Borrower.id).where(
            Borrower.id == borrower_id, Borrower.institution_id == institution_id
        )
    )
    if found is None:
        raise NotFound("no such borrower")


def _entry_details(entry: ListEntry, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {
        "borrower_id": entry.borrower_id,
        "kind": str(entry.kind),
        "source": str(entry.source),
        "rule_id": entry.rule_id,
        "status": str(entry.status),
        "effective_date": entry.effective_date.isoformat(),
        "expiry_date": entry.expiry_date.isoformat() if entry.expiry_date else None,
    }
    details.update(extra)
    return details


def add_entry(
    session: Session,
    *,
    actor: str,
    institution_id: int,
    borrower_id: int,
    kind: ListKind | str,
    source: ListSource | str,
    reason: str,
    effective_date: date,
    expiry_date: date | None = None,
    rule_id: str = "",
    audit_details: dict[str, Any] | None = None,
) -> ListEntry:
    """Put a borrower on a list. A manual entry waits for a checker (PENDING, ``actor`` is
    its maker); a rule or model entry is ACTIVE at once and must name its rule or model.

    ``audit_details`` are added to the audit record (the rule's inputs, for a rule entry);
    they must not hold personal data."""
    actor = _actor(actor)
    list_kind = _kind(kind)
    list_source = _source(source)
    reason = _text("reason", reason, low=1, high=REASON_MAX, what="a reason")
    rule_id = rule_id.strip()
    if len(rule_id) > 100:
        raise Invalid("rule_id", "at most 100 characters")
    if list_source is not ListSource.MANUAL and not rule_id:
        raise Invalid("rule_id", f"a {list_source.value} entry names its rule or model")
    if expiry_date is not None and expiry_date <= effective_date:
        raise Invalid("expiry_date", "the expiry date must be after the effective date")
    _check_borrower(session, institution_id, borrower_id)
    status = ListStatus.PENDING if list_source is ListSource.MANUAL else ListStatus.ACTIVE
    entry = ListEntry(
        institution_id=institution_id,
        borrower_id=borrower_id,
        kind=list_kind,
        source=list_source,
        rule_id=rule_id,
        reason=reason,
        effective_date=effective_date,
        expiry_date=expiry_date,
        status=status,
        maker=actor,
        checker=None,
        decision_note="",
    )
    session.add(entry)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="risk.list.added",
        target=_target(entry.id),
        institution_id=institution_id,
        details=_entry_details(entry, **(audit_details or {})),
    )
    return entry


def get_entry(session: Session, institution_id: int, entry_id: int) -> ListEntry:
    """The entry if it belongs to ``institution_id``; otherwise NotFound, as if it did not
    exist."""
    entry = session.scalar(
        select(ListEntry).where(
            ListEntry.id == entry_id, ListEntry.institution_id == institution_id
        )
    )
    if entry is None:
        raise NotFound(_ENTRY_NOT_FOUND)
    return entry


def _entry_for_update(session: Session, institution_id: int, entry_id: int) -> ListEntry:
    # Locks the row on PostgreSQL: two checkers deciding the same entry at once serialise.
    entry = session.scalar(
        select(ListEntry)
        .where(ListEntry.id == entry_id, ListEntry.institution_id == institution_id)
        .with_for_update()
    )
    if entry is None:
        raise NotFound(_ENTRY_NOT_FOUND)
    return entry


def entries(
    session: Session,
    institution_id: int,
    *,
    borrower_id: int | None = None,
    status: ListStatus | None = None,
    kind: ListKind | None = None,
    limit: int = 200,
) -> list[ListEntry]:
    """An institution's entries, newest first, optionally of one borrower, status or list."""
    stmt = select(ListEntry).where(ListEntry.institution_id == institution_id)
    if borrower_id is not None:
        stmt = stmt.where(ListEntry.borrower_id == borrower_id)
    if status is not None:
        stmt = stmt.where(ListEntry.status == status)
    if kind is not None:
        stmt = stmt.where(ListEntry.kind == kind)
    return list(session.scalars(stmt.order_by(ListEntry.id.desc()).limit(limit)))


def _check(
    session: Session,
    *,
    actor: str,
    institution_id: int,
    entry_id: int,
    note: str,
    approved: bool,
    now: datetime | None,
) -> ListEntry:
    actor = _actor(actor)
    note = note.strip()
    if not approved:
        note = _text("note", note, low=1, high=ENTRY_NOTE_MAX, what="a reason for rejecting")
    elif len(note) > ENTRY_NOTE_MAX:
        raise Invalid("note", f"at most {ENTRY_NOTE_MAX} characters")
    entry = _entry_for_update(session, institution_id, entry_id)
    if entry.status != ListStatus.PENDING:
        raise Conflict(f"list entry {entry.id} is {entry.status}, not pending: nothing to check")
    if is_system_actor(actor):
        raise Forbidden("a manual list entry is checked by a person, not by a job")
    if actor == entry.maker:
        raise Forbidden(
            "maker-checker: the person who made a list entry cannot also approve or reject "
            "it; another person must check it"
        )
    entry.status = ListStatus.ACTIVE if approved else ListStatus.REJECTED
    entry.checker = actor
    entry.decided_at = now or utcnow()
    entry.decision_note = note
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="risk.list.approved" if approved else "risk.list.rejected",
        target=_target(entry.id),
        institution_id=institution_id,
        details=_entry_details(entry, maker=entry.maker),
        decided_by=actor,
    )
    return entry


def approve(
    session: Session,
    *,
    actor: str,
    institution_id: int,
    entry_id: int,
    note: str = "",
    now: datetime | None = None,
) -> ListEntry:
    """The checker approves a pending manual entry; it becomes ACTIVE. The checker must be
    a person other than the maker."""
    return _check(
        session,
        actor=actor,
        institution_id=institution_id,
        entry_id=entry_id,
        note=note,
        approved=True,
        now=now,
    )


def reject(
    session: Session,
    *,
    actor: str,
    institution_id: int,
    entry_id: int,
    note: str,
    now: datetime | None = None,
) -> ListEntry:
    """The checker rejects a pending manual entry, saying why; it never takes effect."""
    return _check(
        session,
        actor=actor,
        institution_id=institution_id,
        entry_id=entry_id,
        note=note,
        approved=False,
        now=now,
    )


def _revoke(entry: ListEntry, note: str, now: datetime) -> None:
    entry.status = ListStatus.REVOKED
    entry.decided_at = now
    entry.decision_note = note[:ENTRY_NOTE_MAX]


def revoke(
    session: Session,
    *,
    actor: str,
    institution_id: int,
    entry_id: int,
    note: str,
    now: datetime | None = None,
) -> ListEntry:
    """Take an entry off its list (an ACTIVE one, or withdraw a PENDING one), saying why.

    A rule entry revoked by hand is not put back by the next rule run while its original
    period lasts (see ``fairdun.risk.limits.apply_lists``)."""
    actor = _actor(actor)
    note = _text("note", note, low=1, high=ENTRY_NOTE_MAX, what="a reason for revoking")
    entry = _entry_for_update(session, institution_id, entry_id)
    if entry.status not in (ListStatus.ACTIVE, ListStatus.PENDING):
        raise Conflict(
            f"list entry {entry.id} is {entry.status}: only an active or pending "
            "entry can be revoked"
        )
    previous = str(entry.status)
    _revoke(entry, note, now or utcnow())
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="risk.list.revoked",
        target=_target(entry.id),
        institution_id=institution_id,
        details=_entry_details(entry, previous_status=previous),
        decided_by=actor,
    )
    return entry


# --- what counts -----------------------------------------------------------------------


def _effective(institution_id: int, as_of: date) -> Any:
    return select(ListEntry.borrower_id, ListEntry.kind).where(
        ListEntry.institution_id == institution_id,
        ListEntry.status == ListStatus.ACTIVE,
        ListEntry.effective_date <= as_of,
        or_(ListEntry.expiry_date.is_(None), ListEntry.expiry_date > as_of),
    )


def effective_kind(
    session: Session, institution_id: int, borrower_id: int, as_of: date
) -> ListKind | None:
    """The list a borrower counts as on ``as_of`` (black > grey > white), or None."""
    rows = session.execute(
        _effective(institution_id, as_of).where(ListEntry.borrower_id == borrower_id)
    )
    return strictest(ListKind(kind) for _, kind in rows)


def effective_kinds(session: Session, institution_id: int, as_of: date) -> dict[int, ListKind]:
    """Every listed borrower of the institution on ``as_of`` and the list they count as."""
    found: dict[int, ListKind] = {}
    for borrower_id, raw in session.execute(_effective(institution_id, as_of)):
        kind = ListKind(raw)
        current = found.get(borrower_id)
        if current is None or PRECEDENCE[kind] > PRECEDENCE[current]:
            found[borrower_id] = kind
    return found


# --- appeals ---------------------------------------------------------------------------


def open_appeal(
    session: Session,
    *,
    actor: str,
    institution_id: int,
    borrower_id: int,
    entry_id: int,
    text: str,
    today: date,
    days: int = APPEAL_DAYS,
    now: datetime | None = None,
) -> ListAppeal:
    """The borrower appeals against one of their entries (active or pending). One open
    appeal per entry; the institution must decide by ``today + days``."""
    actor = _actor(actor)
    if days < 1:
        raise ValueError("an appeal needs at least one day to be decided")
    text = _text("text", text, low=APPEAL_TEXT_MIN, high=APPEAL_TEXT_MAX, what="the appeal")
    entry = _entry_for_update(session, institution_id, entry_id)
    if entry.borrower_id != borrower_id:
        raise NotFound(_ENTRY_NOT_FOUND)
    if entry.status not in (ListStatus.ACTIVE, ListStatus.PENDING):
        raise Conflict(f"this entry is {entry.status}: there is nothing to appeal")
    already = session.scalar(
        select(ListAppeal.id).where(
            ListAppeal.entry_id == entry.id, ListAppeal.status == AppealStatus.OPEN
        )
    )
    if already is not None:
        raise Conflict("an appeal against this entry is already open")
    appeal = ListAppeal(
        institution_id=institution_id,
        entry_id=entry.id,
        borrower_id=borrower_id,
        text=text,
        status=AppealStatus.OPEN,
        opened_at=now or utcnow(),
        due_date=today + timedelta(days=days),
        decision_note="",
    )
    session.add(appeal)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="risk.appeal.opened",
        target=_target(entry.id),
        institution_id=institution_id,
        details={
            "appeal_id": appeal.id,
            "borrower_id": borrower_id,
            "kind": str(entry.kind),
            "entry_status": str(entry.status),
            "due_date": appeal.due_date.isoformat(),
        },
    )
    return appeal


def get_appeal(session: Session, institution_id: int, appeal_id: int) -> ListAppeal:
    """The appeal if it belongs to ``institution_id``; otherwise NotFound."""
    appeal = session.scalar(
        select(ListAppeal).where(
            ListAppeal.id == appeal_id, ListAppeal.institution_id == institution_id
        )
    )
    if appeal is None:
        raise NotFound(_APPEAL_NOT_FOUND)
    return appeal


def appeals(
    session: Session,
    institution_id: int,
    *,
    status: AppealStatus | None = None,
    borrower_id: int | None = None,
    limit: int = 200,
) -> list[ListAppeal]:
    """An institution's appeals, the soonest due first."""
    stmt = select(ListAppeal).where(ListAppeal.institution_id == institution_id)
    if status is not None:
        stmt = stmt.where(ListAppeal.status == status)
    if borrower_id is not None:
        stmt = stmt.where(ListAppeal.borrower_id == borrower_id)
    return list(session.scalars(stmt.order_by(ListAppeal.due_date, ListAppeal.id).limit(limit)))


def decide_appeal(
    session: Session,
    *,
    actor: str,
    institution_id: int,
    appeal_id: int,
    upheld: bool,
    note: str,
    now: datetime | None = None,
) -> ListAppeal:
    """Decide an open appeal, saying why. Upheld: the entry comes off its list (REVOKED)
    if it is still on it. The decider is a person other than the entry's maker."""
    actor = _actor(actor)
    note = _text("note", note, low=1, high=APPEAL_NOTE_MAX, what="the reason for the decision")
    appeal = session.scalar(
        select(ListAppeal)
        .where(ListAppeal.id == appeal_id, ListAppeal.institution_id == institution_id)
        .with_for_update()
    )
    if appeal is None:
        raise NotFound(_APPEAL_NOT_FOUND)
    if appeal.status != AppealStatus.OPEN:
        raise Conflict(f"appeal {appeal.id} is already {appeal.status}")
    if is_system_actor(actor):
        raise Forbidden("an appeal is decided by a person, not by a job")
    entry = _entry_for_update(session, institution_id, appeal.entry_id)
    if actor == entry.maker:
        raise Forbidden(
            "the person who made the list entry cannot decide the appeal against it; "
            "another person must review it"
        )
    at = now or utcnow()
    appeal.status = AppealStatus.UPHELD if upheld else AppealStatus.DISMISSED
    appeal.decided_by = actor
    appeal.decided_at = at
    appeal.decision_note = note
    entry_revoked = False
    if upheld and entry.status in (ListStatus.ACTIVE, ListStatus.PENDING):
        _revoke(entry, f"appeal {appeal.id} upheld: {note}", at)
        entry_revoked = True
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="risk.appeal.decided",
        target=_target(entry.id),
        institution_id=institution_id,
        details={
            "appeal_id": appeal.id,
            "borrower_id": appeal.borrower_id,
            "outcome": str(appeal.status),
            "due_date": appeal.due_date.isoformat(),
            "decided_late": at.date() > appeal.due_date,
            "entry_revoked": entry_revoked,
            "entry_status": str(entry.status),
        },
        decided_by=actor,
    )
    return appeal


def is_overdue(appeal: ListAppeal, today: date) -> bool:
    """An open appeal past its due date (it may be decided on the due date itself)."""
    return appeal.status == AppealStatus.OPEN and today > appeal.due_date


def overdue_appeals(session: Session, institution_id: int, today: date) -> list[ListAppeal]:
    """The institution's open appeals past their due date, the most overdue first."""
    return list(
        session.scalars(
            select(ListAppeal)
            .where(
                ListAppeal.institution_id == institution_id,
                ListAppeal.status == AppealStatus.OPEN,
                ListAppeal.due_date < today,
            )
            .order_by(ListAppeal.due_date, ListAppeal.id)
        )
    )
