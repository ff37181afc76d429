"""Repayment promises: recording with validation and an audit record, cancellation of
pending promises only, and kept/broken as the features count them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairdun.audit.models import AuditRecord
from fairdun.institutions.models import Institution
from fairdun.kit.errors import Conflict, Invalid, NotFound
from fairdun.loans import service
from fairdun.loans.models import Loan
from fairdun.loans.schemas import PaymentCreate
from fairdun.risk.features import promise_outcomes
from fairdun.risk.models import PromiseToPay
from fairdun.risk.promises import (
    GRACE_DAYS,
    MAX_DAYS_AHEAD,
    PromiseStatus,
    cancel_promise,
    promise_status,
    record_promise,
)
from tests.factories import TODAY, lender_admin, make_institution, make_loan

START = date(2026, 1, 15)


@pytest.fixture
def bank(db: Session) -> Institution:
    institution = make_institution(db, name="承诺银行")
    db.commit()
    return institution


@pytest.fixture
def loan(db: Session, bank: Institution) -> Loan:
    made = make_loan(db, bank, principal=600_000, term_months=6, start_date=START)
    db.commit()
    return made


def _pay(db: Session, bank: Institution, loan: Loan, day: date, amount: int) -> None:
    service.record_payment(
        db, lender_admin(bank), loan.id, PaymentCreate(paid_date=day, amount=amount), today=TODAY
    )


def _counts(db: Session) -> tuple[int, int]:
    promises = db.scalar(select(func.count()).select_from(PromiseToPay))
    audits = db.scalar(select(func.count()).select_from(AuditRecord))
    return int(promises or 0), int(audits or 0)


def _promise(db: Session, loan: Loan, **kw: Any) -> PromiseToPay:
    values: dict[str, Any] = {
        "actor": "user:7",
        "loan_id": loan.id,
        "made_on": date(2026, 3, 1),
        "promised_date": date(2026, 3, 10),
        "amount": 50_000,
        "channel": "call",
    }
    values.update(kw)
    return record_promise(db, **values)


def test_recording_a_promise_writes_it_and_an_audit_record(db: Session, loan: Loan) -> None:
    promise = _promise(db, loan, channel="portal", today=TODAY)
    db.commit()
    assert (promise.institution_id, promise.loan_id, promise.amount) == (
        loan.institution_id,
        loan.id,
        50_000,
    )
    assert (promise.created_by, promise.channel, promise.cancelled_at) == ("user:7", "portal", None)
    audit = db.scalars(select(AuditRecord).order_by(AuditRecord.id.desc())).first()
    assert audit is not None
    assert (audit.action, audit.actor, audit.target) == (
        "promise.recorded",
        "user:7",
        f"loan:{loan.id}",
    )
    assert audit.institution_id == loan.institution_id
    assert json.loads(audit.details) == {
        "promise_id": promise.id,
        "made_on": "2026-03-01",
        "promised_date": "2026-03-10",
        "amount": 50_000,
        "channel": "portal",
    }


def test_a_promise_may_run_to_the_limit_and_no_further(db: Session, loan: Loan) -> None:
    made = date(2026, 3, 1)
    _promise(db, loan, made_on=made, promised_date=made)  # same day
    _promise(db, loan, made_on=made, promised_date=made + timedelta(days=MAX_DAYS_AHEAD))
    with pytest.raises(Invalid) as refused:
        _promise(db, loan, made_on=made, promised_date=made + timedelta(days=MAX_DAYS_AHEAD + 1))
    assert refused.value.field == "promised_date"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -100}, "amount"),
        ({"amount": True}, "amount"),
        ({"promised_date": date(2026, 2, 28)}, "promised_date"),
        ({"promised_date": date(2026, 6, 1)}, "promised_date"),
        ({"made_on": date(2026, 1, 1), "promised_date": date(2026, 1, 20)}, "made_on"),
        (
            {"made_on": TODAY + timedelta(days=1), "promised_date": TODAY + timedelta(days=5)},
            "made_on",
        ),
        ({"channel": "wechat"}, "channel"),
        ({"loan_id": 999_999}, "loan_id"),
        ({"institution_id": 999_999}, "loan_id"),
    ],
)
def test_invalid_promises_name_the_field_and_change_nothing(
    db: Session, loan: Loan, change: dict[str, Any], field: str
) -> None:
    before = _counts(db)
    with pytest.raises(Invalid) as refused:
        _promise(db, loan, today=TODAY, **change)
    assert refused.value.field == field
    assert _counts(db) == before


def test_no_promise_on_a_paid_off_loan(db: Session, bank: Institution, loan: Loan) -> None:
    _pay(db, bank, loan, date(2026, 2, 1), loan.payoff_amount)
    db.commit()
    assert loan.status == "paid_off"
    before = _counts(db)
    with pytest.raises(Invalid) as refused:
        _promise(db, loan)
    assert refused.value.field == "loan_id"
    assert "paid off" in refused.value.message
    assert _counts(db) == before


def test_kept_broken_and_pending(db: Session, bank: Institution, loan: Loan) -> None:
    kept = _promise(db, loan, made_on=date(2026, 3, 1), promised_date=date(2026, 3, 10))
    late_keep = _promise(db, loan, made_on=date(2026, 4, 1), promised_date=date(2026, 4, 5))
    broken = _promise(db, loan, made_on=date(2026, 5, 1), promised_date=date(2026, 5, 5))
    _pay(db, bank, loan, date(2026, 3, 2), 20_000)
    _pay(db, bank, loan, date(2026, 3, 9), 30_000)  # 50_000 in all: kept on 03-09
    _pay(db, bank, loan, date(2026, 4, 8), 60_000)  # the last day of grace
    _pay(db, bank, loan, date(2026, 5, 9), 60_000)  # one day too late
    db.commit()
    grace_end = date(2026, 5, 5) + timedelta(days=GRACE_DAYS)
    expected = {
        date(2026, 3, 8): [kept.id],
        date(2026, 3, 9): [kept.id],
        date(2026, 4, 7): [kept.id, late_keep.id],
        date(2026, 4, 8): [kept.id, late_keep.id],
        grace_end: [kept.id, late_keep.id, broken.id],
        grace_end + timedelta(days=1): [kept.id, late_keep.id, broken.id],
    }
    statuses = {
        date(2026, 3, 8): ["pending"],
        date(2026, 3, 9): ["kept"],
        date(2026, 4, 7): ["kept", "pending"],
        date(2026, 4, 8): ["kept", "kept"],
        grace_end: ["kept", "kept", "pending"],
        grace_end + timedelta(days=1): ["kept", "kept", "broken"],
    }
    for day, ids in expected.items():
        frame = promise_outcomes(db, day, loan_ids=[loan.id])
        assert frame["promise_id"].to_list() == ids
        assert frame["status"].to_list() == statuses[day], day
        # The one-promise version agrees with the batch.
        for promise_id, status in zip(ids, statuses[day], strict=True):
            promise = db.get(PromiseToPay, promise_id)
            assert promise is not None
            assert promise_status(db, promise, day) == status


def test_only_a_pending_promise_can_be_cancelled(
    db: Session, bank: Institution, loan: Loan
) -> None:
    pending = _promise(db, loan, made_on=date(2026, 11, 20), promised_date=date(2026, 12, 5))
    kept = _promise(db, loan, made_on=date(2026, 3, 1), promised_date=date(2026, 3, 10))
    broken = _promise(db, loan, made_on=date(2026, 5, 1), promised_date=date(2026, 5, 5))
    _pay(db, bank, loan, date(2026, 3, 3), 50_000)
    db.commit()
    now = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)

    cancelled = cancel_promise(db, actor="user:7", promise_id=pending.id, now=now, reason="改约")
    db.commit()
    assert cancelled.cancelled_at == now
    audit = db.scalars(select(AuditRecord).order_by(AuditRecord.id.desc())).first()
    assert audit is not None
    assert audit.action == "promise.cancelled"
    assert json.loads(audit.details) == {"promise_id": pending.id, "reason": "改约"}
    assert promise_status(db, pending, TODAY) is PromiseStatus.CANCELLED
    # A cancelled promise never counts.
    assert pending.id not in promise_outcomes(db, date(2026, 12, 31))["promise_id"].to_list()

    before = _counts(db)
    for promise, word in ((pending, "already cancelled"), (kept, "kept"), (broken, "broken")):
        with pytest.raises(Conflict, match=word):
            cancel_promise(db, actor="user:7", promise_id=promise.id, now=now)
    assert _counts(db) == before
    assert kept.cancelled_at is None and broken.cancelled_at is None
    with pytest.raises(NotFound):
        cancel_promise(db, actor="user:7", promise_id=kept.id, now=now, institution_id=999_999)
