"""The contractual schedule: worked examples checked by hand, due dates, rounding, and the
invariants of every repayment method over the whole range of valid terms."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairdun.loans.schedule import (
    add_months,
    build_schedule,
    equal_instalment_payment,
    monthly_rate,
    round_minor,
    scheduled_outstanding,
)
from fairdun.loans.terms import Instalment, LoanTerms, RepaymentMethod

M = RepaymentMethod


def make_terms(
    *,
    principal: int = 1_200_000,
    annual_rate: str | Decimal = "0.12",
    term_months: int = 12,
    start_date: date = date(2024, 1, 15),
    method: RepaymentMethod = M.EQUAL_INSTALMENT,
    upfront_fee: int = 0,
    periodic_fee: int = 0,
) -> LoanTerms:
    return LoanTerms(
        principal=principal,
        annual_rate=Decimal(annual_rate),
        term_months=term_months,
        start_date=start_date,
        method=method,
        upfront_fee=upfront_fee,
        periodic_fee=periodic_fee,
    )


def parts(schedule: tuple[Instalment, ...]) -> list[tuple[int, int]]:
    return [(i.principal, i.interest) for i in schedule]


# --- due dates -------------------------------------------------------------------------


def test_add_months_keeps_the_day_of_month() -> None:
    assert add_months(date(2024, 1, 15), 1) == date(2024, 2, 15)
    assert add_months(date(2024, 11, 15), 2) == date(2025, 1, 15)
    assert add_months(date(2024, 3, 15), -3) == date(2023, 12, 15)
    assert add_months(date(2024, 3, 15), 0) == date(2024, 3, 15)


def test_add_months_clamps_to_the_end_of_a_shorter_month() -> None:
    start = date(2023, 1, 31)
    assert [add_months(start, k) for k in range(1, 5)] == [
        date(2023, 2, 28),
        date(2023, 3, 31),  # from the start date, not from Feb 28
        date(2023, 4, 30),
        date(2023, 5, 31),
    ]


def test_add_months_in_leap_years() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2024, 2, 29), 48) == date(2028, 2, 29)
    assert add_months(date(2000, 2, 29), 1200) == date(2100, 2, 28)  # 2100 is not leap


def test_schedule_due_dates_are_computed_from_the_start_date() -> None:
    schedule = build_schedule(make_terms(start_date=date(2024, 1, 31), term_months=4))
    assert [i.due_date for i in schedule] == [
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
        date(2024, 5, 31),
    ]
    assert [i.number for i in schedule] == [1, 2, 3, 4]


def test_bullet_is_due_at_the_end_of_the_term() -> None:
    schedule = build_schedule(
        make_terms(method=M.BULLET, start_date=date(2024, 2, 29), term_months=12)
    )
    assert [i.due_date for i in schedule] == [date(2025, 2, 28)]


# --- rounding --------------------------------------------------------------------------


def test_round_minor_rounds_halves_away_from_zero() -> None:
    assert round_minor(Fraction(5, 2)) == 3
    assert round_minor(Fraction(-5, 2)) == -3
    assert round_minor(Fraction(249, 100)) == 2
    assert round_minor(Decimal("1066.185")) == 1066
    assert round_minor(Decimal("0.5")) == 1
    assert round_minor(Decimal("-0.4999")) == 0
    assert round_minor(7) == 7


def test_equal_instalment_is_rounded_from_the_exact_value() -> None:
    # 36.30 CNY at 20% over 2 months: r = 1/60, q = 61/60, and
    # A = P·r·q²/(q² − 1) = 3630 · (1/60) · 3721/121 = 3630 · 3721 / 7260 = 1860.5 exactly.
    assert equal_instalment_payment(3630, Decimal("0.20"), 2) == 1861
    # A 40-digit Decimal computation lands just under the half and rounds it the wrong way:
    # the reason the schedule uses exact fractions.
    with localcontext() as ctx:
        ctx.prec = 40
        r = Decimal("0.20") / 12
        q2 = (1 + r) ** 2
        approximate = Decimal(3630) * r * q2 / (q2 - 1)
    assert approximate < Decimal("1860.5")
    assert approximate.quantize(Decimal(1), rounding=ROUND_HALF_UP) == 1860


# --- worked examples: 12,000.00 CNY over 12 months at 12% (r = 1% a month) --------------


def test_equal_instalment_worked_example() -> None:
    # 1.01^12 = 1.126825030...; A = 12,000 × 0.01 × 1.126825 / 0.126825 = 1,066.1855 → 1,066.19.
    assert equal_instalment_payment(1_200_000, Decimal("0.12"), 12) == 106_619
    schedule = build_schedule(make_terms())
    # 1st: interest 12,000.00 × 1% = 120.00; principal 1,066.19 − 120.00 = 946.19.
    # 2nd: outstanding 11,053.81; interest 110.5381 → 110.54; principal 955.65.
    assert parts(schedule)[:2] == [(94_619, 12_000), (95_565, 11_054)]
    assert all(i.total == 106_619 for i in schedule[:-1])
    # Last: the remaining 1,055.58 and its interest 10.5558 → 10.56: 1,066.14, 0.05 short of A.
    assert parts(schedule)[-1] == (105_558, 1_056)
    # All paid: 11 × 1,066.19 + 1,066.14 = 12,794.23, of which 794.23 is interest.
    assert sum(i.interest for i in schedule) == 79_423
    assert sum(i.principal for i in schedule) == 1_200_000


def test_equal_principal_worked_example() -> None:
    schedule = build_schedule(make_terms(method=M.EQUAL_PRINCIPAL))
    # 1,000.00 of principal a month; interest 1% of 12,000, 11,000, ..., 1,000.
    assert parts(schedule) == [(100_000, 1_000 * k) for k in range(12, 0, -1)]
    assert sum(i.interest for i in schedule) == 78_000  # 1% × 1,000 × (12 + 11 + ... + 1)


def test_equal_principal_last_instalment_takes_the_remainder() -> None:
    schedule = build_schedule(
        make_terms(principal=1_000, annual_rate="0", term_months=3, method=M.EQUAL_PRINCIPAL)
    )
    assert parts(schedule) == [(333, 0), (333, 0), (334, 0)]


def test_interest_only_worked_example() -> None:
    schedule = build_schedule(make_terms(method=M.INTEREST_ONLY))
    assert parts(schedule) == [(0, 12_000)] * 11 + [(1_200_000, 12_000)]


def test_bullet_worked_example() -> None:
    schedule = build_schedule(make_terms(method=M.BULLET, start_date=date(2024, 1, 31)))
    # Simple interest: 12,000.00 × 12% × 12/12 = 1,440.00, all at the end.
    assert schedule == (Instalment(1, date(2025, 1, 31), 1_200_000, 144_000),)
    # Over 7 months: 12,000.00 × 1% × 7 = 840.00.
    seven = build_schedule(make_terms(method=M.BULLET, term_months=7))
    assert parts(seven) == [(1_200_000, 84_000)]


def test_periodic_fee_is_on_every_instalment() -> None:
    for method in M:
        schedule = build_schedule(make_terms(method=method, periodic_fee=1_500))
        assert all(i.fee == 1_500 for i in schedule)
    bullet = build_schedule(make_terms(method=M.BULLET, periodic_fee=1_500))
    assert len(bullet) == 1  # once, not once a month


# --- zero rate and tiny loans ------------------------------------------------------------


def test_zero_rate_equal_instalment_is_principal_over_n() -> None:
    schedule = build_schedule(make_terms(principal=1_000, annual_rate="0", term_months=3))
    # A = round(1,000 / 3) = 333; the last takes what is left.
    assert parts(schedule) == [(333, 0), (333, 0), (334, 0)]


def test_rounded_up_instalment_can_repay_the_loan_early() -> None:
    # 0.02 over 4 months at 0%: A = round(0.5) = 1. Two payments of 0.01 repay it all;
    # the instalments after that are zero, never negative.
    schedule = build_schedule(make_terms(principal=2, annual_rate="0", term_months=4))
    assert parts(schedule) == [(1, 0), (1, 0), (0, 0), (0, 0)]


def test_last_instalment_can_drift_more_than_n_minor_units_from_a() -> None:
    # 537,426.05 CNY at 24% over 240 months: A* = 10,842.076917, so A = 10,842.08 is rounded
    # up by δ ≈ 0.31 fen. Each month repays that much extra principal, and the extra grows
    # at 2% a month for 20 years: the last instalment ends up 17.55 CNY below A, far more
    # than n = 240 minor units, yet within the proven bound (|δ| + ½)·((1+r)^n − 1)/r.
    terms = make_terms(principal=53_742_605, annual_rate="0.24", term_months=240)
    schedule = build_schedule(terms)
    payment = equal_instalment_payment(53_742_605, Decimal("0.24"), 240)
    assert payment == 1_084_208
    assert schedule[-1].total - payment == -1_755
    assert abs(schedule[-1].total - payment) <= _drift_bound(terms, payment)


def test_scheduled_outstanding() -> None:
    schedule = build_schedule(make_terms(method=M.EQUAL_PRINCIPAL))
    assert scheduled_outstanding(schedule) == tuple(100_000 * k for k in range(12, 0, -1))
    assert scheduled_outstanding(build_schedule(make_terms(method=M.BULLET))) == (1_200_000,)
    assert scheduled_outstanding(()) == ()


# --- properties over every valid loan -----------------------------------------------------


def _drift_bound(terms: LoanTerms, payment: int) -> Fraction:
    """(|δ| + ½)·((1+r)^n − 1)/r: the proven bound on |last total − A| (see build_schedule)."""
    r = monthly_rate(terms.annual_rate)
    n = terms.term_months
    exact = (
        Fraction(terms.principal, n)
        if r == 0
        else (terms.principal * r * (1 + r) ** n / ((1 + r) ** n - 1))
    )
    growth_sum = Fraction(n) if r == 0 else ((1 + r) ** n - 1) / r
    return (abs(payment - exact) + Fraction(1, 2)) * growth_sum


rates = st.integers(0, 10_000).map(lambda m: Decimal(m).scaleb(-4))  # 4 decimal places


def loan_terms(method: RepaymentMethod) -> st.SearchStrategy[LoanTerms]:
    # Small principals too: that is where a rounded A repays a loan early.
    principals = st.one_of(st.integers(1, 10**10), st.integers(1, 2_000))
    return principals.flatmap(
        lambda principal: st.builds(
            make_terms,
            principal=st.just(principal),
            annual_rate=rates,
            term_months=st.integers(1, 360),
            start_date=st.dates(date(2000, 1, 1), date(2040, 12, 31)),
            method=st.just(method),
            # LoanTerms bounds the periodic fee by the principal.
            periodic_fee=st.integers(0, min(principal, 10**6)),
        )
    )


@pytest.mark.parametrize("method", list(M))
@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_schedule_invariants(method: RepaymentMethod, data: st.DataObject) -> None:
    terms = data.draw(loan_terms(method))
    schedule = build_schedule(terms)
    n = terms.term_months
    r = monthly_rate(terms.annual_rate)

    assert sum(i.principal for i in schedule) == terms.principal
    assert all(i.principal >= 0 and i.interest >= 0 and i.fee >= 0 for i in schedule)
    assert all(i.fee == terms.periodic_fee for i in schedule)
    assert len(schedule) == (1 if method is M.BULLET else n)
    assert [i.number for i in schedule] == list(range(1, len(schedule) + 1))
    dates = [terms.start_date] + [i.due_date for i in schedule]
    assert all(a < b for a, b in itertools.pairwise(dates))
    if method is M.BULLET:
        assert schedule[0].due_date == add_months(terms.start_date, n)
        assert schedule[0].interest <= terms.principal * r * n + Fraction(1, 2)
    else:
        assert [i.due_date for i in schedule] == [
            add_months(terms.start_date, k) for k in range(1, n + 1)
        ]
        for instalment, outstanding in zip(schedule, scheduled_outstanding(schedule), strict=True):
            assert abs(instalment.interest - outstanding * r) <= Fraction(1, 2)


@settings(max_examples=300, deadline=None)
@given(terms=loan_terms(M.EQUAL_INSTALMENT))
def test_equal_instalment_totals_and_last_instalment_drift(terms: LoanTerms) -> None:
    schedule = build_schedule(terms)
    payment = equal_instalment_payment(terms.principal, terms.annual_rate, terms.term_months)
    r = monthly_rate(terms.annual_rate)
    outstanding = scheduled_outstanding(schedule)
    fee = terms.periodic_fee

    # Every instalment but the last is A, unless it repays the loan early (then it is the
    # outstanding plus its interest, and those after it are zero).
    repaid_early = False
    for instalment, owed in zip(schedule[:-1], outstanding, strict=False):
        if repaid_early:
            assert (instalment.principal, instalment.interest) == (0, 0)
            continue
        assert instalment.total - fee <= payment
        if instalment.principal == owed:
            repaid_early = True
        else:
            assert instalment.total - fee == payment
    last = schedule[-1].total - fee
    if repaid_early:
        assert last == 0

    # The proven bound on the drift of the last instalment...
    assert abs(last - payment) <= _drift_bound(terms, payment)
    # ...and, when nothing was repaid early, the exact identity it comes from:
    # T_n − A = Σ (e_k − δ)·(1+r)^(n−k), e_k the rounding of each interest, δ that of A.
    if not repaid_early:
        n = terms.term_months
        exact = (
            Fraction(terms.principal, n)
            if r == 0
            else (terms.principal * r * (1 + r) ** n / ((1 + r) ** n - 1))
        )
        delta = payment - exact
        drift = Fraction(0)
        for instalment, owed in zip(schedule, outstanding, strict=True):
            drift = drift * (1 + r) + (instalment.interest - owed * r) - delta
        assert last - payment == drift
