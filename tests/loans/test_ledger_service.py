"""The ledger through its service and API, on a real database."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from fairdun.audit.models import AuditRecord
from fairdun.identity.models import Role
from fairdun.loans import service
from fairdun.loans.models import InstalmentRow, Loan, LoanPayment
from fairdun.loans.schemas import ChargeOffCreate, PauseCreate, PaymentCreate
from tests.conftest import FakeClock
from tests.factories import (
    TODAY,
    csrf_from,
    lender_admin,
    login,
    make_borrower,
    make_institution,
    make_loan,
    make_product,
    make_user,
)


@pytest.fixture
def bank(db: Session):  # type: ignore[no-untyped-def]
    inst = make_institution(db, name="账本银行")
    db.commit()
    return inst


def _instalments(db: Session, loan: Loan) -> list[InstalmentRow]:
    return list(
        db.scalars(
            select(InstalmentRow)
            .where(InstalmentRow.loan_id == loan.id)
            .order_by(InstalmentRow.number)
        )
    )


def test_booking_writes_schedule_cost_and_state(db: Session, bank) -> None:  # type: ignore[no-untyped-def]
    loan = make_loan(
        db, bank, principal=1_200_000, annual_rate="0.12", start_date=date(2026, 1, 15)
    )
    db.commit()
    rows = _instalments(db, loan)
    assert len(rows) == 12
    assert sum(r.principal for r in rows) == 1_200_000
    assert rows[0].due_date == date(2026, 2, 15)
    assert rows[0].principal + rows[0].interest == 106_619  # 1,066.19 CNY level payment
    assert abs(loan.nominal_apr - loan.annual_rate) < 0.0001
    assert loan.cap_flags == ""
    # Nothing paid; as of 2026-11-29 the first instalment (due 02-15) is 287 days late.
    assert loan.days_past_due == (TODAY - date(2026, 2, 15)).days
    assert loan.bucket == "M6+"
    assert loan.status == "delinquent"


def test_a_loan_above_the_cap_is_flagged_and_the_excess_not_collectable(db: Session, bank) -> None:  # type: ignore[no-untyped-def]
    loan = make_loan(db, bank, annual_rate="0.30", upfront_fee=50_000, periodic_fee=2_000)
    db.commit()
    assert "cn.24pct" in loan.cap_flags
    assert loan.nominal_apr > loan.annual_rate
    assert loan.not_collectable > 0
    assert sum(r.not_collectable for r in _instalments(db, loan)) <= loan.not_collectable


def test_payments_cure_then_back_dated_payment_rewrites_history(db: Session, bank) -> None:  # type: ignore[no-untyped-def]
    loan = make_loan(db, bank, principal=600_000, term_months=6, start_date=date(2026, 5, 10))
    actor = lender_admin(bank)
    rows = _instalments(db, loan)
    # Pay instalments 1..5 on their due dates (the 6th falls due 11-10 and stays unpaid).
    for r in rows[:5]:
        service.record_payment(
            db,
            actor,
            loan.id,
            PaymentCreate(paid_date=r.due_date, amount=r.principal + r.interest),
            today=TODAY,
        )
    assert loan.days_past_due == (TODAY - rows[5].due_date).days
    assert loan.bucket == "M1"
    # A back-dated payment of the last instalment on its due date: never late.
    last = rows[5]
    service.record_payment(
        db,
        actor,
        loan.id,
        PaymentCreate(paid_date=last.due_date, amount=last.principal + last.interest),
        today=TODAY,
    )
    db.commit()
    assert loan.status == "paid_off"
    assert loan.days_past_due == 0
    assert loan.worst_days_past_due == 0
    assert [s.bucket for s in service.repository.spells(db, loan.id)] == ["C"]


def test_a_reversal_restores_the_delinquency(db: Session, bank, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    loan = make_loan(db, bank, principal=300_000, term_months=3, start_date=date(2026, 8, 1))
    actor = lender_admin(bank)
    first = _instalments(db, loan)[0]
    before = loan.days_past_due
    payment = service.record_payment(
        db,
        actor,
        loan.id,
        PaymentCreate(paid_date=first.due_date, amount=first.principal + first.interest),
        today=TODAY,
    )
    assert loan.days_past_due < before
    service.reverse_payment(
        db,
        actor,
        loan.id,
        payment.id,
        "bounced",
        now=clock.now.replace(year=2026, month=11, day=29),
    )
    db.commit()
    assert loan.days_past_due == before
    actions = list(
        db.scalars(select(AuditRecord.action).where(AuditRecord.target == f"loan:{loan.id}"))
    )
    assert actions == ["loan.booked", "payment.recorded", "payment.reversed"]


def test_a_pause_stops_days_past_due_and_is_audited(db: Session, bank) -> None:  # type: ignore[no-untyped-def]
    loan = make_loan(db, bank, start_date=date(2026, 6, 1))
    before = loan.days_past_due
    service.pause_delinquency(
        db,
        lender_admin(bank),
        loan.id,
        PauseCreate(start_date=TODAY - timedelta(days=20), reason="hardship", note="失业"),
        today=TODAY,
    )
    db.commit()
    assert loan.paused
    # Paused from TODAY-20 through TODAY: 21 days that do not count.
    assert loan.days_past_due == before - 21


def test_charge_off(db: Session, bank) -> None:  # type: ignore[no-untyped-def]
    loan = make_loan(db, bank, start_date=date(2025, 6, 1))
    service.charge_off(
        db,
        lender_admin(bank),
        loan.id,
        ChargeOffCreate(charged_off_date=date(2026, 6, 1), reason="180+"),
        today=TODAY,
    )
    db.commit()
    assert loan.status == "charged_off"


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("principal", 0, "positive"),
        ("principal", -5, "positive"),
        ("annual_rate", "1.5", "100%"),
        ("term_months", 0, "between 1 and 360"),
        ("method", "balloon", "unknown repayment method"),
        ("start_date", "2027-01-01", "future"),
        ("upfront_fee", 900_000, "half the principal"),
    ],
)
def test_bad_loan_terms_are_422_naming_the_field_and_book_nothing(
    client: TestClient,
    db: Session,
    bank,
    field: str,
    value: object,
    why: str,  # type: ignore[no-untyped-def]
) -> None:
    product = make_product(db, bank)
    borrower = make_borrower(db, bank)
    make_user(db, role=Role.INSTITUTION_ADMIN, institution=bank, username="ledger-admin")
    db.commit()
    login(client, "ledger-admin")
    csrf = csrf_from(client.get("/").text)
    body = {
        "external_id": "X1",
        "borrower_id": borrower.id,
        "product_id": product.id,
        "principal": 1_000_000,
        "annual_rate": "0.18",
        "term_months": 12,
        "start_date": "2026-01-01",
        "method": "equal_instalment",
        field: value,
    }
    response = client.post("/api/loans", json=body, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 422, response.text
    detail = response.json()["error"]["details"][0]
    assert detail["field"] == field
    assert why in detail["message"]
    assert db.scalar(select(func.count()).select_from(Loan)) == 0


def test_payment_on_unknown_or_paid_off_loan_is_refused_and_changes_nothing(
    client: TestClient,
    db: Session,
    bank,  # type: ignore[no-untyped-def]
) -> None:
    loan = make_loan(db, bank, principal=100_000, term_months=1, start_date=date(2026, 9, 1))
    payoff = loan.payoff_amount
    make_user(db, role=Role.COLLECTOR, institution=bank, username="ledger-coll")
    db.commit()
    login(client, "ledger-coll")
    csrf = {"X-CSRF-Token": csrf_from(client.get("/").text)}
    unknown = client.post(
        "/api/loans/999999/payments", json={"paid_date": "2026-10-01", "amount": 100}, headers=csrf
    )
    assert unknown.status_code == 404
    paid = client.post(
        f"/api/loans/{loan.id}/payments",
        json={"paid_date": "2026-10-01", "amount": payoff},
        headers=csrf,
    )
    assert paid.status_code == 201, paid.text
    before = db.scalar(select(func.count()).select_from(LoanPayment))
    again = client.post(
        f"/api/loans/{loan.id}/payments",
        json={"paid_date": "2026-10-02", "amount": 100},
        headers=csrf,
    )
    assert again.status_code == 409
    assert "paid off" in again.json()["error"]["message"]
    assert db.scalar(select(func.count()).select_from(LoanPayment)) == before


def test_borrower_personal_data_is_encrypted(db: Session, bank) -> None:  # type: ignore[no-untyped-def]
    make_borrower(db, bank, name="赵秘密")
    db.commit()
    raw = str(db.execute(text("SELECT * FROM borrowers")).all())
    assert "赵秘密" not in raw
    assert "11010519491231002X" not in raw
    assert "fd1:" in raw


def test_borrower_sees_only_their_own_loans(client: TestClient, db: Session, bank) -> None:  # type: ignore[no-untyped-def]
    me = make_user(db, role=Role.BORROWER, institution=bank, username="me-borrower")
    mine = make_loan(db, bank, borrower=make_borrower(db, bank, user=me), external_id="MINE")
    make_loan(db, bank, external_id="NOT-MINE")
    db.commit()
    login(client, "me-borrower")
    listed = [loan["external_id"] for loan in client.get("/api/loans").json()]
    assert listed == ["MINE"]
    page = client.get("/loans")
    assert "MINE" in page.text and "NOT-MINE" not in page.text
    assert client.get(f"/loans/{mine.id}").status_code == 200
    chart = client.get(f"/loans/{mine.id}/dpd.svg")
    assert chart.headers["content-type"].startswith("image/svg+xml")
    assert b"<script" not in chart.content


def test_home_pages_show_the_book_each_role_may_see(client: TestClient, db: Session, bank) -> None:  # type: ignore[no-untyped-def]
    other = make_institution(db, name="别家银行")
    me = make_user(db, role=Role.BORROWER, institution=bank, username="home-borrower")
    make_loan(db, bank, borrower=make_borrower(db, bank, user=me), external_id="HOME-MINE")
    make_loan(db, bank, external_id="HOME-OTHER")
    make_loan(db, other, external_id="HOME-ELSEWHERE", start_date=date(2026, 11, 1))
    make_user(db, role=Role.COLLECTOR, institution=bank, username="home-collector")
    db.commit()

    login(client, "home-borrower")
    home = client.get("/").text
    assert "HOME-MINE" in home
    assert "HOME-OTHER" not in home

    collector = TestClient(client.app)
    login(collector, "home-collector")
    summary = collector.get("/").text
    assert 'data-testid="bucket-summary"' in summary
    # Both of the bank's loans are 180+ days late; the other bank's loan is not counted.
    assert '<a href="/loans?bucket=M6%2B">M6+</a> <strong>2</strong>' in summary
    assert '<a href="/loans?bucket=C">C</a> <strong>0</strong>' in summary
