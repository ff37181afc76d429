"""True cost (IRR method) and legal caps: known values, the solver's limits, and properties
checked in exact arithmetic against the bounds proved in the module docstrings."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fairdun.loans import apr as apr_module
from fairdun.loans.apr import (
    ONE_YEAR_LPR,
    RateCap,
    TrueCost,
    actual_cost,
    cap_account,
    contract_cost,
    default_caps,
    exceeded_caps,
    excess_charges,
    excess_upfront_fee,
)
from fairdun.loans.schedule import build_schedule, round_minor, scheduled_outstanding
from fairdun.loans.terms import MAX_PRINCIPAL, Instalment, LoanTerms, RepaymentMethod

M = RepaymentMethod
START = date(2024, 1, 15)
MILLIONTH = Decimal("0.000001")
HALF_MILLIONTH = Fraction(1, 2_000_000)  # the rounding of a reported rate to 6 places
CAP_24 = RateCap("cn.24pct", "24%", Decimal("0.24"))


def make_terms(
    *,
    principal: int = 1_200_000,
    annual_rate: str | Decimal = "0.12",
    term_months: int = 12,
    method: RepaymentMethod = M.EQUAL_INSTALMENT,
    upfront_fee: int = 0,
    periodic_fee: int = 0,
    start_date: date = START,
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


def level_schedule(payment: int, count: int, principal: int) -> tuple[Instalment, ...]:
    """``count`` monthly payments of ``payment``; the principal parts sum to ``principal``."""
    share = principal // count
    parts = [share] * (count - 1) + [principal - share * (count - 1)]
    return tuple(
        Instalment(k, START + timedelta(days=30 * k), part, payment - part)
        for k, part in enumerate(parts, start=1)
    )


def present_value(amounts: Sequence[int], rate: Fraction) -> Fraction:
    """Σ amount_k / (1 + rate)^k for k = 1.., exactly (integer Horner, no gcd on the way)."""
    growth = 1 + rate
    up, down = growth.denominator, growth.numerator  # v = up / down
    numerator, power = 0, 1
    for amount in amounts:
        power *= up
        numerator = numerator * down + amount * power
    return Fraction(numerator, down ** len(amounts))


def per_year(terms: LoanTerms) -> Fraction:
    return Fraction(12, terms.term_months) if terms.method is M.BULLET else Fraction(12)


def npv(terms: LoanTerms, schedule: Sequence[Instalment], periodic: Fraction) -> Fraction:
    """The borrower's net present value: what is repaid, discounted, less what was received."""
    received = terms.principal - terms.upfront_fee
    return present_value([i.total for i in schedule], periodic) - received


def assert_brackets_the_root(
    terms: LoanTerms, schedule: Sequence[Instalment], cost: TrueCost
) -> None:
    """The true IRR is within a millionth of the reported nominal APR: the exact NPV changes
    sign between the two ends."""
    low = Fraction(cost.nominal_apr - MILLIONTH) / per_year(terms)
    high = Fraction(cost.nominal_apr + MILLIONTH) / per_year(terms)
    if low > -1:
        assert npv(terms, schedule, low) >= 0
    assert npv(terms, schedule, high) <= 0


# --- contract cost: known values --------------------------------------------------------


def test_twelve_payments_of_1000_on_10000() -> None:
    # 10,000 borrowed, 12 monthly payments of 1,000: the monthly IRR is 2.922854%, since
    # 1,000 × (1 − 1.02922854^−12) / 0.02922854 = 10,000.00. Nominal 12 × 2.922854% =
    # 35.0742%; effective 1.02922854^12 − 1 = 41.2999%.
    terms = make_terms(principal=1_000_000, annual_rate="0.3")
    schedule = level_schedule(100_000, 12, 1_000_000)
    cost = contract_cost(terms, schedule)
    assert cost == TrueCost(Decimal("0.350742"), Decimal("0.412999"))
    assert_brackets_the_root(terms, schedule, cost)


@pytest.mark.parametrize(
    ("method", "nominal", "effective"),
    [
        # Interest rounded to the fen: here the roundings are up on balance (their present
        # value at 1% a month is +0.67 fen), which shows in the 6th place.
        (M.EQUAL_INSTALMENT, "0.120001", "0.126826"),
        (M.EQUAL_PRINCIPAL, "0.120000", "0.126825"),  # 1.01^12 − 1 = 0.1268250
        (M.INTEREST_ONLY, "0.120000", "0.126825"),
        (M.BULLET, "0.120000", "0.120000"),  # one period of a year: 1,440 on 12,000
    ],
)
def test_without_fees_the_apr_is_the_contract_rate(
    method: RepaymentMethod, nominal: str, effective: str
) -> None:
    terms = make_terms(method=method)
    schedule = build_schedule(terms)
    cost = contract_cost(terms, schedule)
    assert cost == TrueCost(Decimal(nominal), Decimal(effective))
    assert_brackets_the_root(terms, schedule, cost)


@pytest.mark.parametrize(
    ("months", "effective"),
    [
        (24, "0.113553"),  # 24% simple over two years: 1.24^(1/2) − 1
        (3, "0.125509"),  # 3% over a quarter, four quarters a year: 1.03^4 − 1
    ],
)
def test_bullet_is_simple_interest_over_one_period(months: int, effective: str) -> None:
    terms = make_terms(method=M.BULLET, term_months=months)
    cost = contract_cost(terms, build_schedule(terms))
    assert cost == TrueCost(Decimal("0.120000"), Decimal(effective))


def test_an_upfront_fee_raises_the_apr_above_the_contract_rate() -> None:
    # 2% taken at disbursement: the borrower has 11,760.00 but repays as for 12,000.00.
    terms = make_terms(upfront_fee=24_000)
    schedule = build_schedule(make_terms())
    cost = contract_cost(terms, schedule)
    assert cost == TrueCost(Decimal("0.158546"), Decimal("0.170590"))
    assert_brackets_the_root(terms, schedule, cost)


def test_a_periodic_fee_raises_the_apr() -> None:
    terms = make_terms(periodic_fee=1_000)  # 10.00 a month on 12,000.00
    schedule = build_schedule(terms)
    cost = contract_cost(terms, schedule)
    assert cost.nominal_apr == Decimal("0.137769")
    assert_brackets_the_root(terms, schedule, cost)


def test_contract_cost_refuses_unusable_schedules() -> None:
    with pytest.raises(ValueError, match="no instalments"):
        contract_cost(make_terms(), ())
    bullet = make_terms(method=M.BULLET)
    with pytest.raises(ValueError, match="one instalment, not 12"):
        contract_cost(bullet, build_schedule(make_terms()))


# --- actual cost --------------------------------------------------------------------------


def test_actual_cost_over_one_year() -> None:
    # 10,000 then 11,000 exactly 365 days later: 10% a year; the nominal equivalent is
    # 12 × (1.1^(1/12) − 1) = 9.5690%.
    cost = actual_cost(date(2023, 1, 1), 1_000_000, [(date(2024, 1, 1), 1_100_000)])
    assert cost == TrueCost(Decimal("0.095690"), Decimal("0.100000"))
    # Over 366 days (2024 is a leap year), actual/365: 1.1^(365/366) − 1 = 9.9714%.
    leap = actual_cost(date(2024, 1, 1), 1_000_000, [(date(2025, 1, 1), 1_100_000)])
    assert leap.effective_apr == Decimal("0.099714")


def test_actual_cost_of_paying_on_time_late_and_late_with_penalty() -> None:
    schedule = build_schedule(make_terms())
    on_time = [(i.due_date, i.total) for i in schedule]
    on_time_cost = actual_cost(START, 1_200_000, on_time)
    # Close to the contract's 12.6825% effective: months are not all 365/12 days long.
    assert abs(on_time_cost.effective_apr - Decimal("0.126825")) < Decimal("0.001")
    assert on_time_cost == TrueCost(Decimal("0.119931"), Decimal("0.126748"))
    # The same amounts a month late are cheaper money for the borrower...
    late = [(d + timedelta(days=30), amount) for d, amount in on_time]
    late_cost = actual_cost(START, 1_200_000, late)
    assert late_cost.effective_apr < on_time_cost.effective_apr
    # ...but not once 0.05% a day of penalty interest is paid on top.
    penalised = [(d, amount + round_minor(Fraction(amount * 15, 1000))) for d, amount in late]
    assert actual_cost(START, 1_200_000, penalised).effective_apr > on_time_cost.effective_apr


def test_payments_on_the_disbursement_day_reduce_what_was_received() -> None:
    with_day_zero = actual_cost(
        date(2023, 1, 1), 1_000_000, [(date(2023, 1, 1), 100_000), (date(2024, 1, 1), 990_000)]
    )
    assert with_day_zero.effective_apr == Decimal("0.100000")  # 990,000 / 900,000


@pytest.mark.parametrize(
    ("disbursed", "payments", "message"),
    [
        (1_000, [], "no sign change: the borrower never pays anything back"),
        (1_000, [(date(2024, 2, 1), 0)], "no sign change: the borrower never pays anything back"),
        (0, [(date(2024, 2, 1), 10)], "disbursed must be positive"),
        (1_000, [(date(2024, 2, 1), -5)], "is negative"),
        (1_000, [(date(2023, 12, 31), 1_100)], "before the disbursement"),
        (1_000, [(date(2024, 1, 1), 1_000)], "no sign change: the payments on the disbursement"),
    ],
)
def test_actual_cost_names_the_problem(
    disbursed: int, payments: list[tuple[date, int]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        actual_cost(date(2024, 1, 1), disbursed, payments)


def test_the_solver_ends_on_extreme_flows() -> None:
    # 10^10 received, 1 repaid 30 years later (10,958 days): (10^−10)^(365/10958) − 1.
    ruin = actual_cost(date(2024, 1, 1), 10**10, [(date(2054, 1, 1), 1)])
    with localcontext() as ctx:
        ctx.prec = 40
        expected = Decimal(10) ** (Decimal(-10) * 365 / 10_958) - 1
    assert ruin.effective_apr == expected.quantize(MILLIONTH)
    # 0.01 received, 10^10 repaid the next day: an absurd but finite rate.
    usury = actual_cost(date(2024, 1, 1), 1, [(date(2024, 1, 2), 10**10)])
    assert usury.effective_apr > Decimal("1e3000")
    # The borrower repaid less than received: a negative rate, not an error.
    assert actual_cost(date(2023, 1, 1), 1_000, [(date(2024, 1, 1), 900)]).effective_apr == (
        Decimal("-0.100000")
    )


# --- caps ---------------------------------------------------------------------------------


def test_default_caps() -> None:
    caps = default_caps()
    assert [c.id for c in caps] == ["cn.24pct", "cn.36pct", "cn.4x-lpr"]
    assert [c.annual_rate for c in caps] == [Decimal("0.24"), Decimal("0.36"), Decimal("0.12")]
    assert Decimal("0.030") == ONE_YEAR_LPR
    assert default_caps(Decimal("0.0345"))[2].annual_rate == Decimal("0.138")


def test_a_negative_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        RateCap("x", "x", Decimal("-0.1"))


@pytest.mark.parametrize(
    ("rate", "upfront_fee", "method", "flagged"),
    [
        ("0.36", 12_000, M.EQUAL_INSTALMENT, ["cn.24pct", "cn.36pct", "cn.4x-lpr"]),  # 38.03%
        ("0.18", 0, M.EQUAL_INSTALMENT, ["cn.4x-lpr"]),  # above 4 × 3% but under 24%
        ("0.10", 0, M.EQUAL_INSTALMENT, []),
        # Exactly 24.0000% (every interest is a whole fen): equal to the cap is not above it.
        ("0.24", 0, M.EQUAL_PRINCIPAL, ["cn.4x-lpr"]),
    ],
)
def test_exceeded_caps_compare_the_nominal_apr(
    rate: str, upfront_fee: int, method: RepaymentMethod, flagged: list[str]
) -> None:
    terms = make_terms(annual_rate=rate, upfront_fee=upfront_fee, method=method)
    cost = contract_cost(terms, build_schedule(terms))
    assert [c.id for c in exceeded_caps(cost, default_caps())] == flagged


def test_caps_use_the_nominal_not_the_effective_rate() -> None:
    cost = TrueCost(nominal_apr=Decimal("0.230000"), effective_apr=Decimal("0.256000"))
    assert exceeded_caps(cost, [CAP_24]) == ()


# --- excess over a cap: worked examples ---------------------------------------------------


def test_no_excess_without_fees_under_the_cap() -> None:
    for method in M:
        terms = make_terms(annual_rate="0.24", method=method)
        schedule = build_schedule(terms)
        assert excess_charges(terms, schedule, CAP_24) == (0,) * len(schedule)
        assert excess_upfront_fee(terms, schedule, CAP_24) == 0


def test_interest_above_the_cap_is_excess_instalment_by_instalment() -> None:
    # 36% against 24%: on 12,000, 11,000, ... 1,000 outstanding, interest 3% and allowance
    # 2% a month: 120.00, 110.00, ... 10.00 of each instalment is not collectable.
    terms = make_terms(annual_rate="0.36", method=M.EQUAL_PRINCIPAL)
    schedule = build_schedule(terms)
    assert excess_charges(terms, schedule, CAP_24) == tuple(1_000 * k for k in range(12, 0, -1))


def test_bullet_excess() -> None:
    # 36% simple over a year is 4,320.00; 24% allows 2,880.00.
    terms = make_terms(annual_rate="0.36", method=M.BULLET)
    assert excess_charges(terms, build_schedule(terms), CAP_24) == (144_000,)


def test_a_periodic_fee_on_a_shrinking_balance_is_not_excess_when_the_loan_is_under_the_cap() -> (
    None
):
    # 0% interest, 100.00 a month of fee on 12,000.00 repaid 1,000.00 a month: 17.97% a year.
    # The last fee is above its own allowance (2% of 1,000.00 = 20.00), but the allowance
    # the early instalments left unused carries forward and covers it.
    terms = make_terms(annual_rate="0", method=M.EQUAL_PRINCIPAL, periodic_fee=10_000)
    schedule = build_schedule(terms)
    assert contract_cost(terms, schedule).nominal_apr == Decimal("0.179720")
    assert excess_charges(terms, schedule, CAP_24) == (0,) * 12


def test_an_upfront_fee_uses_the_earliest_allowance_first() -> None:
    # 20% plus a 1% upfront fee: 22.01% a year, under 24%, yet the first instalment has
    # excess. The fee (120.00) has waited a month for the first allowance, so it counts as
    # 120.00 × 1.02 = 122.40 against the 240.00 allowance; 117.60 is left for the first
    # interest of 200.00, and 82.40 of it is excess. Deliberate: the fee cannot borrow from
    # later instalments.
    terms = make_terms(annual_rate="0.20", method=M.EQUAL_PRINCIPAL, upfront_fee=12_000)
    schedule = build_schedule(terms)
    assert contract_cost(terms, schedule).nominal_apr == Decimal("0.220067")
    assert excess_charges(terms, schedule, CAP_24) == (8_240,) + (0,) * 11


def test_an_upfront_fee_above_all_the_allowance() -> None:
    # A 50% fee: the whole loan allows 2% a month on 12,000, 11,000, ... 1,000, worth
    # 1,424.65 at disbursement (discounted at 2% a month), so 4,575.35 of the fee is above
    # the cap, and every instalment's interest is excess too.
    terms = make_terms(method=M.EQUAL_PRINCIPAL, upfront_fee=600_000)
    schedule = build_schedule(terms)
    assert excess_upfront_fee(terms, schedule, CAP_24) == 457_535
    assert excess_charges(terms, schedule, CAP_24) == tuple(i.interest for i in schedule)


# --- properties ---------------------------------------------------------------------------

rates = st.integers(0, 10_000).map(lambda m: Decimal(m).scaleb(-4))  # 4 decimal places
principals = st.one_of(st.integers(1, 10**10), st.integers(1, 100_000))


@st.composite
def loans(
    draw: st.DrawFn,
    *,
    methods: Sequence[RepaymentMethod] = tuple(M),
    fees: bool = True,
    principal: st.SearchStrategy[int] = principals,
    term: st.SearchStrategy[int] = st.integers(1, 360),
) -> LoanTerms:
    amount = draw(principal)
    return make_terms(
        principal=amount,
        annual_rate=draw(rates),
        term_months=draw(term),
        method=draw(st.sampled_from(methods)),
        upfront_fee=draw(st.integers(0, amount // 2)) if fees else 0,
        periodic_fee=draw(st.integers(0, max(1, amount // 20))) if fees else 0,
    )


@settings(max_examples=300, deadline=None)
@given(terms=loans(fees=False))
def test_without_fees_the_nominal_apr_is_the_contract_rate_within_the_interest_rounding(
    terms: LoanTerms,
) -> None:
    # At the contract rate ρ per period the borrower's NPV is E = Σ e_k·v^k, the present
    # value of the interest roundings e_k (|E| ≤ ½·Σv^k ≤ n/2). NPV is decreasing and convex
    # in the rate, with slope at least P/(1 + i) at the IRR i, hence
    # |i − ρ| ≤ |E|·(1 + ρ)/(P − |E|): the tolerance below, annualised, plus the rounding
    # of the reported figure.
    schedule = build_schedule(terms)
    periods = per_year(terms)
    rho = Fraction(terms.annual_rate) / periods
    error = abs(npv(terms, schedule, rho))
    assume(error < terms.principal)
    tolerance = periods * error * (1 + rho) / (terms.principal - error) + HALF_MILLIONTH
    cost = contract_cost(terms, schedule)
    assert abs(Fraction(cost.nominal_apr) - Fraction(terms.annual_rate)) <= tolerance
    assert_brackets_the_root(terms, schedule, cost)


@settings(max_examples=150, deadline=None)
@given(
    terms=loans(
        methods=[M.EQUAL_INSTALMENT, M.EQUAL_PRINCIPAL, M.INTEREST_ONLY],
        fees=False,
        principal=st.integers(2 * 10**9, 10**10),
        term=st.integers(1, 60),
    )
)
def test_without_fees_the_nominal_apr_is_the_contract_rate_within_a_millionth(
    terms: LoanTerms,
) -> None:
    # By the bound above, with |E| ≤ 30 (n ≤ 60) and P ≥ 2·10^9 the IRR is within
    # 12 × 30 × 1.09 / 2·10^9 < 2·10^−7 of the contract rate: 1e-6 with the reporting.
    cost = contract_cost(terms, build_schedule(terms))
    assert abs(cost.nominal_apr - terms.annual_rate) <= MILLIONTH


@settings(max_examples=150, deadline=None)
@given(terms=loans(methods=[M.BULLET], fees=False))
def test_bullet_cost_is_simple_interest_annualised(terms: LoanTerms) -> None:
    # One period of n months: i = interest / P exactly; nominal = i·12/n (the contract rate
    # up to the interest rounding, within 6/(n·P)); effective = (1 + i)^(12/n) − 1.
    (instalment,) = build_schedule(terms)
    i = Fraction(instalment.interest, terms.principal)
    cost = contract_cost(terms, (instalment,))
    n = terms.term_months
    assert abs(Fraction(cost.nominal_apr) - i * 12 / n) <= HALF_MILLIONTH
    assert abs(i * 12 / n - Fraction(terms.annual_rate)) <= Fraction(6, n * terms.principal)
    with localcontext() as ctx:
        ctx.prec = 50
        effective = (1 + Decimal(i.numerator) / Decimal(i.denominator)) ** (
            Decimal(12) / Decimal(n)
        ) - 1
    assert abs(cost.effective_apr - effective) <= MILLIONTH / 2


@settings(max_examples=200, deadline=None)
@given(terms=loans(), data=st.data())
def test_a_bigger_upfront_fee_never_lowers_the_apr(terms: LoanTerms, data: st.DataObject) -> None:
    schedule = build_schedule(terms)
    bigger = data.draw(st.integers(terms.upfront_fee, terms.principal // 2))
    more = make_terms(
        principal=terms.principal,
        annual_rate=terms.annual_rate,
        term_months=terms.term_months,
        method=terms.method,
        upfront_fee=bigger,
        periodic_fee=terms.periodic_fee,
    )
    cost, more_cost = contract_cost(terms, schedule), contract_cost(more, schedule)
    assert more_cost.nominal_apr >= cost.nominal_apr
    assert more_cost.effective_apr >= cost.effective_apr
    assert_brackets_the_root(terms, schedule, cost)


@settings(max_examples=200, deadline=None)
@given(terms=loans(), factor=st.integers(2, 10_000))
def test_scaling_every_amount_does_not_change_the_contract_apr(
    terms: LoanTerms, factor: int
) -> None:
    assume(terms.principal * factor <= MAX_PRINCIPAL)
    schedule = build_schedule(terms)
    scaled_terms = make_terms(
        principal=terms.principal * factor,
        annual_rate=terms.annual_rate,
        term_months=terms.term_months,
        method=terms.method,
        upfront_fee=terms.upfront_fee * factor,
        periodic_fee=terms.periodic_fee * factor,
    )
    scaled = tuple(
        Instalment(i.number, i.due_date, i.principal * factor, i.interest * factor, i.fee * factor)
        for i in schedule
    )
    cost, scaled_cost = contract_cost(terms, schedule), contract_cost(scaled_terms, scaled)
    # Equal to ~30 digits before rounding; a millionth allows a value on a rounding tie.
    assert abs(cost.nominal_apr - scaled_cost.nominal_apr) <= MILLIONTH
    assert abs(cost.effective_apr - scaled_cost.effective_apr) <= MILLIONTH * max(
        Decimal(1), abs(cost.effective_apr)
    )


payments = st.lists(
    st.tuples(st.integers(1, 3_650), st.integers(0, 10**9)), min_size=1, max_size=40
).filter(lambda flows: any(amount > 0 for _, amount in flows))


@settings(max_examples=200, deadline=None)
@given(disbursed=st.integers(1, 10**9), flows=payments, factor=st.integers(2, 10_000))
def test_actual_cost_solves_the_xirr_and_ignores_scale(
    disbursed: int, flows: list[tuple[int, int]], factor: int
) -> None:
    on = date(2020, 1, 1)
    dated = [(on + timedelta(days=days), amount) for days, amount in flows]
    cost = actual_cost(on, disbursed, dated)
    scaled = actual_cost(on, disbursed * factor, [(d, a * factor) for d, a in dated])
    assert abs(cost.nominal_apr - scaled.nominal_apr) <= MILLIONTH * max(
        Decimal(1), abs(cost.nominal_apr)
    )
    # The root: Σ a_i / (1 + x)^(days_i/365) − disbursed changes sign around x.
    x = cost.effective_apr
    assume(x < Decimal("1e30"))
    with localcontext() as ctx:
        ctx.prec = 80

        def value(rate: Decimal) -> Decimal:
            return sum(
                (Decimal(a) * (1 + rate) ** (Decimal(-days) / 365) for days, a in flows),
                Decimal(0),
            ) - Decimal(disbursed)

        # A millionth, or for absurd rates the solver's ~30 significant digits.
        delta = MILLIONTH + abs(x) * Decimal("1e-20")
        if x - delta > -1:
            assert value(x - delta) >= 0
        assert value(x + delta) <= 0


def _cap_figures(
    terms: LoanTerms, schedule: Sequence[Instalment], cap: RateCap
) -> tuple[Fraction, Fraction, Fraction]:
    """(ρ, Σv^k, R): the cap's periodic rate, the annuity factor at it, and R, the present
    value of the allowances' rounding, Σ v^k·(round(O_k·ρ) − O_k·ρ) (|R| ≤ ½Σv^k)."""
    rho = Fraction(cap.annual_rate) / per_year(terms)
    outstanding = scheduled_outstanding(schedule)
    annuity = present_value([1] * len(schedule), rho)
    rounding = Fraction(0)
    for o in reversed(outstanding):  # Horner: Σ v^k·d_k
        rounding = (rounding + round_minor(o * rho) - o * rho) / (1 + rho)
    return rho, annuity, rounding


caps = rates.map(lambda rate: RateCap("test", "test", rate))


@settings(max_examples=200, deadline=None)
@given(terms=loans(term=st.integers(1, 120)), cap=caps)
def test_removing_the_excess_brings_the_cost_within_the_cap(terms: LoanTerms, cap: RateCap) -> None:
    # The allowance account never runs below zero, so after removing the excess (and
    # refunding the uncovered part of the upfront fee) the NPV at the cap's rate is at most
    # R, the rounding of the allowances: |R| ≤ ½·Σv^k. By the convexity argument above the
    # IRR is then at most the cap plus periods·R·(1+ρ)/(received − R), plus the reporting.
    schedule = build_schedule(terms)
    excess = excess_charges(terms, schedule, cap)
    refund = excess_upfront_fee(terms, schedule, cap)
    assert all(0 <= x <= i.interest + i.fee for x, i in zip(excess, schedule, strict=True))
    assert 0 <= refund <= terms.upfront_fee
    cut = tuple(
        Instalment(
            i.number,
            i.due_date,
            i.principal,
            i.interest - max(0, x - i.fee),
            i.fee - min(i.fee, x),
        )
        for i, x in zip(schedule, excess, strict=True)
    )
    refunded = make_terms(
        principal=terms.principal,
        annual_rate=terms.annual_rate,
        term_months=terms.term_months,
        method=terms.method,
        upfront_fee=terms.upfront_fee - refund,
        periodic_fee=terms.periodic_fee,
    )
    rho, annuity, rounding = _cap_figures(terms, schedule, cap)
    assert abs(rounding) <= annuity / 2
    remaining = npv(refunded, cut, rho)
    assert remaining <= rounding
    received = refunded.principal - refunded.upfront_fee
    slack = max(remaining, Fraction(0))
    assume(slack < received)
    tolerance = per_year(terms) * slack * (1 + rho) / (received - slack) + HALF_MILLIONTH
    cost = contract_cost(refunded, cut)
    assert Fraction(cost.nominal_apr) <= Fraction(cap.annual_rate) + tolerance


@settings(max_examples=200, deadline=None)
@given(terms=loans(term=st.integers(1, 120)), cap=caps)
def test_without_an_upfront_fee_the_excess_is_the_overcharge_up_to_rounding(
    terms: LoanTerms, cap: RateCap
) -> None:
    # No upfront fee (periodic fees allowed). With X the present value at the cap's rate of
    # the excess and N the NPV of the contract at that rate (N > 0 iff the APR is above
    # the cap):  N − ½Σv^k ≤ X < max(0, N) + 1.5·Σv^k + 1.
    # Upper bound: the charges run ahead of the allowance by an amount that only grows
    # along the schedule (outstanding never rises), so the account is lowest at the end,
    # where it is −N up to the interest and allowance roundings (≤ 1 each period) and the
    # rounding of the last cut (< 1).
    terms = make_terms(
        principal=terms.principal,
        annual_rate=terms.annual_rate,
        term_months=terms.term_months,
        method=terms.method,
        periodic_fee=terms.periodic_fee,
    )
    schedule = build_schedule(terms)
    excess = excess_charges(terms, schedule, cap)
    rho, annuity, _ = _cap_figures(terms, schedule, cap)
    overcharge = npv(terms, schedule, rho)
    excess_value = present_value(excess, rho)
    assert overcharge - annuity / 2 <= excess_value
    assert excess_value < max(overcharge, Fraction(0)) + 3 * annuity / 2 + 1
    if contract_cost(terms, schedule).nominal_apr <= cap.annual_rate - MILLIONTH:
        assert overcharge < 0
        assert excess_value < 3 * annuity / 2 + 1
    if terms.periodic_fee == 0 and terms.annual_rate <= cap.annual_rate:
        assert excess == (0,) * len(schedule)
    assert excess_upfront_fee(terms, schedule, cap) == 0


# --- the fast start of the contract solver and the integer allowance account -------------


@st.composite
def any_terms(draw: st.DrawFn) -> LoanTerms:
    principal = draw(st.one_of(st.integers(1, 1_000), st.integers(1, MAX_PRINCIPAL)))
    return LoanTerms(
        principal=principal,
        annual_rate=Decimal(draw(st.integers(0, 10**6))) / 10**6,
        term_months=draw(st.one_of(st.integers(1, 36), st.integers(1, 360))),
        start_date=date(2024, 1, 31),
        method=draw(st.sampled_from(list(RepaymentMethod))),
        upfront_fee=draw(st.sampled_from([0, principal // 100, principal // 2])),
        periodic_fee=draw(st.sampled_from([0, 1, principal // 50, principal])),
    )


@settings(max_examples=200, deadline=None)
@given(any_terms())
def test_the_fast_start_finds_the_root_the_guaranteed_loop_finds(terms: LoanTerms) -> None:
    """contract_cost starts from a floating-point root; the six decimals must be those the
    plain bracketing loop gives."""
    schedule = build_schedule(terms)
    received = terms.principal - terms.upfront_fee
    flows = [(k, i.total) for k, i in enumerate(schedule, start=1)]
    with apr_module._context():
        fast = apr_module._solve_log_rate(received, flows, fast_start=True)
        plain = apr_module._solve_log_rate(received, flows, fast_start=False)
        scale = Decimal(12)
    assert apr_module._round6((fast.exp() - 1) * scale) == apr_module._round6(
        (plain.exp() - 1) * scale
    )


@settings(max_examples=200, deadline=None)
@given(any_terms(), st.sampled_from(["0", "0.05", "0.24", "0.36", "1.5"]))
def test_the_integer_allowance_account_is_the_fraction_account(
    terms: LoanTerms, cap_rate: str
) -> None:
    """cap_account keeps the balance as an unreduced integer ratio; the same account kept in
    Fraction (the definition in the module docstring) must give the same result."""
    schedule = build_schedule(terms)
    cap = RateCap("test", "test", Decimal(cap_rate))
    months = terms.term_months if terms.method is RepaymentMethod.BULLET else 1
    rate = Fraction(cap.annual_rate) * months / 12
    balance = Fraction(-terms.upfront_fee)
    excess = []
    for instalment, outstanding in zip(schedule, scheduled_outstanding(schedule), strict=True):
        balance = balance * (1 + rate) + round_minor(outstanding * rate)
        charges = instalment.interest + instalment.fee
        covered = min(charges, max(0, math.floor(balance)))
        excess.append(charges - covered)
        balance -= covered
    fee = math.ceil(-balance / (1 + rate) ** len(schedule)) if balance < 0 else 0
    assert cap_account(terms, schedule, cap) == (tuple(excess), fee)
