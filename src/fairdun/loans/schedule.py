"""The contractual repayment schedule of a loan, exact to the minor unit (分).

Conventions, and why:

* **Due dates.** Instalment *k* (1..n) falls due ``add_months(start_date, k)``: the start
  date's day of the month, clamped to the last day of a shorter month. Each date is computed
  from the start date, never from the previous due date, so a loan started on 31 January is
  due on 28/29 February, 31 March, 30 April... and not on the 28th for ever after.
* **Rates.** The monthly rate is ``annual_rate / 12``.
* **Rounding.** Every amount is rounded once, to a whole minor unit, half up (四舍五入), by
  :func:`round_minor`. The arithmetic before that rounding is exact: rates are turned into
  :class:`fractions.Fraction` (a ``Decimal`` converts exactly), so there is no working
  precision to choose and no rounding of intermediate results. A fixed-precision ``Decimal``
  (even at 40 digits) can land just under an exact half and round it down: 57.00 CNY at 32%
  over 2 months has an equal instalment of exactly 29.645, which must be 29.65.
* **Methods.**

  - ``EQUAL_INSTALMENT`` (等额本息): the level payment
    ``A = round(P·r·(1+r)^n / ((1+r)^n − 1))`` (``round(P/n)`` when r = 0). Before the last
    instalment the interest is ``round(outstanding·r)`` and the principal ``A − interest``;
    the last instalment repays the whole remaining outstanding, which absorbs the rounding,
    plus ``round(outstanding·r)``. Because A is rounded, a tiny loan can be repaid before
    its last instalment (0.02 over 4 months at 0% gives A = 0.01), so the principal taken
    is never more than the outstanding: no amount is ever negative, and instalments after
    the loan is repaid are zero. :func:`build_schedule` bounds how far the last instalment
    can drift from A.
  - ``EQUAL_PRINCIPAL`` (等额本金): principal ``P // n`` (the last instalment takes the
    remainder), interest ``round(outstanding·r)``.
  - ``INTEREST_ONLY`` (先息后本): interest ``round(P·r)`` each month, the whole principal with
    the last instalment.
  - ``BULLET`` (到期一次还本付息): one instalment after n months: the principal and simple
    interest ``round(P·r·n)``.

* **Fees.** ``terms.periodic_fee`` is added to every instalment (to the single one of a bullet
  loan). The upfront fee is not in the schedule: it is deducted at disbursement, and the APR
  module counts it there.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from fractions import Fraction

from fairdun.loans.terms import Instalment, LoanTerms, RepaymentMethod

__all__ = [
    "add_months",
    "build_schedule",
    "equal_instalment_payment",
    "monthly_rate",
    "round_minor",
    "scheduled_outstanding",
]


def add_months(d: date, months: int) -> date:
    """``d`` moved by ``months`` calendar months (may be negative), keeping the day of the
    month, clamped to the last day of the target month (Jan 31 + 1 → Feb 28 or 29)."""
    index = d.year * 12 + (d.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def round_minor(amount: Fraction | Decimal | int) -> int:
    """The one rounding rule of the ledger: to the nearest whole minor unit, halves away from
    zero (ROUND_HALF_UP, 四舍五入). Exact for any ``Fraction``, ``Decimal`` or ``int``."""
    value = Fraction(amount)
    num, den = abs(value.numerator), value.denominator
    rounded = (2 * num + den) // (2 * den)
    return rounded if value >= 0 else -rounded


def monthly_rate(annual_rate: Decimal) -> Fraction:
    """``annual_rate / 12``, exactly."""
    return Fraction(annual_rate) / 12


def equal_instalment_payment(principal: int, annual_rate: Decimal, term_months: int) -> int:
    """The level payment A of an equal-instalment (等额本息) loan, rounded half up:
    ``P·r·(1+r)^n / ((1+r)^n − 1)`` with ``r = annual_rate / 12``, or ``P / n`` when r = 0."""
    if term_months < 1:
        raise ValueError("term_months must be at least 1")
    return round_minor(_exact_payment(principal, monthly_rate(annual_rate), term_months))


def _exact_payment(principal: int, rate: Fraction, term_months: int) -> Fraction:
    if rate == 0:
        return Fraction(principal, term_months)
    growth = (1 + rate) ** term_months
    return principal * rate * growth / (growth - 1)


def build_schedule(terms: LoanTerms) -> tuple[Instalment, ...]:
    """The contractual schedule of ``terms`` (see the module docstring for the rules).

    Guarantees, for every valid ``LoanTerms``: the principal parts sum to the principal
    exactly; no amount is negative; n instalments (one for a bullet loan) with strictly
    increasing due dates; each interest is at most ``outstanding·r + ½`` (bullet:
    ``P·r·n + ½``).

    Equal instalment: principal + interest is A in every instalment but the last, until the
    loan is repaid (then zero; the fee comes on top). Write ``δ = A − A*`` for the rounding
    of the exact annuity A* and ``e_k = interest_k − outstanding_k·r`` for the rounding of
    each interest. Then, unless the loan is repaid early, the last one is exactly
    ``T_n = A + Σ_{k=1..n} (e_k − δ)·(1+r)^(n−k)``: the payment's rounding error is repaid
    with interest. So ``|T_n − A| ≤ (|δ| + ½)·((1+r)^n − 1)/r ≤ ((1+r)^n − 1)/r`` (for r = 0,
    ``T_n − A = −n·δ``, at most n/2); the bound also holds when the loan is repaid early.
    It is not "n minor units": 537,426.05 CNY at 24% over 240 months ends 17.55 CNY short
    of A. The drift is a few minor units for short, cheap loans and grows with (1+r)^n.
    """
    principal = terms.principal
    n = terms.term_months
    rate = monthly_rate(terms.annual_rate)
    fee = terms.periodic_fee
    start = terms.start_date

    if terms.method is RepaymentMethod.BULLET:
        interest = round_minor(principal * rate * n)
        return (Instalment(1, add_months(start, n), principal, interest, fee),)

    parts: list[tuple[int, int]] = []  # (principal, interest) per instalment
    outstanding = principal
    # round_minor(outstanding * rate) in integers: rate = rate_num / rate_den, both > 0, and
    # outstanding >= 0, so half up is (2·x·num + den) // (2·den). Same result, no Fraction.
    rate_num, rate_den = rate.numerator, rate.denominator
    twice_den = 2 * rate_den
    if terms.method is RepaymentMethod.EQUAL_INSTALMENT:
        payment = round_minor(_exact_payment(principal, rate, n))
        for _ in range(n - 1):
            interest = (2 * outstanding * rate_num + rate_den) // twice_den
            # interest ≤ payment always (A* ≥ P·r ≥ outstanding·r and rounding is monotone),
            # but a rounded-up A can repay the loan early: never take more than is owed.
            part = min(payment - interest, outstanding)
            parts.append((part, interest))
            outstanding -= part
    elif terms.method is RepaymentMethod.EQUAL_PRINCIPAL:
        part = principal // n
        for _ in range(n - 1):
            parts.append((part, (2 * outstanding * rate_num + rate_den) // twice_den))
            outstanding -= part
    elif terms.method is RepaymentMethod.INTEREST_ONLY:
        interest = round_minor(principal * rate)
        parts.extend((0, interest) for _ in range(n - 1))
    else:  # pragma: no cover - LoanTerms validates the method
        raise ValueError(f"unknown repayment method {terms.method!r}")
    parts.append((outstanding, (2 * outstanding * rate_num + rate_den) // twice_den))

    return tuple(
        Instalment(k, add_months(start, k), part, interest, fee)
        for k, (part, interest) in enumerate(parts, start=1)
    )


def scheduled_outstanding(schedule: Sequence[Instalment]) -> tuple[int, ...]:
    """The principal outstanding at the start of each instalment's period: the whole principal
    (the sum of the principal parts) for the first, less each earlier instalment's principal
    for the others. Interest reduction on prepayment and the rate caps are measured on it."""
    remaining = sum(instalment.principal for instalment in schedule)
    result: list[int] = []
    for instalment in schedule:
        result.append(remaining)
        remaining -= instalment.principal
    return tuple(result)
