"""The true cost of a loan (年化利率) by the IRR method, and the legal rate caps.

**Cash flows.** The borrower receives ``principal − upfront_fee`` at the start and pays each
instalment's total (principal + interest + fee) when it falls due.

**Contract cost** (:func:`contract_cost`). The periodic internal rate of return i of those
flows, on the schedule's periods: instalment k at period k of one month, or, for a bullet
loan, one period of n months. ``nominal_apr = i × periods per year`` (12, or 12/n for a
bullet); ``effective_apr = (1 + i)^(periods per year) − 1``. The nominal figure is the
annualised rate Chinese regulators ask for (IRR method) and what the caps are quoted in.
Without fees the nominal APR is the contract rate, up to the rounding of interest to the
minor unit; for a bullet loan it is the simple rate, and its effective APR
``(1 + r·n/12)^(12/n) − 1`` is what differs from a monthly-compounded loan.

**Actual cost** (:func:`actual_cost`). XIRR on the dates money actually moved, actual/365:
x with ``Σ cf_i / (1+x)^(days_i/365) = 0``; ``effective_apr = x`` and
``nominal_apr = 12·((1+x)^(1/12) − 1)``, comparable with the contract's nominal APR.

Both are rounded half up to 6 decimal places (a ten-thousandth of a percent). The solver
works in ``Decimal`` at 40 digits, on the logarithm of the rate: results are identical on
every platform and accurate to about 30 significant digits before that rounding, so even
absurd rates (a loan repaid 10^10 times over the next day) come out finite and exact.
It raises ``ValueError`` when the cash flows have no sign change (nothing is ever repaid,
or everything is repaid on the disbursement day): such flows have no rate.

**Excess over a cap** (:func:`excess_charges`). What a cap allows, per instalment, is
``allowance_k = round(outstanding_k × cap / 12)`` on the principal outstanding at the start
of its period (bullet: ``round(P × cap × n/12)``). The charges of an instalment are its
interest and fee. The rule is an allowance account, kept in time order:

1. the upfront fee, already taken at disbursement, is charged against the allowance of the
   earliest instalments first;
2. each instalment's charges are then covered by what is left of its allowance, and by
   allowance that earlier instalments left unused;
3. the part of an instalment's charges the account cannot cover is its excess, not
   collectable (``excess_k = max(0, charges_k − available_k)``, rounded in the borrower's
   favour);
4. amounts waiting in the account (the fee not yet covered, or allowance not yet used) grow
   at the cap's own periodic rate, so that an amount is always compared at its value on the
   same date.

Step 4 is what makes the account agree with the IRR: after removing the excess (and
refunding :func:`excess_upfront_fee`, the part of the fee that the whole loan's allowance
cannot cover), the loan's nominal APR is at most the cap, up to the rounding of each
allowance to the minor unit. Without it, a fee paid today would be set against allowance
earned months later at face value, and a loan with a large upfront fee could stay above
the cap after the excess is removed. Step 2 (carrying unused allowance forward) avoids
flagging a periodic fee on a shrinking balance as excess when the loan as a whole is under
the cap. Without fees, the rule is exactly "each instalment's interest above
``round(outstanding × cap / 12)``". One asymmetry is deliberate: the upfront fee is covered
by the earliest allowance and cannot borrow from later instalments, so a large upfront fee
can make early charges excess even when the loan's overall APR is under the cap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_UP, Context, Decimal, localcontext
from fractions import Fraction

from fairdun.loans.schedule import scheduled_outstanding
from fairdun.loans.terms import Instalment, LoanTerms, RepaymentMethod

__all__ = [
    "ONE_YEAR_LPR",
    "RateCap",
    "TrueCost",
    "actual_cost",
    "cap_account",
    "contract_cost",
    "default_caps",
    "exceeded_caps",
    "excess_charges",
    "excess_upfront_fee",
]

# The one-year Loan Prime Rate (贷款市场报价利率) published by the National Interbank Funding
# Center: 3.0% since 2025-05-20. A parameter to update when it changes; to be confirmed
# against the current announcement before any cap built on it is relied upon.
ONE_YEAR_LPR = Decimal("0.030")

_PRECISION = 40
_MAX_ITERATIONS = 400
_SIX_PLACES = Decimal("0.000001")
_DAYS_PER_YEAR = 365


@dataclass(frozen=True)
class TrueCost:
    """Annualised cost as fractions (0.18 is 18% a year), rounded half up to 6 places."""

    nominal_apr: Decimal
    effective_apr: Decimal


@dataclass(frozen=True)
class RateCap:
    """A legal ceiling on the annualised cost, a fraction (0.24 is 24% a year)."""

    id: str
    label: str
    annual_rate: Decimal

    def __post_init__(self) -> None:
        if not isinstance(self.annual_rate, Decimal) or self.annual_rate < 0:
            raise ValueError(f"cap {self.id}: annual_rate must be a non-negative Decimal")


def default_caps(lpr: Decimal = ONE_YEAR_LPR) -> tuple[RateCap, ...]:
    """The Chinese private-lending lines: 24% and 36% (2015 judicial interpretation) and
    four times the one-year LPR (2020 revision), given ``lpr``."""
    return (
        RateCap("cn.24pct", "24% a year (2015 private lending interpretation)", Decimal("0.24")),
        RateCap("cn.36pct", "36% a year (2015 private lending interpretation)", Decimal("0.36")),
        RateCap("cn.4x-lpr", "four times the one-year LPR (2020 revision)", 4 * lpr),
    )


# Caps are quoted to a hundredth of a percent.
CAP_PRECISION = Decimal("0.0001")


def exceeded_caps(cost: TrueCost, caps: Sequence[RateCap]) -> tuple[RateCap, ...]:
    """The caps that ``cost`` is above, in the order given.

    The comparison is on the NOMINAL IRR-based annualised rate (periodic IRR × periods per
    year), not the effective rate: the Chinese caps are simple annual rates, and the IRR
    method quotes the annualised rate that way. Compared at the precision caps are quoted
    in, a hundredth of a percent (half up): rounding interest to the minor unit can put a
    loan written exactly at a cap a millionth above it, and that must not flag it.
    """
    quoted = cost.nominal_apr.quantize(CAP_PRECISION, rounding=ROUND_HALF_UP)
    return tuple(cap for cap in caps if quoted > cap.annual_rate)


def contract_cost(terms: LoanTerms, schedule: Sequence[Instalment]) -> TrueCost:
    """The true cost of the contract (see the module docstring): periodic IRR of the
    borrower's cash flows on the schedule's periods, annualised."""
    if not schedule:
        raise ValueError("the schedule has no instalments")
    period_months = _period_months(terms, schedule)
    received = terms.principal - terms.upfront_fee
    flows = [(k, instalment.total) for k, instalment in enumerate(schedule, start=1)]
    with _context():
        # Contract flows are bounded (fees at most half the principal), so the fast start
        # is safe and lands on the same six decimals (checked against the plain loop).
        log_rate = _solve_log_rate(received, flows, fast_start=True)  # ln(1 + i) per period
        per_year = Decimal(12) / Decimal(period_months)
        nominal = (log_rate.exp() - 1) * per_year
        effective = (log_rate * per_year).exp() - 1
    return TrueCost(_round6(nominal), _round6(effective))


def actual_cost(
    disbursed_on: date, disbursed: int, payments: Sequence[tuple[date, int]]
) -> TrueCost:
    """The true cost of what actually happened: XIRR on actual dates, actual/365.

    ``disbursed`` is what the borrower received on ``disbursed_on``; ``payments`` are
    (date, amount) received from the borrower, amounts not negative and dates not before
    the disbursement. A refund to the borrower should be netted against the payment it
    refunds. Payments on the disbursement day reduce what was received.
    """
    if disbursed <= 0:
        raise ValueError(f"disbursed must be positive, not {disbursed}")
    received = disbursed
    flows: list[tuple[int, int]] = []
    for paid_on, amount in payments:
        if amount < 0:
            raise ValueError(f"payment of {amount} on {paid_on} is negative")
        days = (paid_on - disbursed_on).days
        if days < 0:
            raise ValueError(f"payment on {paid_on} is before the disbursement on {disbursed_on}")
        if days == 0:
            received -= amount
        else:
            flows.append((days, amount))
    if received <= 0:
        raise ValueError(
            "no sign change: the payments on the disbursement day repay all that was disbursed"
        )
    with _context():
        log_daily = _solve_log_rate(received, flows)  # ln(1 + x) per day
        log_annual = log_daily * _DAYS_PER_YEAR
        effective = log_annual.exp() - 1
        nominal = 12 * ((log_annual / 12).exp() - 1)
    return TrueCost(_round6(nominal), _round6(effective))


def excess_charges(
    terms: LoanTerms, schedule: Sequence[Instalment], cap: RateCap
) -> tuple[int, ...]:
    """Per instalment, the part of its charges (interest + fee) above what ``cap`` allows:
    not collectable. The allowance account is described in the module docstring."""
    return cap_account(terms, schedule, cap)[0]


def excess_upfront_fee(terms: LoanTerms, schedule: Sequence[Instalment], cap: RateCap) -> int:
    """The part of the upfront fee that the allowance of the whole loan cannot cover, valued
    at disbursement and rounded up: 0 unless the fee alone breaks ``cap``. When it is not 0,
    every instalment's charges are excess too."""
    return cap_account(terms, schedule, cap)[1]


def cap_account(
    terms: LoanTerms, schedule: Sequence[Instalment], cap: RateCap
) -> tuple[tuple[int, ...], int]:
    """Both results of the allowance account at once: ``(excess_charges,
    excess_upfront_fee)``.

    Exact rational arithmetic in plain integers: the balance is kept as ``B / D`` with
    ``D = g_den^k`` after k periods (g = 1 + the cap's periodic rate = g_num / g_den), never
    reduced; floors and ceilings are integer divisions. Bit for bit what the same account in
    ``Fraction`` gives, several times faster.
    """
    if not schedule:
        raise ValueError("the schedule has no instalments")
    # The cap's rate per period of the schedule (a bullet loan has one period of n months).
    rate = Fraction(cap.annual_rate) * _period_months(terms, schedule) / 12
    rate_num, rate_den = rate.numerator, rate.denominator
    growth = 1 + rate
    g_num, g_den = growth.numerator, growth.denominator
    top, bottom = -terms.upfront_fee, 1  # balance = top / bottom; negative: fee not covered
    excess: list[int] = []
    for instalment, outstanding in zip(schedule, scheduled_outstanding(schedule), strict=True):
        allowance = (2 * outstanding * rate_num + rate_den) // (2 * rate_den)  # half up
        top = top * g_num + allowance * bottom * g_den
        bottom *= g_den
        charges = instalment.interest + instalment.fee
        # Rounding down what is covered rounds the excess up: in the borrower's favour.
        covered = min(charges, max(0, top // bottom))
        excess.append(charges - covered)
        top -= covered * bottom
    uncovered_fee = 0
    if top < 0:
        n = len(schedule)
        # ceil(-balance / growth^n) = ceil(-top·g_den^n / (bottom·g_num^n))
        numerator, denominator = -top * g_den**n, bottom * g_num**n
        uncovered_fee = -(-numerator // denominator)
    return tuple(excess), uncovered_fee


def _period_months(terms: LoanTerms, schedule: Sequence[Instalment]) -> int:
    if terms.method is RepaymentMethod.BULLET:
        if len(schedule) != 1:
            raise ValueError(f"a bullet loan has one instalment, not {len(schedule)}")
        return terms.term_months
    return 1


def _context() -> AbstractContextManager[Context]:
    return localcontext(
        Context(prec=_PRECISION, rounding=ROUND_HALF_UP, Emax=MAX_EMAX, Emin=MIN_EMIN)
    )


def _round6(value: Decimal) -> Decimal:
    # Enough digits to hold the integer part too: quantize fails rather than lose digits.
    digits = max(_PRECISION, value.adjusted() + 10)
    context = Context(prec=digits, rounding=ROUND_HALF_UP, Emax=MAX_EMAX, Emin=MIN_EMIN)
    rounded = value.quantize(_SIX_PLACES, context=context)
    # A root a hair below zero (a loan repaid exactly, no cost) is 0, not "-0.000000".
    return rounded.copy_abs() if rounded.is_zero() else rounded


def _solve_log_rate(
    received: int, flows: Sequence[tuple[int, int]], *, fast_start: bool = False
) -> Decimal:
    """t such that ``Σ amount · e^(−t·time) = received``: the log of one plus the rate per
    time unit (a period or a day). Each flow is (time, amount): time a positive whole
    number of units, amount not negative; ``received > 0``.

    Call inside :func:`_context`. With amounts ≥ 0, the present value
    ``f(t) = Σ amount·e^(−t·time) − received`` is strictly decreasing and convex in t, so
    the root is unique and lies in a bracket known in advance (below). Each step takes a
    Newton step from the left end of the bracket (on a convex decreasing function it never
    overshoots the root) and a bisection step, so the bracket at least halves every time:
    deterministic and finite, however bad the start.
    """
    if received <= 0:
        raise ValueError(f"no sign change: the borrower received {received}, nothing to repay")
    merged: dict[int, int] = {}
    for time, amount in flows:
        if time <= 0:
            raise ValueError(f"cash flow at time {time}: times must be positive")
        if amount < 0:
            raise ValueError(f"cash flow of {amount}: repayments must not be negative")
        if amount:
            merged[time] = merged.get(time, 0) + amount
    if not merged:
        raise ValueError(
            "no sign change: the borrower never pays anything back, so the cost has no rate"
        )
    times = sorted(merged)
    amounts = [Decimal(merged[time]) for time in times]
    target = Decimal(received)
    first, last = times[0], times[-1]

    def value_and_slope(t: Decimal) -> tuple[Decimal, Decimal]:
        step = (-t).exp()
        factor = step**first
        previous = first
        value = Decimal(0)
        slope = Decimal(0)
        for time, amount in zip(times, amounts, strict=True):
            if time != previous:
                factor *= step ** (time - previous)
                previous = time
            term = amount * factor
            value += term
            slope -= term * time
        return value - target, slope

    # At the root the slope is at least received·first: f(lo) / that bounds root − lo.
    min_slope = target * first

    # Fast start: a root found in floating point, bracketed tightly and the bracket checked
    # exactly (f(lo) > 0 > f(hi)); then Newton steps from the left end, which on a convex
    # decreasing function never overshoot and converge quadratically. Ends on the same test
    # as the loop below. Any doubt (overflow, a bracket that does not hold, a step out of
    # it) falls through to the guaranteed loop.
    guess = _float_root(float(target), times, [float(a) for a in amounts]) if fast_start else None
    if guess is not None:
        width = Decimal(repr(1e-9 * max(1.0, abs(guess))))
        lo, hi = Decimal(repr(guess)) - width, Decimal(repr(guess)) + width
        f_lo, slope_lo = value_and_slope(lo)
        if f_lo > 0 and value_and_slope(hi)[0] < 0:
            tolerance = Decimal(10) ** (-(_PRECISION - 10)) * max(Decimal(1), abs(lo), abs(hi))
            for _ in range(_MAX_ITERATIONS):
                if f_lo / min_slope <= tolerance:
                    return lo
                newton = lo - f_lo / slope_lo
                if not lo < newton < hi:
                    break
                f_newton, slope_newton = value_and_slope(newton)
                if f_newton <= 0:
                    break
                lo, f_lo, slope_lo = newton, f_newton, slope_newton

    # Σ amount·e^(−t·time) lies between total·e^(−t·first) and total·e^(−t·last) (in one
    # order or the other, by the sign of t), so the root lies between ln(total/received)
    # divided by the last and by the first time.
    log_ratio = (sum(amounts) / target).ln()
    lo, hi = sorted((log_ratio / last, log_ratio / first))
    f_lo, slope_lo = value_and_slope(lo)
    if f_lo <= 0:
        return lo
    if value_and_slope(hi)[0] >= 0:
        return hi
    tolerance = Decimal(10) ** (-(_PRECISION - 10)) * max(Decimal(1), abs(lo), abs(hi))
    for _ in range(_MAX_ITERATIONS):
        if hi - lo <= tolerance or f_lo / min_slope <= tolerance:
            return lo
        # Newton from the left end stays left of the root (convexity), unless rounding...
        if slope_lo < 0:
            newton = lo - f_lo / slope_lo
            if lo < newton < hi:
                f_newton, slope_newton = value_and_slope(newton)
                if f_newton == 0:
                    return newton
                if f_newton > 0:
                    lo, f_lo, slope_lo = newton, f_newton, slope_newton
                else:  # ...puts it a hair past the root: then it is a right end.
                    hi = newton
        # ...and bisection halves whatever is left, so the loop always ends.
        middle = (lo + hi) / 2
        f_middle, slope_middle = value_and_slope(middle)
        if f_middle == 0:
            return middle
        if f_middle > 0:
            lo, f_lo, slope_lo = middle, f_middle, slope_middle
        else:
            hi = middle
    return lo  # pragma: no cover - the bracket halves every step, far below tolerance by now


def _float_root(received: float, times: list[int], amounts: list[float]) -> float | None:
    """A floating-point root t of ``Σ amount·e^(−t·time) = received`` by Newton's method, or
    None when floating point cannot find one safely (overflow, no convergence)."""
    total = sum(amounts)
    try:
        t = math.log(total / received) / times[-1]  # the left end of the bracket below
        for _ in range(60):
            value = -received
            slope = 0.0
            for time, amount in zip(times, amounts, strict=True):
                term = amount * math.exp(-t * time)
                value += term
                slope -= term * time
            if slope >= 0 or not math.isfinite(value):
                return None
            step = value / slope
            t -= step
            if abs(step) <= 1e-15 * max(1.0, abs(t)):
                return t
    except (OverflowError, ValueError, ZeroDivisionError):
        return None
    return None
