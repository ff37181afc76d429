"""Black, grey and white lists: maker-checker, dates, precedence, appeals, tenancy, audit."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairdun.audit.models import AuditRecord
from fairdun.identity.models import Role
from fairdun.identity.principal import Principal
from fairdun.institutions.models import Institution
from fairdun.kit.errors import Conflict, Forbidden, Invalid, NotFound
from fairdun.loans.models import Borrower
from fairdun.risk import lists
from fairdun.risk.models import (
    AppealStatus,
    ListAppeal,
    ListEntry,
    ListKind,
    ListSource,
    ListStatus,
)
from tests.factories import make_borrower, make_institution

DAY = date(2026, 11, 30)
MAKER = "user:101"
CHECKER = "user:102"
BORROWER_ACTOR = "user:900"
APPEAL_TEXT = "I repaid this loan in full in October; please check the bank transfer."


@pytest.fixture
def bank(db: Session) -> Institution:
    return make_institution(db)


@pytest.fixture
def borrower(db: Session, bank: Institution) -> Borrower:
    return make_borrower(db, bank)


def _manual(
    db: Session,
    bank: Institution,
    borrower: Borrower,
    kind: ListKind = ListKind.BLACK,
    **kw: object,
) -> ListEntry:
    values: dict[str, object] = {
        "actor": MAKER,
        "institution_id": bank.id,
        "borrower_id": borrower.id,
        "kind": kind,
        "source": ListSource.MANUAL,
        "reason": "identity fraud confirmed by the branch",
        "effective_date": DAY,
    }
    values.update(kw)
    return lists.add_entry(db, **values)  # type: ignore[arg-type]


def _rule(
    db: Session,
    bank: Institution,
    borrower: Borrower,
    kind: ListKind,
    *,
    effective: date = DAY,
    expiry: date | None = None,
) -> ListEntry:
    return lists.add_entry(
        db,
        actor="system:lists-apply",
        institution_id=bank.id,
        borrower_id=borrower.id,
        kind=kind,
        source=ListSource.RULE,
        reason="30 days past due",
        effective_date=effective,
        expiry_date=expiry,
        rule_id="credit-cn-default.grey-dpd30",
    )


def _audit(db: Session, action: str | None = None) -> list[AuditRecord]:
    stmt = select(AuditRecord).where(AuditRecord.action.like("risk.%")).order_by(AuditRecord.id)
    if action is not None:
        stmt = stmt.where(AuditRecord.action == action)
    return list(db.scalars(stmt))


# --- maker-checker ----------------------------------------------------------------------


def test_manual_entry_waits_for_a_checker_and_is_not_effective_meanwhile(
    db: Session, bank: Institution, borrower: Borrower
) -> None:
    entry = _manual(db, bank, borrower)
    assert entry.status == ListStatus.PENDING
    assert entry.maker == MAKER
    assert entry.checker is None
    assert lists.effective_kind(db, bank.id, borrower.id, DAY) is None
    assert lists.effective_kinds(db, bank.id, DAY) == {}


def test_the_maker_cannot_check_their_own_entry(
    db: Session, bank: Institution, borrower: Borrower
) -> None:
    entry = _manual(db, bank, borrower)
    with pytest.raises(Forbidden, match="maker-checker"):
        lists.approve(db, actor=MAKER, institution_id=bank.id, entry_id=entry.id)
    with pytest.raises(Forbidden, match="maker-checker"):
        lists.reject(db, actor=MAKER, institution_id=bank.id, entry_id=entry.id, note="no")
    assert entry.status == ListStatus.PENDING
    assert _audit(db, "risk.list.approved") == []


def test_a_job_cannot_check_a_manual_entry(
    db: Session, bank: Institution, borrower: Borrower
) -> None:
    entry = _manual(db, bank, borrower)
    with pytest.raises(Forbidden, match="person"):
        lists.approve(db, actor="system:lists-apply", institution_id=bank.id, entry_id=entry.id)


def test_another_person_approves_and_the_entry_takes_effect(
    db: Session, bank: Institution, borrower: Borrower
) -> None:
    entry = _manual(db, bank, borrower)
    lists.approve(db, actor=CHECKER, institution_id=bank.id, entry_id=entry.id, note="seen")
    assert entry.status == ListStatus.ACTIVE
    assert entry.checker == CHECKER
    assert entry.decided_at is not None
    assert lists.effective_kind(db, bank.id, borrower.id, DAY) is ListKind.BLACK
    with pytest.raises(Conflict, match="not pending"):
        lists.approve(db, actor="user:103", institution_id=bank.id, entry_id=entry.id)


def test_a_rejected_entry_never_takes_effect_and_needs_a_reason(
    db: Session, bank: Institution, borrower: Borrower
) -> None:
    entry = _manual(db, bank, borrower)
    with pytest.raises(Invalid, match="note"):
        lists.reject(db, actor=CHECKER, institution_id=bank.id, entry_id=entry.id, note="  ")
    lists.reject(db, actor=CHECKER, institution_id=bank.id, entry_id=entry.id, note="no proof")
    assert entry.status == ListStatus.REJECTED
    assert lists.effective_kind(db, bank.id, borrower.id, DAY) is None


def test_rule_and_model_entries_are_active_at_once_and_name_their_rule(
    db: Session, bank: Institution, borrower: Borrower
) -> None:
    entry = _rule(db, bank, borrower, ListKind.GREY)
    assert entry.status == ListStatus.ACTIVE
    assert entry.maker == "system:lists-apply"
    with pytest.raises(Invalid, match="rule_id"):
        lists.add_entry(
            db,
            actor="system:score",
            institution_id=bank.id,
            borrower_id=borrower.id,
            kind="grey",
            source="model",
            reason="probability 0.7",
            effective_date=DAY,
        )


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("reason", {"reason": "   "}),
        ("expiry_date", {"expiry_date": DAY}),
        ("expiry_date", {"expiry_date": DAY - timedelta(days=1)}),
        ("kind", {"kind": "purple"}),
        ("source", {"source": "rumour"}),
    ],
)
def test_bad_entries_are_refused_naming_the_field(
    db: Session, bank: Institution, borrower: Borrower, field: str, changes: dict[str, Any]
) -> None:
    with pytest.raises(Invalid) as info:
        _manual(db, bank, borrower, **changes)
    assert info.value.field == field
    assert db.scalar(select(ListEntry.id)) is None


def test_a_borrower_of_another_institution_cannot_be_listed(db: Session, bank: Institution) -> None:
    other = make_borrower(db, make_institution(db))
    with pytest.raises(NotFound, match="borrower"):
        _manual(db, bank, other)


# --- what counts ------------------------------------------------------------------------


def test_an_entry_counts_from_its_effective_date_until_the_day_before_expiry(
    db: Session, bank: Institution, borrower: Borrower
) -> None:
    _rule(db, bank, borrower, ListKind.GREY, effective=DAY, expiry=DAY + timedelta(days=10))
    assert lists.effective_kind(db, bank.id, borrower.id, DAY - timedelta(days=1)) is None
    assert lists.effective_kind(db, bank.id, borrower.id, DAY) is ListKind.GREY
    assert lists.effective_kind(db, bank.id, borrower.id, DAY + timedelta(days=9)) is ListKind.GREY
    assert lists.effective_kind(db, bank.id, borrower.id, DAY + timedelta(days=10)) is None


def test_black_beats_grey_beats_white(db: Session, bank: Institution) -> None:
    b1, b2, b3 = (make_borrower(db, bank) for _ in range(3))
    _rule(db, bank, b1, ListKind.WHITE)
    _rule(db, bank, b1, ListKind.GREY)
    _rule(db, bank, b2, ListKind.WHITE)
    _rule(db, bank, b2, ListKind.BLACK)
    _rule(db, bank, b2, ListKind.GREY)
    _rule(db, bank, b3, ListKind.WHITE)
    assert lists.effective_kinds(db, bank.id, DAY) == {
        b1.id: ListKind.GREY,
        b2.id: ListKind.BLACK,
        b3.id: ListKind.WHITE,
    }
    assert lists.effective_kind(db, bank.id, b2.id, DAY) is ListKind.BLACK
    assert lists.strictest([]) is None


def test_a_revoked_entry_no_longer_counts(
    db: Session, bank: Institution, borrower: Borrower
) -> None:
    entry = _rule(db, bank, borrower, ListKind.GREY)
    with pytest.raises(Invalid, match="note"):
        lists.revoke(db, actor=MAKER, institution_id=bank.id, entry_id=entry.id, note="")
    lists.revoke(db, actor=MAKER, institution_id=bank.id, entry_id=entry.id, note="paid up")
    assert entry.status == ListStatus.REVOKED
    assert lists.effective_kind(db, bank.id, borrower.id, DAY) is None
    with pytest.raises(Conflict):
        lists.revoke(db, actor=MAKER, institution_id=bank.id, entry_id=entry.id, note="again")


def test_lists_of_another_institution_do_not_count(
    db: Session, bank: Institution, borrower: Borrower
) -> None:
    _rule(db, bank, borrower, ListKind.BLACK)
    other = make_institution(db)
    assert lists.effective_kind(db, other.id, borrower.id, DAY) is None
    assert lists.effective_kinds(db, other.id, DAY) == {}


# --- appeals ----------------------------------------------------------------------------


def _appeal(
    db: Session, bank: Institution, borrower: Borrower, entry: ListEntry, today: date = DAY
) -> ListAppeal:
    return lists.open_appeal(
        db,
        actor=BORROWER_ACTOR,
        institution_id=bank.id,
        borrower_id=borrower.id,
        entry_id=entry.id,
        text=APPEAL_TEXT,
        today=today,
    )


def test_an_appeal_is_due_in_fifteen_days_and_overdue_after(
    db: Session, bank: Institution, borrower: Borrower
) -> None:
    entry = _rule(db, bank, borrower, ListKind.GREY)
    appeal = _appeal(db, bank, borrower, entry)
    assert appeal.status == AppealStatus.OPEN
    assert appeal.due_date == DAY + timedelta(days=lists.APPEAL_DAYS) == date(2026, 12, 15)
    assert appeal.text == APPEAL_TEXT
    assert not lists.is_overdue(appeal, appeal.due_date)
    assert lists.is_overdue(appeal, appeal.due_date + timedelta(days=1))
    assert lists.overdue_appeals(db, bank.id, appeal.due_date) == []
    assert lists.overdue_appeals(db, bank.id, appeal.due_date + timedelta(days=1)) == [appeal]
    assert lists.overdue_appeals(db, make_institution(db).id, date(2027, 1, 1)) == []


def test_the_appeal_deadline_is_a_parameter(
    db: Session, bank: Institution, borrower: Borrower
) -> None:
    entry = _rule(db, bank, borrower, ListKind.GREY)
    appeal = lists.open_appeal(
        db,
        actor=BORROWER_ACTOR,
        institution_id=bank.id,
        borrower_id=borrower.id,
        entry_id=entry.id,
        text=APPEAL_TEXT,
        today=DAY,
        days=7,
    )
    assert appeal.due_date == DAY + timedelta(days=7)


def test_a_pending_entry_can_be_appealed_but_only_once_at_a_time(
    db: Session, bank: Institution, borrower: Borrower
) -> None:
    entry = _manual(db, bank, borrower)
    _appeal(db, bank, borrower, entry)
    with pytest.raises(Conflict, match="already open"):
        _appeal(db, bank, borrower, entry)


@pytest.mark.parametrize("text", ["too short", "x" * (lists.APPEAL_TEXT_MAX + 1)])
def test_appeal_text_length_is_checked(
    db: Session, bank: Institution, borrower: Borrower, text: str
) -> None:
    entry = _rule(db, bank, borrower, ListKind.GREY)
    with pytest.raises(Invalid, match="text"):
        lists.open_appeal(
            db,
            actor=BORROWER_ACTOR,
            institution_id=bank.id,
            borrower_id=borrower.id,
            entry_id=entry.id,
            text=text,
            today=DAY,
        )


def test_only_the_listed_borrower_can_appeal_and_only_a_live_entry(
    db: Session, bank: Institution, borrower: Borrower
) -> None:
    entry = _rule(db, bank, borrower, ListKind.GREY)
    someone_else = make_borrower(db, bank)
    with pytest.raises(NotFound):
        _appeal(db, bank, someone_else, entry)
    lists.revoke(db, actor=MAKER, institution_id=bank.id, entry_id=entry.id, note="error")
    with pytest.raises(Conflict, match="nothing to appeal"):
        _appeal(db, bank, borrower, entry)


def test_an_upheld_appeal_revokes_the_entry(
    db: Session, bank: Institution, borrower: Borrower
) -> None:
    entry = _rule(db, bank, borrower, ListKind.BLACK)
    appeal = _appeal(db, bank, borrower, entry)
    with pytest.raises(Invalid, match="note"):
        lists.decide_appeal(
            db, actor=CHECKER, institution_id=bank.id, appeal_id=appeal.id, upheld=True, note=""
        )
    lists.decide_appeal(
        db,
        actor=CHECKER,
        institution_id=bank.id,
        appeal_id=appeal.id,
        upheld=True,
        note="transfer found",
    )
    assert appeal.status == AppealStatus.UPHELD
    assert appeal.decided_by == CHECKER
    assert entry.status == ListStatus.REVOKED
    assert "transfer found" in entry.decision_note
    assert lists.effective_kind(db, bank.id, borrower.id, DAY) is None
    assert not lists.is_overdue(appeal, DAY + timedelta(days=100))
    with pytest.raises(Conflict, match="already"):
        lists.decide_appeal(
            db, actor=CHECKER, institution_id=bank.id, appeal_id=appeal.id, upheld=False, note="x"
        )


def test_a_dismissed_appeal_leaves_the_entry_and_the_maker_cannot_decide_it(
    db: Session, bank: Institution, borrower: Borrower
) -> None:
    entry = _manual(db, bank, borrower)
    lists.approve(db, actor=CHECKER, institution_id=bank.id, entry_id=entry.id)
    appeal = _appeal(db, bank, borrower, entry)
    with pytest.raises(Forbidden, match="made the list entry"):
        lists.decide_appeal(
            db, actor=MAKER, institution_id=bank.id, appeal_id=appeal.id, upheld=True, note="ok"
        )
    lists.decide_appeal(
        db,
        actor=CHECKER,
        institution_id=bank.id,
        appeal_id=appeal.id,
        upheld=False,
        note="the fraud report stands",
    )
    assert appeal.status == AppealStatus.DISMISSED
    assert entry.status == ListStatus.ACTIVE


# --- tenancy ----------------------------------------------------------------------------


def test_ids_of_another_institution_are_not_found(
    db: Session, bank: Institution, borrower: Borrower
) -> None:
    entry = _manual(db, bank, borrower)
    appeal = _appeal(db, bank, borrower, entry)
    other = make_institution(db).id
    missing = 10_000_000
    calls: list[Callable[[], object]] = [
        lambda: lists.get_entry(db, other, entry.id),
        lambda: lists.approve(db, actor=CHECKER, institution_id=other, entry_id=entry.id),
        lambda: lists.reject(db, actor=CHECKER, institution_id=other, entry_id=entry.id, note="n"),
        lambda: lists.revoke(db, actor=CHECKER, institution_id=other, entry_id=entry.id, note="n"),
        lambda: lists.open_appeal(
            db,
            actor=BORROWER_ACTOR,
            institution_id=other,
            borrower_id=borrower.id,
            entry_id=entry.id,
            text=APPEAL_TEXT,
            today=DAY,
        ),
        lambda: lists.get_appeal(db, other, appeal.id),
        lambda: lists.decide_appeal(
            db, actor=CHECKER, institution_id=other, appeal_id=appeal.id, upheld=True, note="n"
        ),
    ]
    for call in calls:
        with pytest.raises(NotFound) as info:
            call()
        # The same words as for an id that does not exist: nothing leaks.
        assert "no such" in info.value.message
    with pytest.raises(NotFound) as real:
        lists.get_entry(db, bank.id, missing)
    with pytest.raises(NotFound) as foreign:
        lists.get_entry(db, other, entry.id)
    assert real.value.message == foreign.value.message
    assert entry.status == ListStatus.PENDING
    assert appeal.status == AppealStatus.OPEN
    assert lists.entries(db, other) == []
    assert lists.appeals(db, other) == []
    assert lists.entries(db, bank.id, borrower_id=borrower.id) == [entry]
    assert lists.appeals(db, bank.id, status=AppealStatus.OPEN) == [appeal]


def test_only_list_staff_of_an_institution_manage_lists(bank: Institution) -> None:
    analyst = Principal(role=Role.RISK_ANALYST, institution_id=bank.id, user_id=1)
    assert lists.list_institution(analyst) == bank.id
    for role in (Role.COLLECTOR, Role.BORROWER, Role.REGULATOR):
        with pytest.raises(Forbidden):
            lists.list_institution(Principal(role=role, institution_id=bank.id, user_id=2))
    with pytest.raises(Forbidden):
        lists.list_institution(Principal(role=Role.INSTITUTION_ADMIN, institution_id=None))


# --- audit ------------------------------------------------------------------------------


def test_every_change_is_audited_without_free_text(
    db: Session, bank: Institution, borrower: Borrower
) -> None:
    entry = _manual(db, bank, borrower)
    lists.approve(db, actor=CHECKER, institution_id=bank.id, entry_id=entry.id, note="seen")
    appeal = _appeal(db, bank, borrower, entry)
    lists.decide_appeal(
        db,
        actor="user:103",
        institution_id=bank.id,
        appeal_id=appeal.id,
        upheld=True,
        note="the branch withdrew the fraud report",
    )
    other = _manual(db, bank, borrower, kind=ListKind.GREY)
    lists.reject(db, actor=CHECKER, institution_id=bank.id, entry_id=other.id, note="weak")
    third = _rule(db, bank, borrower, ListKind.WHITE)
    lists.revoke(db, actor=CHECKER, institution_id=bank.id, entry_id=third.id, note="oops")

    records = _audit(db)
    assert [(r.action, r.target, r.actor) for r in records] == [
        ("risk.list.added", f"risk_list_entry:{entry.id}", MAKER),
        ("risk.list.approved", f"risk_list_entry:{entry.id}", CHECKER),
        ("risk.appeal.opened", f"risk_list_entry:{entry.id}", BORROWER_ACTOR),
        ("risk.appeal.decided", f"risk_list_entry:{entry.id}", "user:103"),
        ("risk.list.added", f"risk_list_entry:{other.id}", MAKER),
        ("risk.list.rejected", f"risk_list_entry:{other.id}", CHECKER),
        ("risk.list.added", f"risk_list_entry:{third.id}", "system:lists-apply"),
        ("risk.list.revoked", f"risk_list_entry:{third.id}", CHECKER),
    ]
    assert all(r.institution_id == bank.id for r in records)
    decided = json.loads(records[3].details)
    assert decided["appeal_id"] == appeal.id
    assert decided["outcome"] == "upheld"
    assert decided["entry_revoked"] is True
    everything = " ".join(r.details for r in records)
    for secret in (APPEAL_TEXT, "identity fraud", "withdrew", "weak", "oops", "seen"):
        assert secret not in everything
