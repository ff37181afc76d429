"""Risk features from the ledger: the batch against a naive loan-by-loan reference, the
ledger's own days past due, the training target, and the demo portfolio.

``Naive`` below is the reference: the definitions of docs/risk-features.md written out
plainly for one loan loaded through the ORM, walking the days one by one (the batch never
walks days: it works with the day each instalment was cured). The property test books
random loans through the ledger (random schedules, payments on time, late, early, short,
partial and reversed, pauses, promises) and checks that both agree on every feature.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fairdun.institutions.models import Institution
from fairdun.kit.db import make_engine, session_factory
from fairdun.loans import ledger, service
from fairdun.loans.batch import recompute_as_of
from fairdun.loans.models import (
    Borrower,
    DelinquencyPause,
    InstalmentRow,
    Loan,
    LoanPayment,
    Product,
)
from fairdun.loans.schedule import build_schedule
from fairdun.loans.schemas import PauseCreate, PaymentCreate
from fairdun.loans.terms import Component, LoanTerms, Pause, Payment, RepaymentMethod
from fairdun.risk import features
from fairdun.risk.features import (
    FEATURES,
    WINDOWS,
    borrower_features,
    compute_features,
    dpd_at,
    latest_data_date,
    promise_outcomes,
    training_frame,
)
from fairdun.risk.models import PromiseToPay
from fairdun.risk.promises import GRACE_DAYS
from tests.factories import (
    TODAY,
    caps,
    lender_admin,
    make_institution,
    make_loan,
    make_product,
)

FLOATS = {"share_paid", "balance", "utilisation", "annual_rate"}
HORIZON = 30

# --------------------------------------------------------------------------- the reference


@dataclass
class Slice:
    """One instalment on one day, by the reverse fill (docs/risk-features.md)."""

    due_date: date
    principal_left: int
    charges_left: int  # interest + fees
    paid: int  # principal + interest + fees paid
    owed: int  # principal + interest + fees owed
    not_collectable: int

    @property
    def unpaid(self) -> int:
        return self.owed - self.paid


@dataclass
class Naive:
    """One loan, loaded through the ORM; every definition computed the obvious way."""

    loan: Loan
    rows: list[InstalmentRow]
    payments: list[LoanPayment]
    pauses: list[DelinquencyPause]
    promises: list[PromiseToPay]
    product: Product
    cache: dict[date, list[Slice]] = field(default_factory=dict)

    @classmethod
    def load(cls, db: Session, loan_id: int) -> Naive:
        loan = db.get(Loan, loan_id)
        assert loan is not None
        product = db.get(Product, loan.product_id)
        assert product is not None
        return cls(
            loan=loan,
            rows=list(
                db.scalars(
                    select(InstalmentRow)
                    .where(InstalmentRow.loan_id == loan_id)
                    .order_by(InstalmentRow.number)
                )
            ),
            payments=list(
                db.scalars(
                    select(LoanPayment)
                    .where(LoanPayment.loan_id == loan_id)
                    .order_by(LoanPayment.id)
                )
            ),
            pauses=list(
                db.scalars(select(DelinquencyPause).where(DelinquencyPause.loan_id == loan_id))
            ),
            promises=list(
                db.scalars(
                    select(PromiseToPay)
                    .where(PromiseToPay.loan_id == loan_id)
                    .order_by(PromiseToPay.id)
                )
            ),
            product=product,
        )

    # --- days and money

    def paused(self, day: date) -> bool:
        return any(
            p.start_date <= day and (p.end_date is None or day < p.end_date) for p in self.pauses
        )

    @cached_property
    def unpaused_through(self) -> dict[date, int]:
        """Unpaused days from the start date through each day (counted once, day by day)."""
        counts, count = {}, 0
        for k in range(2_000):
            day = self.loan.start_date + timedelta(days=k)
            count += 0 if self.paused(day) else 1
            counts[day] = count
        return counts

    def unpaused_days(self, after: date, through: date) -> int:
        """Days in ``(after, through]`` not covered by a pause."""
        if through <= after:
            return 0
        return self.unpaused_through[through] - self.unpaused_through[after]

    def valid_payments(self) -> list[LoanPayment]:
        return [p for p in self.payments if p.reversed_at is None]

    def slices(self, day: date) -> list[Slice]:
        if day not in self.cache:
            self.cache[day] = self._slices(day)
        return self.cache[day]

    def _slices(self, day: date) -> list[Slice]:
        """Each instalment at the end of ``day``: the stored amounts with the money of the
        payments dated after ``day`` taken back, credit first, then from the last instalment
        backwards, each in reverse waterfall order; settled instalments owe nothing."""
        replayed = [p for p in self.valid_payments() if p.paid_date <= self.loan.state_as_of]
        take = sum(p.amount for p in replayed if p.paid_date > day) - self.loan.credit
        waterfall = self.product.waterfall.split(",")
        out: list[Slice] = []
        for row in reversed(self.rows):
            paid = {
                Component.PENALTY: row.penalty_paid,
                Component.FEES: row.fee_paid,
                Component.INTEREST: row.interest_paid,
                Component.PRINCIPAL: row.principal_paid,
            }
            back = dict.fromkeys(paid, 0)
            for component in reversed(waterfall):
                back[Component(component)] = max(0, min(take, paid[Component(component)]))
                take -= back[Component(component)]
            if row.settled_date is not None and row.settled_date <= day:
                pif = row.principal_paid + row.interest_paid + row.fee_paid
                out.append(Slice(row.due_date, 0, 0, pif, pif, row.not_collectable))
                continue
            principal_left = row.principal - row.principal_paid + back[Component.PRINCIPAL]
            interest_left = row.interest_due - row.interest_paid + back[Component.INTEREST]
            fee_left = row.fee - row.fee_paid + back[Component.FEES]
            owed = row.principal + row.interest_due + row.fee
            out.append(
                Slice(
                    row.due_date,
                    principal_left,
                    interest_left + fee_left,
                    owed - principal_left - interest_left - fee_left,
                    owed,
                    row.not_collectable,
                )
            )
        return out[::-1]

    def past_due(self, day: date) -> list[bool]:
        tolerance = self.product.tolerance
        return [s.due_date < day and s.unpaid > tolerance for s in self.slices(day)]

    def dpd(self, day: date) -> int:
        for row, late in zip(self.rows, self.past_due(day), strict=True):
            if late:
                return self.unpaused_days(row.due_date, day)
        return 0

    # --- the features

    def promise_outcomes(self, as_of: date) -> list[str]:
        outcomes = []
        for p in self.promises:
            if p.cancelled_at is not None or p.made_on > as_of:
                continue
            closes = p.promised_date + timedelta(days=GRACE_DAYS)
            paid = sum(
                x.amount
                for x in self.valid_payments()
                if p.made_on <= x.paid_date <= min(as_of, closes)
            )
            if paid >= p.amount:
                outcomes.append("kept")
            elif closes < as_of:
                outcomes.append("broken")
            else:
                outcomes.append("pending")
        return outcomes

    def features(self, as_of: date) -> dict[str, float]:
        loan = self.loan
        days = [as_of - timedelta(days=k) for k in range((as_of - loan.start_date).days + 1)]
        dpd = {d: self.dpd(d) for d in days}
        worst = {
            name: max(v for d, v in dpd.items() if d > as_of - timedelta(days=window))
            for name, window in WINDOWS
        }
        late = 0
        flags = {d: self.past_due(d) for d in days}
        for k, row in enumerate(self.rows):
            if any(flags[d][k] and not self.paused(d) for d in days if d > row.due_date):
                late += 1
        now = self.slices(as_of)
        due = [s for s in now if s.due_date <= as_of]
        owed = sum(s.owed for s in due)
        outstanding = sum(s.principal_left for s in now)
        overdue = sum(max(0, s.charges_left - s.not_collectable) for s in now if s.due_date < as_of)
        paid_dates = [p.paid_date for p in self.valid_payments() if p.paid_date <= as_of]
        outcomes = self.promise_outcomes(as_of)
        months = (as_of.year - loan.start_date.year) * 12 + as_of.month - loan.start_date.month
        if as_of.day < loan.start_date.day:
            months -= 1
        return {
            "loan_id": loan.id,
            "borrower_id": loan.borrower_id,
            "institution_id": loan.institution_id,
            "exposure": outstanding + overdue,
            "dpd_now": dpd[as_of],
            **worst,
            "late_instalments": late,
            "share_paid": min(1.0, sum(s.paid for s in due) / owed) if owed else 1.0,
            "days_since_last_payment": (as_of - max(paid_dates, default=loan.start_date)).days,
            "balance": outstanding / 100,
            "utilisation": outstanding / loan.principal,
            "promises_kept": outcomes.count("kept"),
            "promises_broken": outcomes.count("broken"),
            "disputes": sum(
                1 for p in self.pauses if p.reason == "dispute" and p.start_date <= as_of
            ),
            "months_on_book": months,
            "annual_rate": float(loan.annual_rate),
            "term_months": loan.term_months,
        }

    def is_open(self, as_of: date) -> bool:
        paid_off = self.loan.paid_off_date
        return self.loan.start_date <= as_of and (paid_off is None or paid_off > as_of)

    def rolled(self, snapshot: date, horizon: int = HORIZON) -> int:
        days = (snapshot + timedelta(days=k) for k in range(1, horizon + 1))
        return int(any(self.dpd(d) >= 30 for d in days))


def assert_rows_equal(got: dict[str, object], expected: dict[str, float]) -> None:
    assert set(got) == set(expected)
    for key, value in expected.items():
        if key in FLOATS:
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
        else:
            assert got[key] == value, (key, got, expected)


# --------------------------------------------------------------------------- random ledgers


@dataclass(frozen=True)
class Plan:
    product: int
    terms: LoanTerms
    state_date: date
    payments: tuple[tuple[date, int, bool], ...]  # paid date, amount, reversed later
    pauses: tuple[Pause, ...]
    promises: tuple[tuple[date, date, int, bool], ...]  # made on, promised, amount, cancelled
    charged_off: date | None
    as_of: tuple[date, ...]


BEHAVIOURS = (
    "on_time",
    "on_time",
    "late",
    "partial",
    "two_part",
    "skip",
    "early",
    "short",
    "prepay",
)


@st.composite
def plans(draw: st.DrawFn, n_products: int) -> Plan:
    start = draw(
        st.sampled_from([date(2025, 1, 31), date(2025, 3, 1)])
        | st.dates(date(2025, 1, 1), date(2025, 6, 30))
    )
    terms = LoanTerms(
        principal=draw(st.integers(20, 3_000)) * 1_000,
        annual_rate=draw(st.sampled_from([Decimal(0), Decimal("0.06"), Decimal("0.2399")])),
        term_months=draw(st.integers(1, 12)),
        start_date=start,
        method=draw(st.sampled_from(list(RepaymentMethod))),
        periodic_fee=draw(st.sampled_from([0, 0, 150, 3_000])),
    )
    state_date = start + timedelta(days=draw(st.integers(1, 420)))
    payments: list[tuple[date, int, bool]] = []
    for instalment in build_schedule(terms):
        behaviour = draw(st.sampled_from(BEHAVIOURS))
        total = instalment.total
        late = draw(st.integers(1, 75))
        match behaviour:
            case "on_time":
                paid = [(instalment.due_date, total)]
            case "late":
                penalty = math.ceil(instalment.principal * 0.0005 * late) + 100
                paid = [(instalment.due_date + timedelta(days=late), total + penalty)]
            case "partial":
                share = draw(st.sampled_from([0.1, 0.5, 0.9]))
                paid = [(instalment.due_date + timedelta(days=late), int(total * share))]
            case "skip":
                paid = []
            case "early":
                paid = [(instalment.due_date - timedelta(days=min(late, 25)), total)]
            case "short":
                gap = draw(st.sampled_from([1, 99, 150, 4_000]))
                paid = [(instalment.due_date + timedelta(days=late % 4), total - gap)]
            case "two_part":
                # Most of it late, then the rest (with some penalty) short by 0 to 150.
                first = total * draw(st.sampled_from([5, 8, 9])) // 10
                again = late + draw(st.integers(1, 30))
                rest = total - first + instalment.principal * again // 1500
                paid = [
                    (instalment.due_date + timedelta(days=late), first),
                    (instalment.due_date + timedelta(days=again), rest - draw(st.integers(0, 150))),
                ]
            case _:
                extra = terms.principal * draw(st.integers(5, 60)) // 100
                paid = [(instalment.due_date, total + extra)]
        for day, amount in paid:
            day = max(day, start)
            if amount > 0 and day <= state_date:
                payments.append((day, amount, draw(st.integers(0, 9)) == 0))
    span = (state_date - start).days
    for _ in range(draw(st.integers(0, 2))):  # money at any time, of any size
        day = start + timedelta(days=draw(st.integers(0, span)))
        payments.append((day, draw(st.integers(1, terms.principal // 4)), False))
    pauses: list[Pause] = []
    cursor = start + timedelta(days=draw(st.integers(1, max(1, span))))
    for _ in range(draw(st.integers(0, 2))):
        length = draw(st.none() | st.integers(1, 60))
        reason = draw(st.sampled_from(["dispute", "hardship", "other"]))
        end = None if length is None else cursor + timedelta(days=length)
        pauses.append(Pause(cursor, end, reason))
        if end is None:
            break
        cursor = end + timedelta(days=draw(st.integers(0, 40)))
    promises = []
    for _ in range(draw(st.integers(0, 3))):
        made = start + timedelta(days=draw(st.integers(0, span)))
        promised = made + timedelta(days=draw(st.integers(0, 30)))
        amount = draw(st.integers(1, 2 * terms.principal // terms.term_months))
        promises.append((made, promised, amount, draw(st.booleans())))
    charged_off = None
    if draw(st.integers(0, 5)) == 0:
        charged_off = start + timedelta(days=draw(st.integers(0, span)))
    as_of = (
        *(start + timedelta(days=draw(st.integers(-3, span + 60))) for _ in range(2)),
        state_date,
    )
    return Plan(
        product=draw(st.integers(0, n_products - 1)),
        terms=terms,
        state_date=state_date,
        payments=tuple(payments),
        pauses=tuple(pauses),
        promises=tuple(promises),
        charged_off=charged_off,
        as_of=as_of,
    )


WATERFALLS: list[list[Component] | None] = [
    None,  # the default: penalty, fees, interest, principal
    [Component.PRINCIPAL, Component.INTEREST, Component.FEES, Component.PENALTY],
    [Component.INTEREST, Component.PENALTY, Component.PRINCIPAL, Component.FEES],
]


@pytest.fixture(scope="module")
def ledger_db(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, int, list[int]]]:
    """A SQLite database of its own with one lender and products of varied rules; each
    example books its loans in a transaction that is rolled back."""
    path = tmp_path_factory.mktemp("features") / "ledger.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with session_factory(engine)() as db:
        bank = make_institution(db)
        products = [
            make_product(db, bank, code="std"),
            make_product(db, bank, code="strict", tolerance=0, waterfall=WATERFALLS[1]),
            make_product(
                db,
                bank,
                code="odd",
                tolerance=5_000,
                waterfall=WATERFALLS[2],
                penalty_daily_rate=Decimal("0.002"),
                penalty_cap_ratio=Decimal("0.01"),
            ),
        ]
        db.commit()
        yield engine, bank.id, [p.id for p in products]
    engine.dispose()


def book(db: Session, bank_id: int, product_ids: list[int], plan: Plan, n: int) -> Loan:
    """The plan through the ledger: booked with its history (as an import would), then the
    reversals recorded, each replaying the loan as the service does."""
    borrower = Borrower(institution_id=bank_id, external_id=f"B{n}", name="测试")
    db.add(borrower)
    db.flush()
    product = db.get(Product, product_ids[plan.product])
    assert product is not None
    loan = service.book_loan(
        db,
        bank_id,
        borrower.id,
        product,
        f"L{n}",
        plan.terms,
        caps(),
        plan.state_date,
        past=service.LoanHistory(
            payments=tuple(Payment(i + 1, d, a) for i, (d, a, _r) in enumerate(plan.payments)),
            pauses=plan.pauses,
            charged_off_date=plan.charged_off,
        ),
    )
    rows = list(
        db.scalars(
            select(LoanPayment).where(LoanPayment.loan_id == loan.id).order_by(LoanPayment.id)
        )
    )
    if any(r for _d, _a, r in plan.payments):
        for row, (_d, _a, reversed_later) in zip(rows, plan.payments, strict=True):
            if reversed_later:
                row.reversed_at = datetime(2027, 1, 1, tzinfo=UTC)
                row.reversal_reason = "bounced"
        service.recompute(db, loan, plan.state_date)
    for made, promised, amount, cancelled in plan.promises:
        db.add(
            PromiseToPay(
                institution_id=bank_id,
                loan_id=loan.id,
                made_on=made,
                promised_date=promised,
                amount=amount,
                channel="call",
                created_by="test",
                cancelled_at=datetime(2027, 1, 1, tzinfo=UTC) if cancelled else None,
            )
        )
    db.flush()
    return loan


@settings(
    max_examples=45,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_batch_equals_the_naive_definition_on_random_ledgers(
    ledger_db: tuple[Engine, int, list[int]], data: st.DataObject
) -> None:
    engine, bank_id, product_ids = ledger_db
    loan_plans = data.draw(st.lists(plans(len(product_ids)), min_size=1, max_size=3))
    with session_factory(engine)() as db:
        loans = [book(db, bank_id, product_ids, p, n) for n, p in enumerate(loan_plans)]
        ids = [loan.id for loan in loans]
        naive = {loan.id: Naive.load(db, loan.id) for loan in loans}
        for as_of in sorted({d for p in loan_plans for d in p.as_of}):
            everything = compute_features(db, as_of, loan_ids=ids, open_only=False)
            expected = [n for n in naive.values() if n.loan.start_date <= as_of]
            assert everything["loan_id"].to_list() == [n.loan.id for n in expected]
            for got, reference in zip(everything.iter_rows(named=True), expected, strict=True):
                assert_rows_equal(got, reference.features(as_of))
            still_open = compute_features(db, as_of, loan_ids=ids)
            assert still_open["loan_id"].to_list() == [
                n.loan.id for n in expected if n.is_open(as_of)
            ]
        # Days past due on scattered days, and the training target, against the reference.
        first = min(p.terms.start_date for p in loan_plans)
        last = max(p.state_date for p in loan_plans)
        days = sorted(
            {
                first + timedelta(days=data.draw(st.integers(0, (last - first).days + 40)))
                for _ in range(6)
            }
        )
        got = dpd_at(db, days, loan_ids=ids)
        expected_dpd = [
            (n.loan.id, d, n.dpd(d)) for d in days for n in naive.values() if n.loan.start_date <= d
        ]
        assert sorted(got.iter_rows()) == sorted(expected_dpd)
        if (last - first).days > HORIZON:
            snapshot = first + timedelta(
                days=data.draw(st.integers(0, (last - first).days - HORIZON))
            )
            frame = training_frame(db, [snapshot], institution_id=bank_id)
            population = [
                n
                for n in naive.values()
                if n.is_open(snapshot)
                and (n.loan.charged_off_date is None or n.loan.charged_off_date > snapshot)
                and n.dpd(snapshot) < 30
            ]
            assert frame["loan_id"].to_list() == [n.loan.id for n in population]
            assert frame["rolled_30"].to_list() == [n.rolled(snapshot) for n in population]
            assert frame["snapshot"].to_list() == [snapshot] * len(population)
        db.rollback()


# --------------------------------------------------------------------------- the ledger's dpd


@pytest.fixture
def bank(db: Session) -> Institution:
    institution = make_institution(db, name="特征银行")
    db.commit()
    return institution


def _rows(db: Session, loan: Loan) -> list[InstalmentRow]:
    return list(
        db.scalars(
            select(InstalmentRow)
            .where(InstalmentRow.loan_id == loan.id)
            .order_by(InstalmentRow.number)
        )
    )


def _pay(db: Session, bank: Institution, loan: Loan, day: date, amount: int) -> None:
    if day > TODAY:
        return  # not yet
    service.record_payment(
        db, lender_admin(bank), loan.id, PaymentCreate(paid_date=day, amount=amount), today=TODAY
    )


def _serviced_portfolio(db: Session, bank: Institution) -> list[Loan]:
    """Loans booked and paid through the ledger service the way borrowers pay: on time,
    a few days late with the penalty, months late, short within and beyond tolerance, a
    partial payment, early, paid off ahead; some with a pause."""
    loans = []
    product = make_product(db, bank, code="std")
    methods = ["equal_instalment", "equal_principal", "interest_only", "bullet"]
    for i in range(16):
        loan = make_loan(
            db,
            bank,
            product=product,
            principal=300_000 + 100_000 * (i % 4),
            term_months=(3, 6, 12)[i % 3],
            method=methods[i % 4],
            start_date=date(2026, 1, 5) + timedelta(days=9 * i),
        )
        for k, row in enumerate(_rows(db, loan)):
            if row.due_date > TODAY:
                break
            total = row.principal + row.interest + row.fee
            style = (i + k) % 7
            if style in (0, 1):
                _pay(db, bank, loan, row.due_date, total)
            elif style == 2:
                late = 3 + i
                _pay(
                    db,
                    bank,
                    loan,
                    row.due_date + timedelta(days=late),
                    total + row.principal * late // 1000 + 100,
                )
            elif style == 3 and i % 2:
                _pay(db, bank, loan, row.due_date, total - 60)  # within tolerance
            elif style == 4:
                _pay(db, bank, loan, row.due_date + timedelta(days=10), total // 3)  # partial
            elif style == 5 and i % 3 == 0:
                _pay(db, bank, loan, row.due_date - timedelta(days=5), total)  # early
            if loan.status == "paid_off":
                break
        if i % 5 == 4:
            service.pause_delinquency(
                db,
                lender_admin(bank),
                loan.id,
                PauseCreate(
                    start_date=loan.start_date + timedelta(days=50),
                    end_date=loan.start_date + timedelta(days=80) if i % 2 else None,
                    reason="dispute" if i % 2 else "hardship",
                ),
                today=TODAY,
            )
        if i == 15 and loan.status != "paid_off":
            _pay(db, bank, loan, date(2026, 6, 1), loan.payoff_amount + 10_000)
        loans.append(loan)
    db.commit()
    return loans


def test_scoring_today_gives_the_ledgers_days_past_due_and_balance(
    db: Session, bank: Institution
) -> None:
    loans = _serviced_portfolio(db, bank)
    frame = compute_features(db, TODAY, institution_id=bank.id, open_only=False)
    assert frame.height == len(loans)
    by_id = {row["loan_id"]: row for row in frame.iter_rows(named=True)}
    for loan in loans:
        db.refresh(loan)
        row = by_id[loan.id]
        assert row["dpd_now"] == loan.days_past_due, loan.external_id
        assert round(row["balance"] * 100) == loan.outstanding_principal
        assert row["worst_dpd_12m"] <= max(loan.worst_days_past_due, row["dpd_now"])
    statuses = {loan.status for loan in loans}
    assert {"paid_off", "delinquent", "current"} <= statuses
    # The daily batch moves the stored state forward; the features follow it day for day.
    later = TODAY + timedelta(days=45)
    recompute_as_of(db, later, institution_id=bank.id)
    db.commit()
    moved = compute_features(db, later, institution_id=bank.id)
    stored = dict(
        db.execute(
            select(Loan.id, Loan.days_past_due).where(
                Loan.institution_id == bank.id, Loan.status != "paid_off"
            )
        ).all()
    )
    assert dict(zip(moved["loan_id"], moved["dpd_now"], strict=True)) == stored


def test_days_past_due_on_past_days_match_a_replay_to_that_day(
    db: Session, bank: Institution
) -> None:
    """For payments allocated oldest first (whole instalments, late ones with their
    penalty, partial ones), the reverse fill is exact: the ledger replayed up to each past
    day gives the same days past due."""
    loans = _serviced_portfolio(db, bank)
    days = [date(2026, 1, 1) + timedelta(days=k) for k in range(0, 335, 4)]
    got = {(r[0], r[1]): r[2] for r in dpd_at(db, days, institution_id=bank.id).iter_rows()}
    checked = 0
    for loan in loans:
        inp = service.ledger_input(db, loan)
        for day in days:
            if day >= loan.start_date:
                assert got[(loan.id, day)] == ledger.replay(inp, day).days_past_due, (
                    loan.external_id,
                    day,
                )
                checked += 1
    assert checked > 900


def test_a_portfolio_cut_into_partitions_gives_the_same_frames(
    db: Session, bank: Institution, monkeypatch: pytest.MonkeyPatch
) -> None:
    _serviced_portfolio(db, bank)

    def frames() -> list[pl.DataFrame]:
        return [
            compute_features(db, TODAY, open_only=False),
            compute_features(db, date(2026, 6, 1)),
            training_frame(db, [date(2026, 6, 1), date(2026, 9, 1)]),
            dpd_at(db, [date(2026, 5, 1), TODAY]),
            promise_outcomes(db, TODAY),
        ]

    whole = frames()
    monkeypatch.setattr(features, "_LOANS_PER_PARTITION", 3)
    for one, parts in zip(whole, frames(), strict=True):
        assert one.equals(parts)
    assert whole[0].height == 16


# --------------------------------------------------------------------------- point in time


def test_features_as_of_a_past_day_ignore_what_came_after(db: Session, bank: Institution) -> None:
    loan = make_loan(db, bank, principal=600_000, term_months=6, start_date=date(2026, 1, 15))
    rows = _rows(db, loan)
    first = rows[0].principal + rows[0].interest
    _pay(db, bank, loan, date(2026, 2, 15), first)
    _pay(db, bank, loan, date(2026, 4, 1), rows[1].principal + rows[1].interest + 3_000)
    db.commit()

    def row(as_of: date) -> dict[str, object]:
        frame = compute_features(db, as_of, loan_ids=[loan.id])
        return frame.row(0, named=True)

    before = row(date(2026, 3, 31))  # instalment 2 (due 03-15) unpaid: 16 days late
    assert before["dpd_now"] == 16
    assert before["days_since_last_payment"] == (date(2026, 3, 31) - date(2026, 2, 15)).days
    assert before["late_instalments"] == 1
    assert before["balance"] == (600_000 - rows[0].principal) / 100
    assert before["share_paid"] == pytest.approx(
        first / (first + rows[1].principal + rows[1].interest)
    )
    after = row(date(2026, 4, 1))
    assert after["dpd_now"] == 0
    assert after["worst_dpd_3m"] == 16  # the day before the payment
    assert after["late_instalments"] == 1
    assert after["days_since_last_payment"] == 0
    # Today: instalments 3.. (from 04-15) never paid.
    today = row(TODAY)
    assert today["dpd_now"] == (TODAY - date(2026, 4, 15)).days == loan.days_past_due
    assert today["worst_dpd_3m"] == today["dpd_now"]
    assert today["late_instalments"] == 5


def test_a_reversed_payment_never_counts(db: Session, bank: Institution) -> None:
    loan = make_loan(db, bank, principal=300_000, term_months=3, start_date=date(2026, 1, 15))
    rows = _rows(db, loan)
    _pay(db, bank, loan, date(2026, 2, 15), rows[0].principal + rows[0].interest)
    payment = db.scalars(select(LoanPayment).where(LoanPayment.loan_id == loan.id)).one()
    service.reverse_payment(
        db, lender_admin(bank), loan.id, payment.id, "bounced", now=datetime(2026, 3, 1, tzinfo=UTC)
    )
    db.commit()
    # On 02-20, before the reversal was recorded, the payment is still left out.
    frame = compute_features(db, date(2026, 2, 20), loan_ids=[loan.id])
    assert frame["dpd_now"].to_list() == [5]
    assert frame["days_since_last_payment"].to_list() == [
        (date(2026, 2, 20) - loan.start_date).days
    ]


def test_worst_days_past_due_windows_end_where_they_should(db: Session, bank: Institution) -> None:
    loan = make_loan(db, bank, principal=300_000, term_months=3, start_date=date(2026, 1, 15))
    rows = _rows(db, loan)
    # Instalment 1 (due 02-15) paid 20 days late: 19 days past due on 03-06, its last late day.
    _pay(db, bank, loan, date(2026, 3, 7), rows[0].principal + rows[0].interest + 1_000)
    for row in rows[1:]:
        _pay(db, bank, loan, row.due_date, row.principal + row.interest)
    db.commit()
    last_late = date(2026, 3, 6)
    for name, window in WINDOWS:
        inside = compute_features(
            db, last_late + timedelta(days=window - 1), loan_ids=[loan.id], open_only=False
        )
        outside = compute_features(
            db, last_late + timedelta(days=window), loan_ids=[loan.id], open_only=False
        )
        assert (inside[name].item(), outside[name].item()) == (19, 0), name


def test_unpaid_penalty_alone_is_not_past_due(db: Session, bank: Institution) -> None:
    """With a waterfall that pays principal first and penalty last, an instalment whose
    principal and interest are paid is within tolerance while its penalty is still owed;
    taking back a later payment of penalty does not make it past due again."""
    product = make_product(
        db,
        bank,
        code="principal-first",
        tolerance=0,
        waterfall=[Component.PRINCIPAL, Component.INTEREST, Component.FEES, Component.PENALTY],
    )
    loan = make_loan(
        db, bank, product=product, principal=300_000, term_months=3, start_date=date(2026, 1, 15)
    )
    rows = _rows(db, loan)
    _pay(db, bank, loan, date(2026, 2, 25), rows[0].principal + rows[0].interest)  # 10 days late
    _pay(db, bank, loan, date(2026, 3, 5), 200)  # some of the penalty
    db.commit()
    days = [date(2026, 2, 24), date(2026, 2, 25), date(2026, 3, 1), date(2026, 3, 5)]
    got = dpd_at(db, days, loan_ids=[loan.id])["dpd"].to_list()
    inp = service.ledger_input(db, loan)
    assert got == [ledger.replay(inp, d).days_past_due for d in days] == [9, 0, 0, 0]


# --------------------------------------------------------------------------- the target


def test_training_target_on_hand_built_loans(db: Session, bank: Institution) -> None:
    product = make_product(db, bank, code="std")
    start = date(2026, 1, 15)  # due 02-15, 03-15, 04-15 ...
    snapshot = date(2026, 3, 20)

    def loan(**kw: object) -> tuple[Loan, list[InstalmentRow]]:
        made = make_loan(db, bank, product=product, principal=600_000, term_months=6, **kw)  # type: ignore[arg-type]
        return made, _rows(db, made)

    def total(row: InstalmentRow) -> int:
        return row.principal + row.interest + row.fee

    # A: stops after instalment 1; on 03-20 five days late, 30 days late on 04-14: rolls.
    rolls, rows = loan(start_date=start)
    _pay(db, bank, rolls, rows[0].due_date, total(rows[0]))
    # B: pays instalment 2 late on 04-10 (26 days at worst), and 3 on its due date.
    cures, rows = loan(start_date=start)
    _pay(db, bank, cures, rows[0].due_date, total(rows[0]))
    _pay(db, bank, cures, date(2026, 4, 10), total(rows[1]) + 2_000)
    _pay(db, bank, cures, rows[2].due_date, total(rows[2]))
    # C: like A, but a hardship pause from 03-25 holds it at 10 days.
    paused, rows = loan(start_date=start)
    _pay(db, bank, paused, rows[0].due_date, total(rows[0]))
    service.pause_delinquency(
        db,
        lender_admin(bank),
        paused.id,
        PauseCreate(start_date=date(2026, 3, 25), end_date=date(2026, 5, 1), reason="hardship"),
        today=TODAY,
    )
    # D: already 33 days late on the snapshot: not in the early-warning population.
    make_loan(db, bank, product=product, start_date=start)
    # E: paid off before the snapshot; F: starts after it.
    closed, rows = loan(start_date=start)
    _pay(db, bank, closed, date(2026, 2, 1), closed.payoff_amount)
    loan(start_date=date(2026, 3, 21))
    # G: on 03-20 28 days late (instalment 1 of a loan started 2026-01-20 fell due on
    # 02-20), 30 on 03-22.
    edge, _rows_g = loan(start_date=date(2026, 1, 20))
    db.commit()

    frame = training_frame(db, [snapshot], institution_id=bank.id)
    got = dict(zip(frame["loan_id"], frame["rolled_30"], strict=True))
    assert got == {rolls.id: 1, cures.id: 0, paused.id: 0, edge.id: 1}
    assert frame["snapshot"].unique().to_list() == [snapshot]
    dpd = dict(zip(frame["loan_id"], frame["dpd_now"], strict=True))
    assert dpd == {rolls.id: 5, cures.id: 5, paused.id: 5, edge.id: 28}
    assert frame.columns == [
        "snapshot",
        "loan_id",
        "borrower_id",
        "institution_id",
        "exposure",
        *FEATURES,
        "rolled_30",
    ]
    # A shorter horizon: A rolls on 04-14, 25 days after the snapshot.
    short = training_frame(db, [snapshot], horizon_days=24, institution_id=bank.id)
    assert dict(zip(short["loan_id"], short["rolled_30"], strict=True))[rolls.id] == 0


def test_training_frame_refuses_a_snapshot_whose_outcome_is_unknown(
    db: Session, bank: Institution
) -> None:
    make_loan(db, bank)  # its state is as of TODAY
    db.commit()
    assert latest_data_date(db, institution_id=bank.id) == TODAY
    training_frame(db, [TODAY - timedelta(days=30)], institution_id=bank.id)
    with pytest.raises(ValueError, match="latest data date 2026-11-29"):
        training_frame(db, [date(2026, 6, 1), TODAY - timedelta(days=29)], institution_id=bank.id)
    with pytest.raises(ValueError, match="horizon_days"):
        training_frame(db, [date(2026, 6, 1)], horizon_days=0)
    with pytest.raises(ValueError, match="snapshot"):
        training_frame(db, [])


# --------------------------------------------------------------------------- promises, disputes


def test_promises_and_disputes_count_as_of_the_day(db: Session, bank: Institution) -> None:
    loan = make_loan(db, bank, principal=600_000, term_months=6, start_date=date(2026, 1, 15))
    actor = lender_admin(bank)

    def promise(made: date, promised: date, amount: int, cancelled: bool = False) -> PromiseToPay:
        p = PromiseToPay(
            institution_id=bank.id,
            loan_id=loan.id,
            made_on=made,
            promised_date=promised,
            amount=amount,
            created_by="test",
            cancelled_at=datetime(2026, 3, 1, tzinfo=UTC) if cancelled else None,
        )
        db.add(p)
        return p

    kept = promise(date(2026, 3, 1), date(2026, 3, 10), 50_000)  # paid 03-12: within grace
    broken = promise(date(2026, 4, 1), date(2026, 4, 5), 80_000)  # 30_000 only
    promise(date(2026, 4, 1), date(2026, 4, 20), 10_000, cancelled=True)
    _pay(db, bank, loan, date(2026, 3, 12), 60_000)
    _pay(db, bank, loan, date(2026, 4, 6), 30_000)
    _pay(db, bank, loan, date(2026, 4, 9), 30_000)  # after the grace period
    service.pause_delinquency(
        db, actor, loan.id, PauseCreate(start_date=date(2026, 5, 1), reason="dispute"), today=TODAY
    )
    db.commit()

    def counts(as_of: date) -> tuple[int, int, int]:
        row = compute_features(db, as_of, loan_ids=[loan.id]).row(0, named=True)
        return row["promises_kept"], row["promises_broken"], row["disputes"]

    assert counts(date(2026, 3, 11)) == (0, 0, 0)  # pending
    assert counts(date(2026, 3, 12)) == (1, 0, 0)
    assert counts(date(2026, 4, 8)) == (1, 0, 0)  # 04-08 is the last day of grace
    assert counts(date(2026, 4, 9)) == (1, 1, 0)
    assert counts(date(2026, 5, 1)) == (1, 1, 1)
    outcomes = promise_outcomes(db, date(2026, 4, 9), loan_ids=[loan.id])
    assert outcomes.select("promise_id", "paid", "status").rows() == [
        (kept.id, 60_000, "kept"),
        (broken.id, 30_000, "broken"),
    ]


# --------------------------------------------------------------------------- borrowers


def test_borrower_features_take_the_worst_or_the_total() -> None:
    frame = pl.DataFrame(
        {
            "loan_id": [1, 2, 3],
            "borrower_id": [7, 7, 8],
            "institution_id": [1, 1, 1],
            "exposure": [100, 200, 50],
            "dpd_now": [0, 12, 3],
            "worst_dpd_3m": [5, 12, 3],
            "worst_dpd_6m": [40, 12, 3],
            "worst_dpd_12m": [40, 12, 3],
            "late_instalments": [2, 1, 0],
            "share_paid": [0.5, 0.9, 1.0],
            "days_since_last_payment": [30, 3, 10],
            "balance": [1.0, 2.0, 0.5],
            "utilisation": [0.1, 0.8, 0.2],
            "promises_kept": [1, 0, 0],
            "promises_broken": [0, 2, 0],
            "disputes": [1, 0, 0],
            "months_on_book": [10, 2, 4],
            "annual_rate": [0.1, 0.2, 0.15],
            "term_months": [12, 6, 12],
        }
    )
    out = borrower_features(frame)
    assert out.columns == ["institution_id", "borrower_id", "loans", "exposure", *FEATURES]
    first = out.row(0, named=True)
    assert first == {
        "institution_id": 1,
        "borrower_id": 7,
        "loans": 2,
        "exposure": 300,
        "dpd_now": 12,
        "worst_dpd_3m": 12,
        "worst_dpd_6m": 40,
        "worst_dpd_12m": 40,
        "late_instalments": 3,
        "share_paid": 0.5,
        "days_since_last_payment": 3,
        "balance": 3.0,
        "utilisation": 0.8,
        "promises_kept": 1,
        "promises_broken": 2,
        "disputes": 1,
        "months_on_book": 10,
        "annual_rate": 0.2,
        "term_months": 12,
    }
    assert out.row(1, named=True)["loans"] == 1


def test_empty_scopes_give_empty_frames_with_the_columns(db: Session, bank: Institution) -> None:
    frame = compute_features(db, TODAY, institution_id=bank.id)
    assert frame.height == 0
    assert frame.columns == ["loan_id", "borrower_id", "institution_id", "exposure", *FEATURES]
    assert compute_features(db, TODAY, loan_ids=[]).height == 0
    assert borrower_features(frame).height == 0
    assert training_frame(db, [date(2026, 1, 1)], institution_id=bank.id).height == 0


# --------------------------------------------------------------------------- the demo


def test_the_demo_portfolio(db: Session) -> None:
    from fairdun.demo import seed as demo

    demo.seed(db)
    demo.seed_portfolio(db, as_of=TODAY, caps=caps(), n_loans=250)
    db.commit()
    frame = compute_features(db, TODAY)
    stored = dict(
        db.execute(select(Loan.id, Loan.days_past_due).where(Loan.status != "paid_off")).all()
    )
    assert dict(zip(frame["loan_id"], frame["dpd_now"], strict=True)) == stored
    snapshots = [TODAY - timedelta(days=HORIZON + 30 * k) for k in range(6)]
    train = training_frame(db, snapshots)
    rate = train["rolled_30"].mean()
    assert isinstance(rate, float)
    assert 0.02 < rate < 0.3, rate
    assert train.height > 300
    assert train["snapshot"].n_unique() == 6
    assert all(v == 0 for v in train.select(pl.col(list(FEATURES)).null_count()).row(0))
