"""The portfolio batch gives what a replay gives, for every loan, on a real database."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairdun.institutions.models import Institution
from fairdun.loans import ledger, service
from fairdun.loans.batch import recompute_as_of
from fairdun.loans.models import BucketSpellRow, InstalmentRow, Loan, Product
from fairdun.loans.schemas import BucketSpec, ChargeOffCreate, PauseCreate, PaymentCreate
from tests.factories import lender_admin, make_borrower, make_institution, make_loan, make_product

BOOKED = date(2026, 3, 1)  # every event is recorded on this day: the loans' state date
METHODS = ("equal_instalment", "equal_principal", "interest_only", "bullet")


def _rows(db: Session, loan: Loan) -> list[InstalmentRow]:
    return list(
        db.scalars(
            select(InstalmentRow)
            .where(InstalmentRow.loan_id == loan.id)
            .order_by(InstalmentRow.number)
        )
    )


def _spells(db: Session, loan: Loan) -> list[tuple[str, date, date | None]]:
    rows = db.scalars(
        select(BucketSpellRow)
        .where(BucketSpellRow.loan_id == loan.id)
        .order_by(BucketSpellRow.entered_date)
    )
    return [(r.bucket, r.entered_date, r.left_date) for r in rows]


def _products(db: Session, bank: Institution) -> list[Product]:
    custom = [
        BucketSpec(code="C", min_days=0, max_days=0),
        BucketSpec(code="X1", min_days=1, max_days=5),
        BucketSpec(code="X2", min_days=6, max_days=20),
        BucketSpec(code="X3", min_days=21, max_days=None),
    ]
    return [
        make_product(db, bank, code="std"),
        make_product(db, bank, code="strict", tolerance=0, buckets=custom),
        make_product(db, bank, code="lenient", tolerance=5_000),
    ]


def _book_portfolio(db: Session, bank: Institution) -> list[Loan]:
    """A few dozen loans with varied methods, payments, pauses and charge-offs."""
    actor = lender_admin(bank)
    products = _products(db, bank)
    borrower = make_borrower(db, bank)
    loans: list[Loan] = []
    for i in range(32):
        start = date(2024, 12, 1) + timedelta(days=14 * i)
        loan = make_loan(
            db,
            bank,
            borrower=borrower,
            product=products[i % 3],
            principal=300_000 + 50_000 * (i % 5),
            term_months=(3, 6, 12)[i % 3],
            method=METHODS[i % 4],
            start_date=start,
            today=BOOKED,
        )
        due = [r for r in _rows(db, loan) if r.due_date <= BOOKED]
        # Pay the first k due instalments, the last of them short by an amount that is
        # within the tolerance of some products and beyond it for others.
        k = i % 4
        short = (0, 50, 150, 4_000, 9_000)[i % 5]
        for n, row in enumerate(due[:k]):
            amount = row.principal + row.interest + row.fee
            if n == min(k, len(due)) - 1:
                amount -= short
            if amount > 0:
                service.record_payment(
                    db,
                    actor,
                    loan.id,
                    PaymentCreate(paid_date=row.due_date, amount=amount),
                    today=BOOKED,
                )
        if i % 6 == 1:  # a closed pause
            service.pause_delinquency(
                db,
                actor,
                loan.id,
                PauseCreate(
                    start_date=start + timedelta(days=40),
                    end_date=start + timedelta(days=70),
                    reason="hardship",
                ),
                today=BOOKED,
            )
        if i % 6 == 3:  # an open pause
            service.pause_delinquency(
                db,
                actor,
                loan.id,
                PauseCreate(start_date=BOOKED - timedelta(days=5), reason="dispute"),
                today=BOOKED,
            )
        if i % 6 == 5:  # a pause still running after the state date, then ending
            service.pause_delinquency(
                db,
                actor,
                loan.id,
                PauseCreate(
                    start_date=BOOKED - timedelta(days=2),
                    end_date=BOOKED + timedelta(days=30),
                    reason="hardship",
                ),
                today=BOOKED,
            )
        if i % 8 == 7 and loan.status != "paid_off":
            service.charge_off(
                db,
                actor,
                loan.id,
                ChargeOffCreate(charged_off_date=BOOKED - timedelta(days=10), reason="test"),
                today=BOOKED,
            )
        loans.append(loan)
    db.flush()
    return loans


def _pay_off(db: Session, bank: Institution) -> Loan:
    loan = make_loan(
        db, bank, principal=200_000, term_months=3, start_date=date(2026, 1, 5), today=BOOKED
    )
    service.record_payment(
        db,
        lender_admin(bank),
        loan.id,
        PaymentCreate(paid_date=BOOKED, amount=loan.payoff_amount),
        today=BOOKED,
    )
    assert loan.status == "paid_off"
    return loan


def test_batch_equals_replay_for_every_loan_and_keeps_the_bucket_history(db: Session) -> None:
    bank = make_institution(db, name="批量银行")
    loans = _book_portfolio(db, bank)
    paid = _pay_off(db, bank)
    paid_before = (paid.state_as_of, paid.updated_at, paid.days_past_due, _spells(db, paid))
    db.commit()
    statuses = {loan.status for loan in loans}
    assert {"current", "delinquent", "charged_off", "paid_off"} <= statuses
    open_loans = [loan for loan in loans if loan.status != "paid_off"]

    for days in (0, 1, 7, 29, 31, 45, 100, 400):
        as_of = BOOKED + timedelta(days=days)
        report = recompute_as_of(db, as_of)
        assert report.loans == len(open_loans)
        for loan in open_loans:
            expected = ledger.replay(service.ledger_input(db, loan), as_of)
            got = (loan.days_past_due, loan.bucket, loan.status, loan.paused)
            want = (expected.days_past_due, expected.bucket, expected.status.value, expected.paused)
            assert got == want, (loan.external_id, as_of)
            assert loan.worst_days_past_due == expected.worst_days_past_due
            assert loan.state_as_of == as_of
            history = [(s.bucket, s.entered, s.left) for s in expected.history]
            assert _spells(db, loan) == history, (loan.external_id, as_of)
        db.commit()

    db.refresh(paid)
    assert (paid.state_as_of, paid.updated_at, paid.days_past_due, _spells(db, paid)) == (
        paid_before
    )


def test_batch_never_goes_back_in_time(db: Session) -> None:
    bank = make_institution(db)
    loan = make_loan(db, bank, start_date=date(2026, 1, 15), today=BOOKED)
    db.commit()
    before = (loan.days_past_due, loan.bucket, loan.state_as_of)
    report = recompute_as_of(db, BOOKED - timedelta(days=1))
    assert report.loans == 0
    db.refresh(loan)
    assert (loan.days_past_due, loan.bucket, loan.state_as_of) == before


@pytest.mark.parametrize("use_engine", [False, True])
def test_institution_id_limits_the_batch_to_that_lender(db: Session, use_engine: bool) -> None:
    mine, theirs = make_institution(db), make_institution(db)
    my_loan = make_loan(db, mine, start_date=date(2026, 1, 15), today=BOOKED)
    their_loan = make_loan(db, theirs, start_date=date(2026, 1, 15), today=BOOKED)
    db.commit()
    as_of = BOOKED + timedelta(days=20)
    target = db.get_bind() if use_engine else db
    report = recompute_as_of(target, as_of, institution_id=mine.id)  # type: ignore[arg-type]
    db.commit()
    assert report.loans == 1
    db.refresh(my_loan)
    db.refresh(their_loan)
    assert my_loan.state_as_of == as_of
    assert my_loan.days_past_due == (as_of - date(2026, 2, 15)).days
    assert their_loan.state_as_of == BOOKED
    assert their_loan.days_past_due == (BOOKED - date(2026, 2, 15)).days


def test_a_fee_waived_by_a_prepayment_is_stored_and_the_batch_reads_it(db: Session) -> None:
    """A partial prepayment pays the last instalment's principal; that period then has
    nothing outstanding and its interest and fee are waived (ledger rule 2b). The waiver is
    stored (``fee_due``) and the batch's tolerance test reads it: when the next instalment
    is then paid short within tolerance, the loan stays open but is not past due once the
    waived period's due date passes (the batch read the contracted fee and said it was)."""
    bank = make_institution(db, name="手续费银行")
    admin = lender_admin(bank)
    loan = make_loan(
        db,
        bank,
        principal=300_000,
        term_months=3,
        periodic_fee=1_500,
        start_date=date(2026, 1, 5),
        today=date(2026, 1, 20),
    )
    first, second, third = _rows(db, loan)
    # Period 1 in full, and the principal of instalment 3 prepaid.
    service.record_payment(
        db,
        admin,
        loan.id,
        PaymentCreate(
            paid_date=date(2026, 1, 20),
            amount=first.principal + first.interest + first.fee + third.principal,
        ),
        today=date(2026, 1, 20),
    )
    db.refresh(third)
    assert third.fee == 1_500 and third.fee_due == 0 and third.fee_paid == 0
    # Instalment 2 paid 50 short: within the tolerance of 100, so the loan stays open.
    db.refresh(second)
    service.record_payment(
        db,
        admin,
        loan.id,
        PaymentCreate(
            paid_date=date(2026, 3, 5),
            amount=second.principal + second.interest_due + second.fee - 50,
        ),
        today=date(2026, 3, 5),
    )
    db.commit()
    assert loan.status != "paid_off"
    for as_of in (date(2026, 4, 10), date(2026, 6, 1)):
        recompute_as_of(db, as_of)
        expected = ledger.replay(service.ledger_input(db, loan), as_of)
        assert expected.days_past_due == 0
        assert (loan.days_past_due, loan.bucket) == (expected.days_past_due, expected.bucket)
        db.commit()
