"""Replay of a loan's ledger: the state of a loan at the end of a given day.

``replay(inp, as_of)`` recomputes everything from scratch from the schedule and the
payments, so there is no stored balance to drift: a back-dated payment is just a payment
with an earlier date, and a reversed payment is left out as if it had never been recorded.
The function is pure (no clock, no database) and deterministic; payments are processed in
``(paid_date, id)`` order whatever order the input lists them in.

Conventions: money is an ``int`` count of minor units, rates are ``Decimal``; "day ``d``"
means the calendar day, and the state "at the end of day ``d``" includes every payment
dated ``d``. Intervals written ``(a, b]`` exclude ``a`` and include ``b``.

The rules below are product decisions. Each one is tested in ``tests/loans/test_ledger*.py``.

1. **Allocation.** A payment dated ``d`` pays the instalments that are due
   (``due_date <= d``) *oldest instalment first*, settling each completely before the next;
   inside one instalment it pays the components in ``ProductRules.waterfall`` order
   (default penalty, fees, interest, principal). Several payments on one day are applied
   one after the other, which gives the same result as one payment of their sum.

2. **Money beyond what is due.** Money left once every due instalment is settled
   (nothing, penalty included, is unpaid on an instalment with ``due_date <= d``) is
   applied as follows. The *current* instalment is the first one not yet due
   (``due_date > d``): its period has started, so its whole amount is owed by its due
   date, whenever it is paid. (With no instalment still to fall due, every instalment is
   settled: the loan is paid off and all the money left is ``credit``.)

   a. **Current instalment.** The money first settles the current instalment completely,
      in ``ProductRules.waterfall`` order (it has no penalty yet). Its interest is its
      ``interest_due``: the scheduled interest, reduced only by prepayments made before its
      period started, never prorated to the payment date. Several early payments that add
      up to it settle it, a borrower who pays an instalment a few days early is not past
      due when it falls due, and paying the last instalment (or a bullet loan) early costs
      exactly its amount: nothing of the period under way is refunded.

   b. **Prepayment.** Anything still left pays *principal* of the instalments after the
      current one, starting from the last instalment and working backwards, so the term
      shortens. The interest of every instalment ``k`` after the current one is then
      reduced in proportion to the principal still outstanding during its period::

          interest_k' = round_half_up(interest_k * outstanding_k' / outstanding_k)

      where ``interest_k`` is the scheduled interest, ``outstanding_k`` the scheduled
      principal of instalments ``k..n`` (the principal outstanding at the start of period
      ``k``) and ``outstanding_k'`` the part of it still unpaid. An instalment left with
      nothing outstanding in its period is dropped: its interest and fee are waived. The
      current instalment, settled in (a), is never repriced.

   c. **Closing.** Once the current instalment is settled and no principal is unpaid on
      the instalments after it ((b) repaid it all, or there was none), none of them has
      anything outstanding in its period: their interest and fees are waived (this also
      drops instalments that carry only interest or fees after the last principal,
      possible in odd schedules), the loan is paid off, and money beyond that becomes
      ``credit``.

   Paying ahead therefore settles the period under way in full and then is a *principal
   prepayment* that shortens the term and saves the interest of future periods; it is not
   a pre-payment of future instalments. Money worth two instalments, paid early, settles
   the current one and repays principal from the last one: the next instalment still falls
   due, for its (reduced) amount. An instalment's interest and fee are fixed once its
   period starts (the due date of the instalment before it, or the start date). Credit is
   held for the borrower: never lost, never negative.

   *Example* (amounts in minor units). 300_000 lent on 2023-12-01 in three instalments of
   100_000 principal due on the 1st of January, February and March, with interest 3_000,
   2_000 and 1_000. Instalment 1 is paid on Jan 1. On Jan 10 the payoff amount is
   202_000: instalment 2's interest (its period has started) and the 200_000 of principal
   left; instalment 3's interest is not charged. A payment of 150_000 that day settles
   instalment 2 (102_000) and repays 48_000 of instalment 3's principal, whose interest
   becomes ``round_half_up(1_000 * 52_000 / 100_000) = 520``; the payoff amount is then
   52_000, and paying it on Jan 20 closes the loan for 202_000 in all, as one payment of
   202_000 on Jan 10 would. A borrower who instead pays instalment 2 on Feb 1 and
   instalment 3's 101_000 on Feb 28, two days early, closes the loan with no credit: the
   1_000 of interest of the period under way is owed.

3. **Penalty interest (罚息).** For each calendar day ``d`` after an instalment's due
   date, the instalment's principal that was unpaid at the *start* of day ``d`` bears
   ``penalty_daily_rate``. A payment made ``N`` days after the due date therefore bears
   ``N`` days of penalty on the principal it clears, and a payment on the due date bears
   none. Days covered by a ``Pause`` and days after ``charged_off_date`` accrue nothing.
   Accrual is exact: each instalment keeps an integer count of principal-days; its
   penalty is ``round_half_up(rate * principal_days)``, posted (made payable) before the
   payments of each payment date and at ``as_of``. The total penalty ever posted on the
   loan never exceeds ``floor(penalty_cap_ratio * terms.principal)``; when a posting would
   exceed it, instalments are served oldest first and the rest is not charged.

   *Guarantee:* the loan's total penalty is always
   ``min(cap, sum_i round_half_up(rate * principal_days_i))``, whatever the number and
   dates of posting events. While that sum stays within the cap, each instalment's
   penalty is exactly ``round_half_up(rate * principal_days_i)``: an extra event that
   does not change the unpaid principal (for instance a payment that only pays penalty)
   changes no instalment's penalty at all (difference 0, not merely one rounding unit).
   Only when the cap binds can the *split* of the capped total between instalments depend
   on the posting dates.

4. **Days past due** on day ``d``: take the oldest instalment with ``due_date < d`` whose
   unpaid principal + interest + fee at the end of day ``d`` exceeds
   ``ProductRules.tolerance`` (penalty does not count toward the tolerance test). Days past
   due is the number of days in ``(due_date, d]`` not covered by any pause; with no such
   instalment it is 0. On its due date an instalment is not past due. Days past due keeps
   counting after charge-off.

5. **Buckets.** ``bucket_for(dpd, rules.buckets)`` for every day from ``start_date`` to
   ``as_of``; ``history`` holds spells of consecutive days in one bucket (``entered`` the
   first day, ``left`` the first day after it, None for the current spell).
   ``dpd_points`` holds the first and last day and every day where the line bends: where
   the change from the day before differs from the change to the day after (the start
   and end of a flat stretch, the peak before a cure, the first day of a climb). Joining
   the points with straight lines redraws dpd exactly, day for day, and a loan current
   for years has two points, not one a day.

6. **Status.** ``paid_off`` when nothing remains owing (every instalment settled,
   penalty included; ``paid_off_date`` is the date of the payment that settled the last
   one); else ``charged_off`` when ``charged_off_date <= as_of`` (payments after charge-off
   are still allocated: they are recoveries); else ``delinquent`` when dpd > 0; else
   ``current``.

7. **Validation.** ``LedgerError`` (a ``ValueError`` naming the field) when: the schedule
   is empty, not in strictly increasing due-date order, has a due date on or before
   ``start_date``, a negative amount, or principal parts not summing to
   ``terms.principal``; a payment amount is <= 0, a payment is dated before
   ``start_date``, or two payments share an id (reversed payments and payments after
   ``as_of`` are validated too, so validity never depends on ``as_of``); a pause ends
   before it starts or two pauses share a day; ``charged_off_date`` or ``as_of`` is before
   ``start_date``.

Amounts on the state: "overdue" means unpaid on an instalment whose due date is before
``as_of`` (past due, whether or not within tolerance); ``payoff_amount`` is what a payment
dated ``as_of`` must bring to close the loan: everything unpaid (principal, interest, fees
and penalty) on the instalments due on or before ``as_of``, the unpaid interest and fee of
the current instalment, and the unpaid principal of every instalment not yet due.
Prepayment settles the current period in full; the interest and fees of future periods
are not charged. A payment of ``payoff_amount`` settles the due instalments (rule 1) and
the current one (2a), and repays exactly the principal left (2b), so the loan closes (2c)
with no credit. Split into two payments within one period it costs the same: once the
first has paid at least what is due (so no penalty accrues after it), the payoff amount
falls by exactly what it brought.

Cost: O(days + payments x instalments + pauses) for days from ``start_date`` to ``as_of``.
A loan with no event (no payment, pause or charge-off: every loan an import books) takes a
closed form instead, O(instalments + buckets) whatever its age: with nothing paid, the
oldest instalment unpaid beyond tolerance never changes, so days past due is a straight
line from its due date and the penalty of each instalment is its principal times the days
since it fell due. It gives exactly what the day-by-day walk gives (property-tested in
``tests/loans/test_ledger_properties.py``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from fairdun.loans.terms import (
    Component,
    Instalment,
    LedgerInput,
    Pause,
    Payment,
    bucket_changes,
    bucket_for,
)

__all__ = [
    "BucketSpell",
    "InstalmentState",
    "LedgerError",
    "LedgerState",
    "LoanStatus",
    "replay",
]


class LedgerError(ValueError):
    """The ledger input is unusable; ``field`` names the offending field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class LoanStatus(StrEnum):
    CURRENT = "current"
    DELINQUENT = "delinquent"
    PAID_OFF = "paid_off"
    CHARGED_OFF = "charged_off"


@dataclass(frozen=True)
class InstalmentState:
    """One instalment as of the end of ``as_of``.

    ``interest_due`` and ``fee_due`` are after any prepayment reduction or closing waiver
    (rule 2), so they can be below the schedule's figures for instalments whose period had
    not started when the principal was prepaid; ``principal_due`` is always the scheduled
    principal (prepaid principal shows as ``principal_paid``).
    """

    number: int
    due_date: date
    principal_due: int
    interest_due: int
    fee_due: int
    principal_paid: int
    interest_paid: int
    fee_paid: int
    penalty_accrued: int
    penalty_paid: int
    settled_date: date | None

    @property
    def principal_unpaid(self) -> int:
        return self.principal_due - self.principal_paid

    @property
    def interest_unpaid(self) -> int:
        return self.interest_due - self.interest_paid

    @property
    def fee_unpaid(self) -> int:
        return self.fee_due - self.fee_paid

    @property
    def penalty_unpaid(self) -> int:
        return self.penalty_accrued - self.penalty_paid

    @property
    def amount_unpaid(self) -> int:
        """Unpaid principal + interest + fee: what the tolerance test looks at."""
        return self.principal_unpaid + self.interest_unpaid + self.fee_unpaid

    @property
    def total_unpaid(self) -> int:
        """Everything unpaid on this instalment, penalty included."""
        return self.amount_unpaid + self.penalty_unpaid

    @property
    def settled(self) -> bool:
        return self.settled_date is not None


@dataclass(frozen=True)
class BucketSpell:
    """Consecutive days in one bucket: from ``entered`` up to but excluding ``left``."""

    bucket: str
    entered: date
    left: date | None


@dataclass(frozen=True)
class LedgerState:
    """The loan at the end of day ``as_of``. See the module docstring for the rules."""

    as_of: date
    instalments: tuple[InstalmentState, ...]
    status: LoanStatus
    days_past_due: int
    bucket: str
    paused: bool
    outstanding_principal: int
    overdue_principal: int
    overdue_interest: int
    overdue_fees: int
    penalty_outstanding: int
    amount_past_due: int
    payoff_amount: int
    credit: int
    total_paid: int
    history: tuple[BucketSpell, ...]
    dpd_points: tuple[tuple[date, int], ...]
    paid_off_date: date | None
    worst_days_past_due: int


# --------------------------------------------------------------------------- working state


class _Line:
    """Mutable working copy of one instalment during a replay (never leaves this module)."""

    __slots__ = (
        "due_date",
        "fee_due",
        "fee_paid",
        "interest_due",
        "interest_paid",
        "number",
        "penalty_accrued",
        "penalty_paid",
        "principal_days",
        "principal_due",
        "principal_paid",
        "scheduled_interest",
        "scheduled_outstanding",
        "settled_date",
    )

    def __init__(self, instalment: Instalment, scheduled_outstanding: int) -> None:
        self.number = instalment.number
        self.due_date = instalment.due_date
        self.principal_due = instalment.principal
        self.scheduled_interest = instalment.interest
        self.interest_due = instalment.interest
        self.fee_due = instalment.fee
        # Scheduled principal of this instalment and all later ones: the principal
        # outstanding at the start of this instalment's period (rule 2).
        self.scheduled_outstanding = scheduled_outstanding
        self.principal_paid = 0
        self.interest_paid = 0
        self.fee_paid = 0
        # Sum over late days of the principal unpaid that day: the exact penalty basis.
        self.principal_days = 0
        self.penalty_accrued = 0
        self.penalty_paid = 0
        self.settled_date: date | None = None

    @property
    def principal_unpaid(self) -> int:
        return self.principal_due - self.principal_paid

    @property
    def amount_unpaid(self) -> int:
        return (
            self.principal_due
            - self.principal_paid
            + self.interest_due
            - self.interest_paid
            + self.fee_due
            - self.fee_paid
        )

    @property
    def total_unpaid(self) -> int:
        return self.amount_unpaid + self.penalty_accrued - self.penalty_paid

    def unpaid(self, component: Component) -> int:
        match component:
            case Component.PENALTY:
                return self.penalty_accrued - self.penalty_paid
            case Component.FEES:
                return self.fee_due - self.fee_paid
            case Component.INTEREST:
                return self.interest_due - self.interest_paid
            case Component.PRINCIPAL:
                return self.principal_due - self.principal_paid

    def pay(self, component: Component, amount: int) -> None:
        match component:
            case Component.PENALTY:
                self.penalty_paid += amount
            case Component.FEES:
                self.fee_paid += amount
            case Component.INTEREST:
                self.interest_paid += amount
            case Component.PRINCIPAL:
                self.principal_paid += amount

    def freeze(self) -> InstalmentState:
        return InstalmentState(
            number=self.number,
            due_date=self.due_date,
            principal_due=self.principal_due,
            interest_due=self.interest_due,
            fee_due=self.fee_due,
            principal_paid=self.principal_paid,
            interest_paid=self.interest_paid,
            fee_paid=self.fee_paid,
            penalty_accrued=self.penalty_accrued,
            penalty_paid=self.penalty_paid,
            settled_date=self.settled_date,
        )


def _round_half_up_ratio(numerator: int, denominator: int) -> int:
    """round_half_up(numerator / denominator) for numerator >= 0, denominator > 0, exactly."""
    return (2 * numerator + denominator) // (2 * denominator)


# --------------------------------------------------------------------------- validation


def _validate(inp: LedgerInput, as_of: date) -> None:
    start = inp.terms.start_date
    if as_of < start:
        raise LedgerError("as_of", f"{as_of} is before the loan's start date {start}")
    if inp.charged_off_date is not None and inp.charged_off_date < start:
        raise LedgerError(
            "charged_off_date", f"{inp.charged_off_date} is before the start date {start}"
        )
    _validate_schedule(inp)
    seen: set[int] = set()
    for i, payment in enumerate(inp.payments):
        if payment.amount <= 0:
            raise LedgerError(f"payments[{i}].amount", f"must be positive, not {payment.amount}")
        if payment.paid_date < start:
            raise LedgerError(
                f"payments[{i}].paid_date",
                f"{payment.paid_date} is before the loan's start date {start}",
            )
        if payment.id in seen:
            raise LedgerError(f"payments[{i}].id", f"payment id {payment.id} is not unique")
        seen.add(payment.id)
    _validate_pauses(inp.pauses)


def _validate_schedule(inp: LedgerInput) -> None:
    schedule = inp.schedule
    if not schedule:
        raise LedgerError("schedule", "must have at least one instalment")
    previous = inp.terms.start_date
    for i, instalment in enumerate(schedule):
        if instalment.due_date <= previous:
            what = "the start date" if i == 0 else "the previous due date"
            raise LedgerError(
                f"schedule[{i}].due_date",
                f"{instalment.due_date} is not after {what} {previous}: "
                "instalments must be in strictly increasing due-date order",
            )
        previous = instalment.due_date
        for name in ("principal", "interest", "fee"):
            if getattr(instalment, name) < 0:
                raise LedgerError(f"schedule[{i}].{name}", "must not be negative")
    total = sum(instalment.principal for instalment in schedule)
    if total != inp.terms.principal:
        raise LedgerError(
            "schedule",
            f"principal parts sum to {total}, not the loan's principal {inp.terms.principal}",
        )


def _validate_pauses(pauses: tuple[Pause, ...]) -> None:
    for i, pause in enumerate(pauses):
        if pause.end is not None and pause.end < pause.start:
            raise LedgerError(f"pauses[{i}].end", f"{pause.end} is before start {pause.start}")
    # An empty pause (end == start) covers no day, so it cannot overlap anything.
    real = sorted((p for p in pauses if p.end is None or p.end > p.start), key=lambda p: p.start)
    for left, right in itertools.pairwise(real):
        if left.end is None or left.end > right.start:
            raise LedgerError(
                "pauses", f"pause from {left.start} overlaps pause from {right.start}"
            )


# --------------------------------------------------------------------------- replay


class _Calendar:
    """Counts days not covered by a pause, in O(1) per query after an O(days) set-up.

    ``_unpaused[i]`` is the number of unpaused days among ``start + 0 .. start + i - 1``.
    """

    def __init__(self, start: date, end: date, pauses: tuple[Pause, ...]) -> None:
        self.start = start
        days = (end - start).days + 1
        ordered = sorted(
            (p for p in pauses if p.end is None or p.end > p.start), key=lambda p: p.start
        )
        counts = [0] * (days + 1)
        k = 0  # pauses do not overlap (validated), so one pointer walks them in order
        for offset in range(days):
            day = start + timedelta(days=offset)
            while k < len(ordered) and not _ends_after(ordered[k], day):
                k += 1
            paused = k < len(ordered) and ordered[k].covers(day)
            counts[offset + 1] = counts[offset] + (0 if paused else 1)
        self._unpaused = counts

    def unpaused_between(self, after: date, through: date) -> int:
        """Unpaused days in ``(after, through]``; both within ``[start, end]``."""
        if through <= after:
            return 0
        return (
            self._unpaused[(through - self.start).days + 1]
            - self._unpaused[(after - self.start).days + 1]
        )


def _ends_after(pause: Pause, day: date) -> bool:
    return pause.end is None or pause.end > day


def replay(inp: LedgerInput, as_of: date) -> LedgerState:
    """The loan's state at the end of day ``as_of``, recomputed from scratch.

    Raises ``LedgerError`` if the input is invalid (rule 7 of the module docstring).
    """
    _validate(inp, as_of)
    if not inp.payments and not inp.pauses and inp.charged_off_date is None:
        return _untouched(inp, as_of)
    return _replay_by_day(inp, as_of)


def _replay_by_day(inp: LedgerInput, as_of: date) -> LedgerState:
    """The general replay (any events), walking the days; the input is validated."""
    rules = inp.rules
    start = inp.terms.start_date
    calendar = _Calendar(start, as_of, inp.pauses)
    # Exact integer ratios, so no Decimal context precision can round the arithmetic.
    rate = rules.penalty_daily_rate.as_integer_ratio()
    cap_num, cap_den = rules.penalty_cap_ratio.as_integer_ratio()
    # Floor, so that rounding can never take the total penalty above the ratio.
    penalty_cap = inp.terms.principal * cap_num // cap_den
    accrual_end = as_of
    if inp.charged_off_date is not None:
        accrual_end = min(accrual_end, inp.charged_off_date)

    lines = _lines(inp.schedule)
    for line in lines:
        if line.total_unpaid == 0:
            # Owes nothing from the outset (possible for tiny 0% loans): settled from day one.
            line.settled_date = start

    payments = sorted(
        (p for p in inp.payments if not p.reversed and p.paid_date <= as_of),
        key=lambda p: (p.paid_date, p.id),
    )
    credit = 0
    # (first day, due date of the oldest instalment unpaid beyond tolerance or None):
    # the only input that days past due needs, and it changes only on payment dates.
    frontier: list[tuple[date, date | None]] = [(start, _oldest_unpaid(lines, rules.tolerance))]
    accrued_through = start
    for day, group in itertools.groupby(payments, key=lambda p: p.paid_date):
        # Penalty for day `day` is on the balance before that day's payments (rule 3).
        _accrue(lines, calendar, accrued_through, min(day, accrual_end))
        accrued_through = max(accrued_through, min(day, accrual_end))
        _post_penalty(lines, rate, penalty_cap)
        for payment in group:
            credit += _allocate(lines, payment, rules.waterfall)
        frontier.append((day, _oldest_unpaid(lines, rules.tolerance)))
    _accrue(lines, calendar, accrued_through, accrual_end)
    _post_penalty(lines, rate, penalty_cap)

    return _state(inp, as_of, lines, calendar, frontier, credit, payments)


def _lines(schedule: tuple[Instalment, ...]) -> list[_Line]:
    remaining = sum(instalment.principal for instalment in schedule)
    lines = []
    for instalment in schedule:
        lines.append(_Line(instalment, remaining))
        remaining -= instalment.principal
    return lines


def _oldest_unpaid(lines: list[_Line], tolerance: int) -> date | None:
    for line in lines:
        if line.amount_unpaid > tolerance:
            return line.due_date
    return None


def _accrue(lines: list[_Line], calendar: _Calendar, after: date, through: date) -> None:
    """Add principal-days for the days in ``(after, through]`` at the current balances."""
    if through <= after:
        return
    for line in lines:
        if line.due_date >= through:
            break  # this and all later instalments are not yet past due
        unpaid = line.principal_unpaid
        if unpaid:
            days = calendar.unpaused_between(max(after, line.due_date), through)
            line.principal_days += unpaid * days


def _post_penalty(lines: list[_Line], rate: tuple[int, int], cap: int) -> None:
    """Make accrued penalty payable: each instalment's penalty becomes the rounded exact
    accrual, within what is left of the loan's cap, oldest instalment first."""
    rate_num, rate_den = rate
    headroom = cap - sum(line.penalty_accrued for line in lines)
    for line in lines:
        if headroom <= 0:
            return
        target = _round_half_up_ratio(line.principal_days * rate_num, rate_den)
        add = min(max(0, target - line.penalty_accrued), headroom)
        line.penalty_accrued += add
        headroom -= add


def _allocate(lines: list[_Line], payment: Payment, waterfall: tuple[Component, ...]) -> int:
    """Apply one payment (rules 1 and 2); returns the part that becomes credit."""
    day = payment.paid_date
    left = payment.amount
    # Index of the current instalment: the first one not yet due (len(lines) if none).
    current = next((i for i, line in enumerate(lines) if line.due_date > day), len(lines))
    for line in lines[:current]:  # rule 1: due instalments, oldest first
        left = _settle(line, left, waterfall)
    if current < len(lines) and all(line.total_unpaid == 0 for line in lines[:current]):
        left = _settle(lines[current], left, waterfall)  # rule 2a
        if lines[current].total_unpaid == 0:
            left = _prepay(lines[current + 1 :], left)  # rules 2b and 2c
    for line in lines:
        if line.settled_date is None and line.total_unpaid == 0:
            line.settled_date = day
    return left


def _settle(line: _Line, left: int, waterfall: tuple[Component, ...]) -> int:
    """Pay what ``left`` allows of one instalment, in waterfall order; returns the rest."""
    for component in waterfall:
        share = min(left, line.unpaid(component))
        if share:
            line.pay(component, share)
            left -= share
    return left


def _prepay(after: list[_Line], amount: int) -> int:
    """Pay ``amount`` of principal of the instalments after the current one, from the last
    backwards, and reduce their interest (rule 2b). If no principal is left unpaid on them,
    waive their interest and fees: the loan is closed (rule 2c). Returns what is left of
    ``amount`` (credit; 0 unless the loan is closed).

    Nothing but principal is ever paid on these instalments (their periods have not
    started), so lowering their interest and fees never goes below what was paid."""
    for line in reversed(after):
        share = min(amount, line.principal_unpaid)
        line.principal_paid += share
        amount -= share
        if amount == 0:
            break
    if all(line.principal_unpaid == 0 for line in after):
        for line in after:  # rule 2c: nothing outstanding in any of their periods
            line.interest_due = 0
            line.fee_due = 0
        return amount
    outstanding = 0  # unpaid principal of this instalment and all later ones
    for line in reversed(after):
        outstanding += line.principal_unpaid
        if line.scheduled_outstanding == 0:
            continue  # no principal in the schedule for this period: interest not tied to it
        if outstanding == 0:
            # Nothing left outstanding during this period: the instalment disappears.
            line.interest_due = 0
            line.fee_due = 0
        else:
            line.interest_due = _round_half_up_ratio(
                line.scheduled_interest * outstanding, line.scheduled_outstanding
            )
    return amount


def _state(
    inp: LedgerInput,
    as_of: date,
    lines: list[_Line],
    calendar: _Calendar,
    frontier: list[tuple[date, date | None]],
    credit: int,
    payments: list[Payment],
) -> LedgerState:
    rules = inp.rules
    start = inp.terms.start_date

    # Day-by-day walk for days past due, buckets and the dpd line (rules 4 and 5).
    n_days = (as_of - start).days + 1
    daily = [0] * n_days
    oldest_due: date | None = None
    f = 0
    for offset in range(n_days):
        day = start + timedelta(days=offset)
        while f < len(frontier) and frontier[f][0] <= day:
            oldest_due = frontier[f][1]
            f += 1
        if oldest_due is not None and oldest_due < day:
            daily[offset] = calendar.unpaused_between(oldest_due, day)

    history: list[BucketSpell] = []
    points: list[tuple[date, int]] = []
    spell_bucket = bucket_for(daily[0], rules.buckets)
    spell_entered = start
    for offset, dpd in enumerate(daily):
        day = start + timedelta(days=offset)
        # Keep the ends and every day where the line bends (rule 5).
        if offset in (0, n_days - 1) or dpd - daily[offset - 1] != daily[offset + 1] - dpd:
            points.append((day, dpd))
        bucket = bucket_for(dpd, rules.buckets)
        if bucket != spell_bucket:
            history.append(BucketSpell(spell_bucket, spell_entered, day))
            spell_bucket, spell_entered = bucket, day
    history.append(BucketSpell(spell_bucket, spell_entered, None))
    dpd = daily[-1]
    worst = max(daily)

    instalments = tuple(line.freeze() for line in lines)
    overdue = [s for s in instalments if s.due_date < as_of]
    due = [s for s in instalments if s.due_date <= as_of]
    overdue_principal = sum(s.principal_unpaid for s in overdue)
    overdue_interest = sum(s.interest_unpaid for s in overdue)
    overdue_fees = sum(s.fee_unpaid for s in overdue)
    penalty_outstanding = sum(s.penalty_unpaid for s in instalments)
    outstanding_principal = sum(s.principal_unpaid for s in instalments)
    # The period under way is owed in full (rule 2a); later periods' interest and fees are
    # not charged (rule 2c). Not-yet-due instalments have no penalty.
    not_due = instalments[len(due) :]
    current_charges = not_due[0].interest_unpaid + not_due[0].fee_unpaid if not_due else 0
    payoff = (
        sum(s.total_unpaid for s in due)
        + current_charges
        + sum(s.principal_unpaid for s in not_due)
    )

    paid_off = all(s.total_unpaid == 0 for s in instalments)
    settled_dates = [s.settled_date for s in instalments if s.settled_date is not None]
    paid_off_date = max(settled_dates) if paid_off else None
    if paid_off:
        status = LoanStatus.PAID_OFF
    elif inp.charged_off_date is not None and inp.charged_off_date <= as_of:
        status = LoanStatus.CHARGED_OFF
    elif dpd > 0:
        status = LoanStatus.DELINQUENT
    else:
        status = LoanStatus.CURRENT

    return LedgerState(
        as_of=as_of,
        instalments=instalments,
        status=status,
        days_past_due=dpd,
        bucket=spell_bucket,
        paused=any(p.covers(as_of) for p in inp.pauses),
        outstanding_principal=outstanding_principal,
        overdue_principal=overdue_principal,
        overdue_interest=overdue_interest,
        overdue_fees=overdue_fees,
        penalty_outstanding=penalty_outstanding,
        amount_past_due=overdue_principal + overdue_interest + overdue_fees + penalty_outstanding,
        payoff_amount=payoff,
        credit=credit,
        total_paid=sum(p.amount for p in payments),
        history=tuple(history),
        dpd_points=tuple(points),
        paid_off_date=paid_off_date,
        worst_days_past_due=worst,
    )


def _untouched(inp: LedgerInput, as_of: date) -> LedgerState:
    """The state of a loan with no payment, pause or charge-off, in closed form.

    Nothing is ever paid, so the oldest instalment unpaid beyond tolerance is the first
    one whose amount exceeds it, all along: days past due is 0 up to its due date ``u``
    and ``d - u`` after (rule 4); the buckets change only where dpd crosses a bucket's
    bound (rule 5); each instalment past due has borne penalty on its whole principal for
    every day since its due date, posted once at ``as_of`` within the cap, oldest first
    (rule 3). The same values as ``_replay_by_day`` on the same input.
    """
    rules = inp.rules
    terms = inp.terms
    start = terms.start_date
    tolerance = rules.tolerance
    oldest: date | None = None
    for instalment in inp.schedule:
        if instalment.principal + instalment.interest + instalment.fee > tolerance:
            oldest = instalment.due_date
            break
    dpd = (as_of - oldest).days if oldest is not None and oldest < as_of else 0

    rate_num, rate_den = rules.penalty_daily_rate.as_integer_ratio()
    cap_num, cap_den = rules.penalty_cap_ratio.as_integer_ratio()
    headroom = terms.principal * cap_num // cap_den
    instalments: list[InstalmentState] = []
    overdue_principal = overdue_interest = overdue_fees = penalty_total = 0
    payoff = 0
    current_seen = False
    for i in inp.schedule:
        penalty = 0
        if i.due_date < as_of:
            overdue_principal += i.principal
            overdue_interest += i.interest
            overdue_fees += i.fee
            if headroom > 0 and i.principal:
                target = _round_half_up_ratio(
                    i.principal * (as_of - i.due_date).days * rate_num, rate_den
                )
                penalty = min(target, headroom)
                headroom -= penalty
                penalty_total += penalty
        if i.due_date <= as_of:
            payoff += i.total + penalty
        elif not current_seen:
            payoff += i.total  # the period under way is owed in full (rule 2a)
            current_seen = True
        else:
            payoff += i.principal
        owes = i.total + penalty
        instalments.append(
            InstalmentState(
                number=i.number,
                due_date=i.due_date,
                principal_due=i.principal,
                interest_due=i.interest,
                fee_due=i.fee,
                principal_paid=0,
                interest_paid=0,
                fee_paid=0,
                penalty_accrued=penalty,
                penalty_paid=0,
                settled_date=start if owes == 0 else None,
            )
        )

    bucket, changes = bucket_changes(rules.buckets)
    entered = start
    history: list[BucketSpell] = []
    for bound, code in changes:
        if bound > dpd:
            break
        assert oldest is not None  # dpd > 0
        day = oldest + timedelta(days=bound)
        history.append(BucketSpell(bucket, entered, day))
        bucket, entered = code, day
    history.append(BucketSpell(bucket, entered, None))

    points = [(start, 0)]
    if oldest is not None and start < oldest < as_of:
        points.append((oldest, 0))
    if as_of > start:
        points.append((as_of, dpd))

    paid_off = all(s.total_unpaid == 0 for s in instalments)
    if paid_off:
        status = LoanStatus.PAID_OFF
    elif dpd > 0:
        status = LoanStatus.DELINQUENT
    else:
        status = LoanStatus.CURRENT
    return LedgerState(
        as_of=as_of,
        instalments=tuple(instalments),
        status=status,
        days_past_due=dpd,
        bucket=bucket,
        paused=False,
        outstanding_principal=terms.principal,
        overdue_principal=overdue_principal,
        overdue_interest=overdue_interest,
        overdue_fees=overdue_fees,
        penalty_outstanding=penalty_total,
        amount_past_due=overdue_principal + overdue_interest + overdue_fees + penalty_total,
        payoff_amount=payoff,
        credit=0,
        total_paid=0,
        history=tuple(history),
        dpd_points=tuple(points),
        paid_off_date=start if paid_off else None,
        worst_days_past_due=dpd,
    )
