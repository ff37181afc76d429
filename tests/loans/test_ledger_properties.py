"""Ledger replay, by property: invariants over random schedules, payments, pauses and rules.

Schedules are random and built here (1 to 24 instalments, principal up to 10^8 minor
units, arbitrary interest and fees, due dates 1 to 45 days apart), independent of
``schedule.py``. Rules are random too: any waterfall order, several tolerances, penalty
rates and caps (including caps that bind).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fairdun.loans.ledger import LedgerState, LoanStatus, _replay_by_day, replay
from fairdun.loans.terms import (
    DEFAULT_BUCKETS,
    Bucket,
    Component,
    Instalment,
    LedgerInput,
    LoanTerms,
    Pause,
    Payment,
    ProductRules,
    RepaymentMethod,
    bucket_for,
)

START = date(2024, 1, 31)  # a month end, so that calendar edge cases come up
FAST = settings(max_examples=150, deadline=None)
SLOW = settings(max_examples=60, deadline=None)

RATES = [Decimal(0), Decimal("0.0005"), Decimal("0.00033"), Decimal("0.0012345"), Decimal("0.01")]
CAPS = [Decimal(0), Decimal("0.001"), Decimal("0.1"), Decimal("0.5"), Decimal(1)]


@dataclass(frozen=True)
class Case:
    inp: LedgerInput
    as_of: date

    @property
    def horizon(self) -> date:
        return self.inp.schedule[-1].due_date + timedelta(days=120)


@st.composite
def schedules(draw: st.DrawFn) -> tuple[Instalment, ...]:
    n = draw(st.integers(1, 24))
    principal = draw(st.integers(1, 10**8))
    cuts = sorted(draw(st.lists(st.integers(0, principal), min_size=n - 1, max_size=n - 1)))
    parts = [b - a for a, b in itertools.pairwise([0, *cuts, principal])]
    gaps = draw(st.lists(st.integers(1, 45), min_size=n, max_size=n))
    interest = draw(st.lists(st.integers(0, 10**7), min_size=n, max_size=n))
    fee = draw(st.sampled_from([0, 0, 500, 12_345]))
    due = list(itertools.accumulate(gaps))
    return tuple(
        Instalment(i + 1, START + timedelta(days=due[i]), parts[i], interest[i], fee)
        for i in range(n)
    )


@st.composite
def product_rules(draw: st.DrawFn) -> ProductRules:
    return ProductRules(
        waterfall=tuple(draw(st.permutations(list(Component)))),
        tolerance=draw(st.sampled_from([0, 1, 100, 10_000])),
        penalty_daily_rate=draw(st.sampled_from(RATES)),
        penalty_cap_ratio=draw(st.sampled_from(CAPS)),
    )


@st.composite
def pause_lists(draw: st.DrawFn, horizon_days: int) -> tuple[Pause, ...]:
    pauses = []
    cursor = 0
    for i in range(draw(st.integers(0, 3))):
        begin = cursor + draw(st.integers(0 if i == 0 else 1, horizon_days // 2))
        length = draw(st.integers(1, 60))
        open_ended = draw(st.integers(0, 9)) == 0
        start = START + timedelta(days=begin)
        if open_ended:
            pauses.append(Pause(start))
            break
        pauses.append(Pause(start, start + timedelta(days=length)))
        cursor = begin + length
    return tuple(pauses)


def terms_for(schedule: tuple[Instalment, ...]) -> LoanTerms:
    return LoanTerms(
        principal=sum(i.principal for i in schedule),
        annual_rate=Decimal("0.12"),
        term_months=len(schedule),
        start_date=START,
        method=RepaymentMethod.EQUAL_INSTALMENT,
    )


@st.composite
def cases(
    draw: st.DrawFn, *, max_payments: int = 12, charge_off: bool = True, min_payments: int = 0
) -> Case:
    schedule = draw(schedules())
    horizon_days = (schedule[-1].due_date - START).days + 120
    biggest = sum(i.total for i in schedule)
    count = draw(st.integers(min_payments, max_payments))
    ids = draw(st.permutations(list(range(1, count + 1))))  # ids deliberately not in date order
    payments = tuple(
        Payment(
            id=ids[k],
            paid_date=START + timedelta(days=draw(st.integers(0, horizon_days))),
            amount=draw(
                st.one_of(
                    st.integers(1, 1_000),
                    st.sampled_from([i.total for i in schedule if i.total > 0] or [1]),
                    st.integers(1, max(1, biggest)),
                )
            ),
            reversed=draw(st.integers(0, 5)) == 0,
        )
        for k in range(count)
    )
    charged_off = None
    if charge_off and draw(st.integers(0, 4)) == 0:
        charged_off = START + timedelta(days=draw(st.integers(0, horizon_days)))
    inp = LedgerInput(
        terms=terms_for(schedule),
        schedule=schedule,
        rules=draw(product_rules()),
        payments=payments,
        pauses=draw(pause_lists(horizon_days)),
        charged_off_date=charged_off,
    )
    return Case(inp, START + timedelta(days=draw(st.integers(0, horizon_days))))


def counted(payments: tuple[Payment, ...], as_of: date) -> list[Payment]:
    return [p for p in payments if not p.reversed and p.paid_date <= as_of]


def daily_dpd(state: LedgerState, start: date) -> list[int]:
    """Days past due for every day from ``start`` to ``as_of``, redrawn from the points
    with straight lines (which must be flat or climb by exactly one a day between points)."""
    out: list[int] = []
    for (day_a, dpd_a), (day_b, dpd_b) in itertools.pairwise(state.dpd_points):
        gap = (day_b - day_a).days
        assert gap >= 1
        slope = 1 if dpd_b - dpd_a == gap else 0
        if gap > 1:
            assert dpd_b - dpd_a in (0, gap), "points must bound flat runs or climbs of one"
        out.extend(dpd_a + slope * k for k in range(gap))
    out.append(state.dpd_points[-1][1])
    assert len(out) == (state.as_of - start).days + 1
    return out


def naive_dpd(state: LedgerState, inp: LedgerInput, day: date) -> int:
    """Rule 4, straight from its wording, over the state at the end of ``day``."""
    for s in state.instalments:
        if s.due_date < day and s.amount_unpaid > inp.rules.tolerance:
            span = (day - s.due_date).days
            return sum(
                1
                for k in range(1, span + 1)
                if not any(p.covers(s.due_date + timedelta(days=k)) for p in inp.pauses)
            )
    return 0


def cap_of(inp: LedgerInput) -> int:
    return int(inp.rules.penalty_cap_ratio * inp.terms.principal)  # int() truncates: floor


# --------------------------------------------------------------------------- invariants


@FAST
@given(cases())
def test_money_is_conserved_and_no_amount_is_negative_or_overpaid(case: Case) -> None:
    inp, as_of = case.inp, case.as_of
    state = replay(inp, as_of)
    received = sum(p.amount for p in counted(inp.payments, as_of))
    allocated = sum(
        s.principal_paid + s.interest_paid + s.fee_paid + s.penalty_paid for s in state.instalments
    )
    assert allocated + state.credit == state.total_paid == received
    assert state.credit >= 0
    for s, scheduled in zip(state.instalments, inp.schedule, strict=True):
        for value in (s.principal_paid, s.interest_paid, s.fee_paid, s.penalty_paid):
            assert value >= 0
        assert 0 <= s.principal_paid <= s.principal_due == scheduled.principal
        assert 0 <= s.interest_paid <= s.interest_due <= scheduled.interest
        assert 0 <= s.fee_paid <= s.fee_due <= scheduled.fee
        assert 0 <= s.penalty_paid <= s.penalty_accrued
        assert (s.settled_date is not None) == (s.total_unpaid == 0)
        assert s.settled_date is None or s.settled_date <= as_of
    assert sum(s.penalty_accrued for s in state.instalments) <= cap_of(inp)
    for amount in (
        state.outstanding_principal,
        state.overdue_principal,
        state.overdue_interest,
        state.overdue_fees,
        state.penalty_outstanding,
        state.amount_past_due,
    ):
        assert amount >= 0
    assert state.amount_past_due <= state.payoff_amount
    # Credit is only ever money beyond a closed loan.
    assert state.credit == 0 or state.status is LoanStatus.PAID_OFF


@FAST
@given(cases())
def test_days_past_due_status_and_history_are_consistent(case: Case) -> None:
    inp, as_of = case.inp, case.as_of
    state = replay(inp, as_of)
    first_due = inp.schedule[0].due_date
    assert 0 <= state.days_past_due <= state.worst_days_past_due
    assert state.worst_days_past_due <= max(0, (as_of - first_due).days)
    assert state.bucket == bucket_for(state.days_past_due, inp.rules.buckets)
    # History: contiguous spells from the start date, each bucket different from the last.
    spells = state.history
    assert spells[0].entered == inp.terms.start_date
    assert spells[-1].left is None
    assert spells[-1].bucket == state.bucket
    for a, b in itertools.pairwise(spells):
        assert a.left == b.entered
        assert a.bucket != b.bucket
    daily = daily_dpd(state, inp.terms.start_date)
    assert max(daily) == state.worst_days_past_due
    assert daily[-1] == state.days_past_due
    # Status follows rule 6.
    if state.status is LoanStatus.PAID_OFF:
        assert state.payoff_amount == 0
        assert state.paid_off_date is not None
    elif inp.charged_off_date is not None and inp.charged_off_date <= as_of:
        assert state.status is LoanStatus.CHARGED_OFF
    else:
        expected = LoanStatus.DELINQUENT if state.days_past_due else LoanStatus.CURRENT
        assert state.status is expected
    assert state.paused == any(p.covers(as_of) for p in inp.pauses)


@SLOW
@given(cases(), st.data())
def test_days_past_due_on_any_day_matches_rule_4_and_the_drawn_line(
    case: Case, data: st.DataObject
) -> None:
    inp, as_of = case.inp, case.as_of
    state = replay(inp, as_of)
    daily = daily_dpd(state, inp.terms.start_date)
    offsets = data.draw(
        st.lists(st.integers(0, (as_of - START).days), min_size=1, max_size=3, unique=True)
    )
    for offset in offsets:
        day = START + timedelta(days=offset)
        then = replay(inp, day)
        assert then.days_past_due == naive_dpd(then, inp, day)
        assert then.days_past_due == daily[offset]
        spell = next(
            s for s in state.history if s.entered <= day and (s.left is None or day < s.left)
        )
        assert spell.bucket == then.bucket


# --------------------------------------------------------------------------- independence


@FAST
@given(cases(), st.data())
def test_the_order_payments_are_listed_in_never_changes_the_result(
    case: Case, data: st.DataObject
) -> None:
    shuffled = tuple(data.draw(st.permutations(case.inp.payments)))
    assert replay(replace(case.inp, payments=shuffled), case.as_of) == replay(case.inp, case.as_of)


@FAST
@given(cases(min_payments=1), st.data())
def test_a_payment_does_not_affect_any_day_before_it(case: Case, data: st.DataObject) -> None:
    inp = case.inp
    payment = data.draw(st.sampled_from(inp.payments))
    if payment.paid_date == START:
        return
    as_of = START + timedelta(days=data.draw(st.integers(0, (payment.paid_date - START).days - 1)))
    without = tuple(p for p in inp.payments if p is not payment)
    assert replay(inp, as_of) == replay(replace(inp, payments=without), as_of)


@FAST
@given(cases(min_payments=1), st.data())
def test_a_reversed_payment_is_the_same_as_one_never_recorded(
    case: Case, data: st.DataObject
) -> None:
    inp = case.inp
    payment = data.draw(st.sampled_from(inp.payments))
    reversed_ = tuple(replace(p, reversed=True) if p is payment else p for p in inp.payments)
    without = tuple(p for p in inp.payments if p is not payment)
    assert replay(replace(inp, payments=reversed_), case.as_of) == replay(
        replace(inp, payments=without), case.as_of
    )


@FAST
@given(cases(), st.data())
def test_adding_a_pause_never_increases_days_past_due_on_any_day(
    case: Case, data: st.DataObject
) -> None:
    inp = case.inp
    if not inp.pauses:
        return
    dropped = data.draw(st.sampled_from(inp.pauses))
    fewer = replace(inp, pauses=tuple(p for p in inp.pauses if p is not dropped))
    with_pause = daily_dpd(replay(inp, case.as_of), START)
    without_pause = daily_dpd(replay(fewer, case.as_of), START)
    assert all(a <= b for a, b in zip(with_pause, without_pause, strict=True))


# --------------------------------------------------------------------------- paying


@FAST
@given(schedules(), product_rules(), st.data())
def test_paying_every_instalment_in_full_on_its_due_date_is_never_past_due(
    schedule: tuple[Instalment, ...], rules: ProductRules, data: st.DataObject
) -> None:
    # As in every real schedule, the last instalment repays principal (otherwise, once the
    # last principal is repaid and the current instalment settled, the interest-only
    # instalments after it are dropped: see the interest-only tail example test).
    assume(schedule[-1].principal > 0)
    horizon_days = (schedule[-1].due_date - START).days + 120
    payments = tuple(Payment(i.number, i.due_date, i.total) for i in schedule if i.total > 0)
    inp = LedgerInput(
        terms=terms_for(schedule),
        schedule=schedule,
        rules=rules,
        payments=payments,
        pauses=data.draw(pause_lists(horizon_days)),
    )
    as_of = schedule[-1].due_date + timedelta(days=data.draw(st.integers(0, 60)))
    state = replay(inp, as_of)
    assert state.worst_days_past_due == 0
    assert set(daily_dpd(state, START)) == {0}
    assert state.status is LoanStatus.PAID_OFF
    assert state.paid_off_date == max(p.paid_date for p in payments)
    assert state.penalty_outstanding == 0
    assert state.credit == 0
    assert [s.interest_due for s in state.instalments] == [i.interest for i in schedule]


@FAST
@given(schedules(), product_rules(), st.data())
def test_paying_every_instalment_in_full_a_few_days_early_is_never_past_due(
    schedule: tuple[Instalment, ...], rules: ProductRules, data: st.DataObject
) -> None:
    # Instalment k's total is paid 0 to 10 days before its due date, but not before the
    # previous due date (the start date for the first): within its own period, in order.
    # Paid early, an instalment is the current one (rule 2a): it is settled, in full, and
    # nothing is refunded, not even when the last one closes the loan. The last instalment
    # repays principal, as in the on-time test.
    assume(schedule[-1].principal > 0)
    horizon_days = (schedule[-1].due_date - START).days + 120
    previous = [START, *(i.due_date for i in schedule[:-1])]
    payments = tuple(
        Payment(
            i.number,
            max(prev, i.due_date - timedelta(days=data.draw(st.integers(0, 10)))),
            i.total,
        )
        for i, prev in zip(schedule, previous, strict=True)
        if i.total > 0
    )
    inp = LedgerInput(
        terms=terms_for(schedule),
        schedule=schedule,
        rules=rules,
        payments=payments,
        pauses=data.draw(pause_lists(horizon_days)),
    )
    as_of = schedule[-1].due_date + timedelta(days=data.draw(st.integers(0, 60)))
    state = replay(inp, as_of)
    assert state.worst_days_past_due == 0
    assert set(daily_dpd(state, START)) == {0}
    assert state.status is LoanStatus.PAID_OFF
    assert state.paid_off_date == payments[-1].paid_date
    assert state.penalty_outstanding == 0
    assert all(s.penalty_accrued == 0 for s in state.instalments)
    assert state.credit == 0
    paid_on = {p.id: p.paid_date for p in payments}
    for s, scheduled in zip(state.instalments, schedule, strict=True):
        # Settled by its own payment (an instalment owing nothing from the start: at once).
        assert s.settled_date == paid_on.get(s.number, START)
        # Never repriced, never waived: every instalment is paid its scheduled amount.
        assert (s.interest_due, s.fee_due) == (scheduled.interest, scheduled.fee)
        assert (s.interest_paid, s.fee_paid) == (scheduled.interest, scheduled.fee)


@FAST
@given(cases(min_payments=1), st.data())
def test_paying_what_is_due_and_the_current_instalment_keeps_it_from_falling_past_due(
    case: Case, data: st.DataObject
) -> None:
    # Whatever happened before: pay everything due and the current instalment (the first
    # not yet due) on as_of, then nothing more. No day up to the day after the current
    # instalment's due date is past due, from as_of on.
    inp, as_of = case.inp, case.as_of
    upcoming = [i for i in inp.schedule if i.due_date > as_of]
    if not upcoming:
        return
    current = upcoming[0]
    inp = replace(inp, payments=tuple(p for p in inp.payments if p.paid_date <= as_of))
    before = replay(inp, as_of)
    amount = sum(s.total_unpaid for s in before.instalments if s.due_date <= current.due_date)
    if amount == 0:
        return
    last_id = max((p.id for p in inp.payments), default=0)
    paid = replace(inp, payments=(*inp.payments, Payment(last_id + 1, as_of, amount)))
    now = replay(paid, as_of)
    assert all(s.settled for s in now.instalments if s.due_date <= current.due_date)
    later = replay(paid, current.due_date + timedelta(days=1))
    assert set(daily_dpd(later, START)[(as_of - START).days :]) == {0}


@FAST
@given(cases(min_payments=1), st.data())
def test_payments_on_one_day_are_applied_as_one_payment_of_their_sum(
    case: Case, data: st.DataObject
) -> None:
    inp = case.inp
    payment = data.draw(st.sampled_from(inp.payments))
    if payment.amount < 2:
        return
    part = data.draw(st.integers(1, payment.amount - 1))
    new_id = max(p.id for p in inp.payments) + 1
    split = tuple(
        q
        for p in inp.payments
        for q in (
            (replace(p, amount=part), replace(p, id=new_id, amount=p.amount - part))
            if p is payment
            else (p,)
        )
    )
    assert replay(replace(inp, payments=split), case.as_of) == replay(inp, case.as_of)


@FAST
@given(cases(), st.integers(0, 10**6))
def test_paying_the_payoff_amount_closes_the_loan_and_the_rest_is_credit(
    case: Case, extra: int
) -> None:
    inp, as_of = case.inp, case.as_of
    before = replay(inp, as_of)
    amount = before.payoff_amount + extra
    if amount == 0:
        return
    last_id = max((p.id for p in inp.payments), default=0)
    closing = replace(inp, payments=(*inp.payments, Payment(last_id + 1, as_of, amount)))
    after = replay(closing, as_of)
    assert after.status is LoanStatus.PAID_OFF
    assert after.payoff_amount == 0
    assert after.credit == before.credit + extra
    if before.status is not LoanStatus.PAID_OFF:
        assert after.paid_off_date == as_of


@FAST
@given(cases(), st.data())
def test_a_payment_brings_credit_exactly_beyond_the_payoff_amount(
    case: Case, data: st.DataObject
) -> None:
    # Any one payment on as_of: what it brings beyond the payoff amount becomes credit
    # and closes the loan; anything less is all allocated and leaves the loan open. So
    # paying early never refunds anything of the period under way.
    inp, as_of = case.inp, case.as_of
    before = replay(inp, as_of)
    amount = data.draw(st.integers(1, before.payoff_amount + 10**6))
    last_id = max((p.id for p in inp.payments), default=0)
    after = replay(
        replace(inp, payments=(*inp.payments, Payment(last_id + 1, as_of, amount))), as_of
    )
    assert after.credit == before.credit + max(0, amount - before.payoff_amount)
    assert (after.status is LoanStatus.PAID_OFF) == (amount >= before.payoff_amount)
    if amount < before.payoff_amount:
        assert after.payoff_amount == before.payoff_amount - amount


@FAST
@given(cases(), st.data())
def test_a_payment_never_reprices_an_instalment_whose_period_has_started(
    case: Case, data: st.DataObject
) -> None:
    # The interest and fee of the instalments due on or before as_of and of the current
    # one (the first not yet due) are the same after any payment on as_of: prepayment only
    # reprices or waives instalments whose periods have not started.
    inp, as_of = case.inp, case.as_of
    before = replay(inp, as_of)
    amount = data.draw(st.integers(1, before.payoff_amount + 10**6))
    last_id = max((p.id for p in inp.payments), default=0)
    after = replay(
        replace(inp, payments=(*inp.payments, Payment(last_id + 1, as_of, amount))), as_of
    )
    started = sum(1 for i in inp.schedule if i.due_date <= as_of) + 1
    for old, new in zip(before.instalments[:started], after.instalments[:started], strict=True):
        assert (new.interest_due, new.fee_due) == (old.interest_due, old.fee_due)


@FAST
@given(cases(), st.data())
def test_closing_within_a_period_costs_the_payoff_amount_however_it_is_split(
    case: Case, data: st.DataObject
) -> None:
    # Pay part of the payoff amount on as_of (at least what is due, so no penalty accrues
    # after it) and the new payoff amount on a later day before the next due date: the two
    # add up to the first payoff amount, and the loan closes with no credit.
    inp, as_of = case.inp, case.as_of
    upcoming = [i for i in inp.schedule if i.due_date > as_of]
    if not upcoming:
        return
    inp = replace(inp, payments=tuple(p for p in inp.payments if p.paid_date <= as_of))
    before = replay(inp, as_of)
    due = sum(s.total_unpaid for s in before.instalments if s.due_date <= as_of)
    if before.payoff_amount - max(1, due) < 1:
        return
    part = data.draw(st.integers(max(1, due), before.payoff_amount - 1))
    later = as_of + timedelta(
        days=data.draw(st.integers(0, (upcoming[0].due_date - as_of).days - 1))
    )
    last_id = max((p.id for p in inp.payments), default=0)
    first = replace(inp, payments=(*inp.payments, Payment(last_id + 1, as_of, part)))
    rest = replay(first, later).payoff_amount
    assert rest == before.payoff_amount - part
    closed = replay(
        replace(first, payments=(*first.payments, Payment(last_id + 2, later, rest))), later
    )
    assert closed.status is LoanStatus.PAID_OFF
    assert closed.credit == before.credit


# --------------------------------------------------------------------------- penalty


def exact_accrual(inp: LedgerInput, instalment: Instalment, as_of: date) -> Decimal:
    """Rule 3 for an instalment nobody paid anything on: principal x rate x late days."""
    end = as_of if inp.charged_off_date is None else min(as_of, inp.charged_off_date)
    days = sum(
        1
        for k in range(1, (end - instalment.due_date).days + 1)
        if not any(p.covers(instalment.due_date + timedelta(days=k)) for p in inp.pauses)
    )
    return instalment.principal * inp.rules.penalty_daily_rate * days


def round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@FAST
@given(cases(max_payments=0))
def test_penalty_of_an_unpaid_loan_is_the_rounded_exact_accrual_within_the_cap(
    case: Case,
) -> None:
    inp, as_of = case.inp, case.as_of
    state = replay(inp, as_of)
    expected = [round_half_up(exact_accrual(inp, i, as_of)) for i in inp.schedule]
    accrued = [s.penalty_accrued for s in state.instalments]
    assert sum(accrued) == min(cap_of(inp), sum(expected))
    if sum(expected) <= cap_of(inp):
        assert accrued == expected


@FAST
@given(schedules(), st.data())
def test_payments_that_only_pay_penalty_leave_every_instalments_penalty_unchanged(
    schedule: tuple[Instalment, ...], data: st.DataObject
) -> None:
    # Default waterfall (penalty first), 0.05% a day, cap 100%: over at most ~1200 days the
    # cap cannot bind (0.0005 x 1200 = 0.6), so rule 3's exact guarantee applies.
    rules = ProductRules(penalty_cap_ratio=Decimal(1))
    horizon_days = (schedule[-1].due_date - START).days + 120
    inp = LedgerInput(
        terms=terms_for(schedule),
        schedule=schedule,
        rules=rules,
        pauses=data.draw(pause_lists(horizon_days)),
    )
    first_due = schedule[0].due_date
    first_probe = first_due + timedelta(days=data.draw(st.integers(1, 90)))
    as_of = first_probe + timedelta(days=data.draw(st.integers(0, 200)))
    probe_days = sorted(
        data.draw(st.lists(st.integers(0, (as_of - first_probe).days), min_size=1, max_size=10))
    )
    # Each probe pays 1 to the oldest instalment's penalty, which must already be posted.
    posted = replay(inp, first_probe).instalments[0].penalty_accrued
    if posted < len(probe_days):
        return
    probes = tuple(
        Payment(k + 1, first_probe + timedelta(days=offset), 1)
        for k, offset in enumerate(probe_days)
    )
    plain = replay(inp, as_of)
    probed = replay(replace(inp, payments=probes), as_of)
    assert [s.penalty_accrued for s in probed.instalments] == [
        s.penalty_accrued for s in plain.instalments
    ]
    assert probed.instalments[0].penalty_paid == len(probes)
    assert probed.outstanding_principal == plain.outstanding_principal


BUCKET_SETS = [
    DEFAULT_BUCKETS,
    (Bucket("C", 0, 3), Bucket("late", 4, 9), Bucket("bad", 10, None)),
    (Bucket("C", 0, 0), Bucket("X", 1, 1), Bucket("Y", 2, 2), Bucket("Z", 3, None)),
]


@FAST
@given(cases(max_payments=0, charge_off=False), st.sampled_from(BUCKET_SETS))
def test_a_loan_without_events_takes_the_closed_form_and_gets_the_day_by_day_result(
    case: Case, buckets: tuple[Bucket, ...]
) -> None:
    """replay() answers a loan with no payment, pause or charge-off in closed form; it must
    be exactly what walking the days gives, on every field."""
    inp = replace(case.inp, pauses=(), rules=replace(case.inp.rules, buckets=buckets))
    assert replay(inp, case.as_of) == _replay_by_day(inp, case.as_of)
    assert replay(inp, case.horizon) == _replay_by_day(inp, case.horizon)
