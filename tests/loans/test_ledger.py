"""Ledger replay, by example. Every expectation is computed by hand in the comments.

The standard loan below (``three_months``): 3000.00 CNY lent on 2023-12-01, three
instalments of 1000.00 principal each, due on the 1st of January, February and March 2024,
with interest 30.00, 20.00 and 10.00. Default product rules: waterfall penalty, fees,
interest, principal; tolerance 1.00; penalty 0.05% a day, capped at 10% of the principal
(300.00). So 1000.00 of overdue principal bears 50 minor units of penalty a day.

The paying-ahead examples also use ``four_months``: 4000.00 lent on 2023-12-01, four
instalments of 1000.00 principal each due on the 1st of January to April 2024, with
interest 40.00, 30.00, 20.00 and 10.00 (scheduled outstanding principal at the start of
periods 1..4: 400_000, 300_000, 200_000, 100_000).

Schedules are built by hand here, not by ``schedule.py``, so these tests stand alone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from fairdun.loans.ledger import BucketSpell, LedgerError, LedgerState, LoanStatus, replay
from fairdun.loans.terms import (
    Component,
    Instalment,
    LedgerInput,
    LoanTerms,
    Pause,
    Payment,
    ProductRules,
    RepaymentMethod,
)

START = date(2023, 12, 1)
JAN1, FEB1, MAR1 = date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)


def d(text: str) -> date:
    return date.fromisoformat(text)


def instalments(*rows: tuple[date, int, int, int]) -> tuple[Instalment, ...]:
    """(due date, principal, interest, fee) rows, numbered from 1."""
    return tuple(
        Instalment(number=i, due_date=due, principal=p, interest=r, fee=f)
        for i, (due, p, r, f) in enumerate(rows, start=1)
    )


def loan(
    schedule: tuple[Instalment, ...],
    *payments: Payment,
    rules: ProductRules | None = None,
    pauses: tuple[Pause, ...] = (),
    charged_off_date: date | None = None,
) -> LedgerInput:
    terms = LoanTerms(
        principal=sum(i.principal for i in schedule),
        annual_rate=Decimal("0.12"),
        term_months=len(schedule),
        start_date=START,
        method=RepaymentMethod.EQUAL_PRINCIPAL,
    )
    return LedgerInput(
        terms=terms,
        schedule=schedule,
        rules=rules or ProductRules(),
        payments=payments,
        pauses=pauses,
        charged_off_date=charged_off_date,
    )


THREE = instalments(
    (JAN1, 100_000, 3_000, 0),
    (FEB1, 100_000, 2_000, 0),
    (MAR1, 100_000, 1_000, 0),
)


def three_months(*payments: Payment, **kwargs: object) -> LedgerInput:
    return loan(THREE, *payments, **kwargs)  # type: ignore[arg-type]


APR1 = date(2024, 4, 1)
FOUR = instalments(
    (JAN1, 100_000, 4_000, 0),
    (FEB1, 100_000, 3_000, 0),
    (MAR1, 100_000, 2_000, 0),
    (APR1, 100_000, 1_000, 0),
)


def four_months(*payments: Payment, **kwargs: object) -> LedgerInput:
    return loan(FOUR, *payments, **kwargs)  # type: ignore[arg-type]


def pay(id_: int, day: date | str, amount: int, *, reversed_: bool = False) -> Payment:
    paid = d(day) if isinstance(day, str) else day
    return Payment(id=id_, paid_date=paid, amount=amount, reversed=reversed_)


def allocated(state: LedgerState) -> int:
    return sum(
        s.principal_paid + s.interest_paid + s.fee_paid + s.penalty_paid for s in state.instalments
    )


# --------------------------------------------------------------------------- on time


def test_on_time_payer_is_never_past_due_and_ends_paid_off_on_the_last_payment() -> None:
    inp = three_months(pay(1, JAN1, 103_000), pay(2, FEB1, 102_000), pay(3, MAR1, 101_000))
    state = replay(inp, d("2024-03-31"))
    assert state.status is LoanStatus.PAID_OFF
    assert state.paid_off_date == MAR1
    assert state.days_past_due == 0
    assert state.worst_days_past_due == 0
    assert state.history == (BucketSpell("C", START, None),)
    assert [s.settled_date for s in state.instalments] == [JAN1, FEB1, MAR1]
    assert state.total_paid == 306_000
    assert (state.credit, state.payoff_amount, state.amount_past_due) == (0, 0, 0)
    assert all(s.penalty_accrued == 0 for s in state.instalments)
    # dpd is 0 every day: a flat line, drawn by its two ends.
    assert state.dpd_points == ((START, 0), (d("2024-03-31"), 0))


def test_current_loan_mid_term_pays_off_with_the_interest_of_the_period_under_way() -> None:
    # Jan 15: instalment 2's period (Jan 1 to Feb 1) has started: its interest (20.00) is
    # owed by a payoff. Instalment 3's (10.00) is future interest: not charged.
    state = replay(three_months(pay(1, JAN1, 103_000)), d("2024-01-15"))
    assert state.status is LoanStatus.CURRENT
    assert state.outstanding_principal == 200_000
    assert state.payoff_amount == 200_000 + 2_000
    assert state.amount_past_due == 0
    # Feb 15, instalment 2 paid too: instalment 3 is now the period under way.
    later = replay(three_months(pay(1, JAN1, 103_000), pay(2, FEB1, 102_000)), d("2024-02-15"))
    assert later.payoff_amount == 100_000 + 1_000


# --------------------------------------------------------------------------- missed


def test_missed_instalment_is_one_day_past_due_the_day_after_and_31_a_month_later() -> None:
    inp = three_months()
    assert replay(inp, JAN1).days_past_due == 0  # on its due date it is not past due
    day_after = replay(inp, d("2024-01-02"))
    assert (day_after.days_past_due, day_after.bucket) == (1, "M1")
    assert day_after.status is LoanStatus.DELINQUENT
    jan31 = replay(inp, d("2024-01-31"))
    assert (jan31.days_past_due, jan31.bucket) == (30, "M1")
    # (Jan 1, Feb 1] is 31 days: bucket M2 (31-60) from Feb 1.
    feb1 = replay(inp, FEB1)
    assert (feb1.days_past_due, feb1.bucket) == (31, "M2")


def test_missed_instalment_history_amounts_and_penalty() -> None:
    state = replay(three_months(), d("2024-02-15"))
    assert state.days_past_due == 45  # (Jan 1, Feb 15] = 30 + 15
    assert state.worst_days_past_due == 45
    assert state.history == (
        BucketSpell("C", START, d("2024-01-02")),
        BucketSpell("M1", d("2024-01-02"), FEB1),
        BucketSpell("M2", FEB1, None),
    )
    # Instalment 1: 45 days x 50 = 2250. Instalment 2: (Feb 1, Feb 15] = 14 days x 50 = 700.
    assert [s.penalty_accrued for s in state.instalments] == [2_250, 700, 0]
    assert state.penalty_outstanding == 2_950
    assert (state.overdue_principal, state.overdue_interest, state.overdue_fees) == (
        200_000,
        5_000,
        0,
    )
    assert state.amount_past_due == 200_000 + 5_000 + 2_950
    # Payoff: all principal 300_000 + interest of instalments 1 and 2 + penalty, and the
    # 1_000 of interest of instalment 3, whose period started on Feb 1.
    assert state.payoff_amount == 300_000 + 5_000 + 2_950 + 1_000
    # The dpd line: flat at 0 from Dec 1 to Jan 1, then rising by one a day to the end.
    assert state.dpd_points == ((START, 0), (JAN1, 0), (d("2024-02-15"), 45))


# --------------------------------------------------------------------------- tolerance


def test_partial_payment_leaving_no_more_than_the_tolerance_is_not_past_due() -> None:
    # 102_950 of 103_000: interest 3_000, principal 99_950; 50 unpaid <= tolerance 100.
    state = replay(three_months(pay(1, JAN1, 102_950)), d("2024-01-15"))
    assert state.days_past_due == 0
    assert state.status is LoanStatus.CURRENT
    assert state.instalments[0].principal_unpaid == 50
    # The 50 is still owed, and still bears penalty: 50 x 0.0005 x 14 days = 0.35 -> 0.
    assert state.overdue_principal == 50
    assert state.amount_past_due == 50


def test_partial_payment_leaving_more_than_the_tolerance_is_past_due() -> None:
    # 200 unpaid > 100.
    inp = three_months(pay(1, JAN1, 102_800))
    assert replay(inp, d("2024-01-02")).days_past_due == 1
    state = replay(inp, d("2024-01-15"))
    assert state.days_past_due == 14
    assert state.status is LoanStatus.DELINQUENT


def test_unpaid_penalty_alone_does_not_make_an_instalment_past_due() -> None:
    # Waterfall principal first, penalty last. On Jan 31 (30 days late, penalty 1_500),
    # 103_000 pays principal and interest in full and leaves the 1_500 penalty unpaid.
    rules = ProductRules(
        waterfall=(Component.PRINCIPAL, Component.INTEREST, Component.FEES, Component.PENALTY)
    )
    state = replay(three_months(pay(1, d("2024-01-31"), 103_000), rules=rules), d("2024-01-31"))
    assert state.instalments[0].penalty_unpaid == 1_500
    assert state.instalments[0].amount_unpaid == 0
    assert state.days_past_due == 0
    assert state.amount_past_due == 1_500
    assert state.status is LoanStatus.CURRENT


# --------------------------------------------------------------------------- allocation


def test_waterfall_order_decides_which_components_a_short_payment_pays() -> None:
    # Missed; 3_000 paid on Jan 11 when 10 days x 50 = 500 of penalty is posted.
    as_of = d("2024-01-21")
    default = replay(three_months(pay(1, d("2024-01-11"), 3_000)), as_of).instalments[0]
    # Default: penalty 500, fees 0, interest 2_500, principal 0.
    assert (default.penalty_paid, default.interest_paid, default.principal_paid) == (500, 2_500, 0)
    principal_first = ProductRules(
        waterfall=(Component.PRINCIPAL, Component.INTEREST, Component.FEES, Component.PENALTY)
    )
    other = replay(
        three_months(pay(1, d("2024-01-11"), 3_000), rules=principal_first), as_of
    ).instalments[0]
    assert (other.penalty_paid, other.interest_paid, other.principal_paid) == (0, 0, 3_000)
    # Penalty then follows the principal: 500 + 10 days x 50 = 1_000 on 100_000, but
    # 500 + 10 days x 48.5 = 985 on 97_000.
    assert (default.penalty_accrued, other.penalty_accrued) == (1_000, 985)


def test_a_payment_settles_the_oldest_instalment_completely_before_the_next() -> None:
    # Both first instalments missed; 110_000 on Feb 11. Posted penalty: instalment 1
    # (Jan 1, Feb 11] = 41 days x 50 = 2_050; instalment 2 (Feb 1, Feb 11] = 10 x 50 = 500.
    # Instalment 1 takes 2_050 + 3_000 + 100_000 = 105_050; 4_950 is left for instalment 2:
    # penalty 500, interest 2_000, principal 2_450.
    state = replay(three_months(pay(1, d("2024-02-11"), 110_000)), d("2024-02-11"))
    first, second, third = state.instalments
    assert first.settled_date == d("2024-02-11")
    assert (second.penalty_paid, second.interest_paid, second.principal_paid) == (500, 2_000, 2_450)
    assert third.principal_paid == 0
    # Days past due now counts from instalment 2: (Feb 1, Feb 11] = 10, down from 41.
    assert state.days_past_due == 10
    assert state.dpd_points[-2:] == ((d("2024-02-10"), 40), (d("2024-02-11"), 10))


def test_several_payments_on_one_day_equal_one_payment_of_their_sum() -> None:
    as_of = d("2024-02-20")
    split = replay(three_months(pay(1, "2024-02-11", 60_000), pay(2, "2024-02-11", 50_000)), as_of)
    whole = replay(three_months(pay(1, "2024-02-11", 110_000)), as_of)
    assert split == whole
    # Also when the second payment closes the loan (rule 2c). Jan 10, after instalment 1:
    # 150_000 settles instalment 2 (interest 2_000 + principal 100_000) and takes 48_000
    # off instalment 3; the next 52_000 repays the rest. The loan closes, as 202_000 (the
    # payoff amount) in one payment does.
    first = pay(1, JAN1, 103_000)
    split = replay(
        three_months(first, pay(2, "2024-01-10", 150_000), pay(3, "2024-01-10", 52_000)), as_of
    )
    whole = replay(three_months(first, pay(2, "2024-01-10", 202_000)), as_of)
    assert split == whole
    assert whole.status is LoanStatus.PAID_OFF
    assert (whole.total_paid, whole.credit) == (305_000, 0)


# --------------------------------------------------------------------------- paying early


def test_an_instalment_paid_a_few_days_early_is_never_past_due() -> None:
    # Each instalment's total paid 2 or 3 days before its due date (2024 is a leap year).
    # Dec 29: instalment 1 is current (nothing due yet); 103_000 settles it in full:
    # interest 3_000 (not prorated), principal 100_000.
    # Jan 30: instalment 2 is current; 102_000 settles it.
    # Feb 27: instalment 3 is current; 101_000 settles it, and with no principal left the
    # loan closes (rule 2c). Its 1_000 of interest is owed: nothing becomes credit.
    payments = (
        pay(1, "2023-12-29", 103_000),
        pay(2, "2024-01-30", 102_000),
        pay(3, "2024-02-27", 101_000),
    )
    state = replay(three_months(*payments), d("2024-03-31"))
    assert state.worst_days_past_due == 0
    assert state.dpd_points == ((START, 0), (d("2024-03-31"), 0))  # flat at 0
    assert state.status is LoanStatus.PAID_OFF
    assert state.paid_off_date == d("2024-02-27")
    assert [s.settled_date for s in state.instalments] == [
        d("2023-12-29"),
        d("2024-01-30"),
        d("2024-02-27"),
    ]
    assert [s.interest_due for s in state.instalments] == [3_000, 2_000, 1_000]
    assert [s.interest_paid for s in state.instalments] == [3_000, 2_000, 1_000]
    assert all(s.penalty_accrued == 0 for s in state.instalments)
    assert state.credit == 0
    assert state.total_paid == 306_000
    # On each due date and the day after, the loan is current, not past due.
    for day in (JAN1, d("2024-01-02"), FEB1, d("2024-02-02")):
        then = replay(three_months(*payments), day)
        assert (then.days_past_due, then.status) == (0, LoanStatus.CURRENT)


def test_paying_the_last_instalment_two_days_early_closes_the_loan_with_no_refund() -> None:
    # Feb 28, two days before Mar 1: instalment 3 is current. 101_000 settles it in full,
    # interest 1_000 included (its period started on Feb 1: owed, not prorated), and with
    # no principal left the loan closes (rule 2c). Nothing is refunded as credit.
    payments = (pay(1, JAN1, 103_000), pay(2, FEB1, 102_000), pay(3, "2024-02-28", 101_000))
    state = replay(three_months(*payments), d("2024-02-28"))
    assert state.status is LoanStatus.PAID_OFF
    assert state.paid_off_date == d("2024-02-28")
    assert state.credit == 0
    third = state.instalments[2]
    assert (third.interest_due, third.interest_paid, third.principal_paid) == (
        1_000,
        1_000,
        100_000,
    )
    # The day before, closing cost exactly that: instalment 3's interest and principal.
    assert replay(three_months(*payments), d("2024-02-27")).payoff_amount == 101_000


@pytest.mark.parametrize(
    "schedule",
    [
        pytest.param(instalments((MAR1, 300_000, 9_000, 500)), id="bullet"),
        pytest.param(
            instalments((JAN1, 0, 3_000, 500), (FEB1, 0, 3_000, 500), (MAR1, 300_000, 3_000, 500)),
            id="interest-only",
        ),
    ],
)
def test_paying_the_final_instalment_a_day_early_refunds_nothing(
    schedule: tuple[Instalment, ...],
) -> None:
    # A bullet loan, or the final instalment of an interest-only loan, paid in full on
    # Feb 29, the day before it falls due: the loan closes, interest and fee paid in full.
    earlier = tuple(pay(i.number, i.due_date, i.total) for i in schedule[:-1])
    final = pay(len(schedule), "2024-02-29", schedule[-1].total)
    state = replay(loan(schedule, *earlier, final), MAR1)
    assert state.status is LoanStatus.PAID_OFF
    assert state.paid_off_date == d("2024-02-29")
    assert state.credit == 0
    last = state.instalments[-1]
    assert (last.interest_paid, last.fee_paid) == (schedule[-1].interest, schedule[-1].fee)
    assert state.total_paid == sum(i.total for i in schedule)


def test_several_early_payments_adding_up_to_the_current_instalment_settle_it() -> None:
    # Dec 20: 50_000 to instalment 1 (current): interest 3_000, principal 47_000.
    # Dec 28: 53_000 pays the principal left, 53_000: settled. Nothing reaches instalment 3.
    both = three_months(pay(1, "2023-12-20", 50_000), pay(2, "2023-12-28", 53_000))
    state = replay(both, d("2024-01-02"))
    first, second, third = state.instalments
    assert (first.interest_paid, first.principal_paid) == (3_000, 100_000)
    assert first.settled_date == d("2023-12-28")
    assert (second.principal_paid, second.interest_due) == (0, 2_000)
    assert (third.principal_paid, third.interest_due) == (0, 1_000)
    assert (state.days_past_due, state.status) == (0, LoanStatus.CURRENT)
    assert state.payoff_amount == 200_000 + 2_000  # instalment 2's period has started
    # Only the first of them: 53_000 unpaid > tolerance, past due from Jan 2.
    short = replay(three_months(pay(1, "2023-12-20", 50_000)), d("2024-01-02"))
    assert short.instalments[0].amount_unpaid == 53_000
    assert short.days_past_due == 1


def test_money_left_after_the_due_instalments_goes_to_the_current_instalment_first() -> None:
    # 153_000 on Jan 1: instalment 1 is due (103_000). Instalment 2 is current: the 50_000
    # left pays its interest 2_000 and 48_000 of principal.
    # Nothing reaches instalment 3, whose interest stays 1_000.
    state = replay(three_months(pay(1, JAN1, 153_000)), JAN1)
    _, second, third = state.instalments
    assert (second.interest_paid, second.principal_paid) == (2_000, 48_000)
    assert (third.principal_paid, third.interest_due) == (0, 1_000)
    assert state.outstanding_principal == 152_000
    # Closing today costs the 152_000 of principal left: instalment 2's interest is already
    # paid (and stays paid), instalment 3's is not charged.
    assert state.payoff_amount == 152_000
    # Instalment 2 still owes 52_000 on Feb 1: past due the day after if not paid.
    assert replay(three_months(pay(1, JAN1, 153_000)), d("2024-02-02")).days_past_due == 1
    # Paying the rest on the due dates closes the loan: nothing saved, nothing lost.
    closed = replay(
        three_months(pay(1, JAN1, 153_000), pay(2, FEB1, 52_000), pay(3, MAR1, 101_000)), MAR1
    )
    assert closed.status is LoanStatus.PAID_OFF
    assert closed.total_paid == 306_000
    assert closed.credit == 0


def test_two_instalments_worth_paid_early_settles_one_and_prepays_principal() -> None:
    # four_months. Jan 1: instalment 1 (104_000). Jan 25: 205_000, the totals of
    # instalments 2 and 3.
    # (2a) instalment 2 (current): interest 3_000 + principal 100_000 = 103_000, settled.
    # (2b) 102_000 of principal from the last instalment: 100_000 off instalment 4, 2_000
    # off instalment 3. Instalment 4 has nothing outstanding in its period: dropped.
    # Instalment 3: 2_000 x 98_000 / 200_000 = 980.
    payments = (pay(1, JAN1, 104_000), pay(2, "2024-01-25", 205_000))
    state = replay(four_months(*payments), d("2024-01-25"))
    _, second, third, fourth = state.instalments
    assert (second.interest_due, second.interest_paid, second.principal_paid) == (
        3_000,
        3_000,
        100_000,
    )
    assert second.settled_date == d("2024-01-25")
    assert (third.principal_paid, third.interest_due, third.settled_date) == (2_000, 980, None)
    assert (fourth.principal_paid, fourth.interest_due, fourth.settled_date) == (
        100_000,
        0,
        d("2024-01-25"),
    )
    # Closing before Feb 1 costs the principal left; from Feb 1, instalment 3's period is
    # under way and its (reduced) interest is owed too.
    assert state.payoff_amount == 98_000
    assert replay(four_months(*payments), FEB1).payoff_amount == 98_000 + 980
    # Instalment 3 is not paid ahead: it falls due on Mar 1 for 98_000 + 980.
    assert replay(four_months(*payments), FEB1).days_past_due == 0
    assert replay(four_months(*payments), MAR1).days_past_due == 0
    mar2 = replay(four_months(*payments), d("2024-03-02"))
    assert mar2.days_past_due == 1
    # One day of penalty on 98_000: 49.
    assert mar2.amount_past_due == 98_000 + 980 + 49
    # Paid on its due date, it closes the loan in three months: 1_000 (instalment 4) +
    # 1_020 (instalment 3) of interest saved.
    closed = replay(four_months(*payments, pay(3, MAR1, 98_980)), MAR1)
    assert closed.status is LoanStatus.PAID_OFF
    assert closed.paid_off_date == MAR1
    assert closed.total_paid == 410_000 - 2_020
    assert closed.credit == 0


def test_prepayment_reduces_later_interest_and_the_current_instalment_is_not_repriced() -> None:
    # four_months. Jan 25: 153_000 = instalment 2 (103_000) + 50_000 off instalment 4.
    # Instalment 4: 1_000 x 50_000 / 100_000 = 500; instalment 3: 2_000 x 150/200 = 1_500.
    # Feb 20: instalment 3 is current; 111_500 settles it at its reduced interest 1_500
    # (not prorated, not recomputed), and the 10_000 left
    # comes off instalment 4: 1_000 x 40_000 / 100_000 = 400. Had instalment 3 been
    # repriced, it would now owe 2_000 x 40_000 / 200_000 = 400: it is not.
    first = (pay(1, JAN1, 104_000), pay(2, "2024-01-25", 153_000))
    after_jan = replay(four_months(*first), d("2024-01-25"))
    assert [s.interest_due for s in after_jan.instalments] == [4_000, 3_000, 1_500, 500]
    payments = (*first, pay(3, "2024-02-20", 111_500))
    state = replay(four_months(*payments), d("2024-02-20"))
    _, _, third, fourth = state.instalments
    assert (third.interest_due, third.principal_paid, third.settled_date) == (
        1_500,
        100_000,
        d("2024-02-20"),
    )
    assert (fourth.principal_paid, fourth.interest_due) == (60_000, 400)
    # Closing before Mar 1 costs the 40_000 of principal left, not instalment 4's interest.
    assert state.payoff_amount == 40_000
    closed = replay(four_months(*payments, pay(4, APR1, 40_400)), APR1)
    assert closed.status is LoanStatus.PAID_OFF
    # Saved: 1_000 - 400 on instalment 4 and 2_000 - 1_500 on instalment 3.
    assert closed.total_paid == 410_000 - 1_100


def test_prepaying_the_whole_last_instalment_shortens_the_term_and_waives_its_fee() -> None:
    with_fees = instalments(
        (JAN1, 100_000, 4_000, 500),
        (FEB1, 100_000, 3_000, 500),
        (MAR1, 100_000, 2_000, 500),
        (APR1, 100_000, 1_000, 500),
    )
    # Jan 20: 203_500 = instalment 2 (103_500, settled) + 100_000 = all of instalment 4's
    # principal. Instalment 4 has nothing outstanding in its period: interest and fee
    # dropped. Instalment 3: interest
    # 2_000 x 100/200 = 1_000; its fee stays. Instalment 2 keeps its 3_000.
    payments = (pay(1, JAN1, 104_500), pay(2, "2024-01-20", 203_500))
    state = replay(loan(with_fees, *payments), d("2024-01-20"))
    _, second, third, fourth = state.instalments
    assert (fourth.interest_due, fourth.fee_due, fourth.settled_date) == (0, 0, d("2024-01-20"))
    assert (third.interest_due, third.fee_due) == (1_000, 500)
    assert (second.interest_due, second.fee_due) == (3_000, 500)
    paid = replay(loan(with_fees, *payments, pay(3, MAR1, 101_500)), MAR1)
    assert paid.status is LoanStatus.PAID_OFF
    assert paid.paid_off_date == MAR1  # three months, not four
    assert paid.total_paid == 412_000 - 2_500


def test_closing_within_a_period_costs_the_same_however_the_money_is_split() -> None:
    # Jan 10, after instalment 1: the payoff amount is 202_000 (instalment 2's interest and
    # the 200_000 of principal left), and paying it closes the loan at once. 150_000 does
    # not: it settles instalment 2 (interest 2_000, principal 100_000) and takes 48_000
    # off instalment 3, whose interest becomes 1_000 x 52_000 / 100_000 = 520. The payoff
    # amount is then 52_000, and paying it before Feb 1 closes the loan for 202_000 in all.
    first = pay(1, JAN1, 103_000)
    assert replay(three_months(first), d("2024-01-10")).payoff_amount == 202_000
    whole = replay(three_months(first, pay(2, "2024-01-10", 202_000)), FEB1)
    assert whole.status is LoanStatus.PAID_OFF
    assert (whole.total_paid, whole.credit) == (305_000, 0)
    part = replay(three_months(first, pay(2, "2024-01-10", 150_000)), d("2024-01-10"))
    assert part.status is LoanStatus.CURRENT
    assert part.instalments[1].settled_date == d("2024-01-10")
    assert (part.instalments[2].principal_paid, part.instalments[2].interest_due) == (
        48_000,
        520,
    )
    assert part.payoff_amount == 52_000
    split = replay(
        three_months(first, pay(2, "2024-01-10", 150_000), pay(3, "2024-01-25", 52_000)), FEB1
    )
    assert split.status is LoanStatus.PAID_OFF
    assert split.credit == 0
    assert [s.interest_due for s in split.instalments] == [3_000, 2_000, 0]
    assert split.total_paid == whole.total_paid
    # Not closed by Feb 1: instalment 3's period has started and its 520 of interest is
    # owed, with the 52_000 of principal left.
    late = replay(three_months(first, pay(2, "2024-01-10", 150_000)), FEB1)
    assert late.payoff_amount == 52_520


# --------------------------------------------------------------------------- payoff


def test_payoff_amount_closes_the_loan_and_money_beyond_it_becomes_credit() -> None:
    before = replay(three_months(pay(1, JAN1, 103_000)), d("2024-01-10"))
    assert before.payoff_amount == 202_000
    inp = three_months(pay(1, JAN1, 103_000), pay(2, "2024-01-10", 202_500))
    state = replay(inp, d("2024-01-10"))
    assert state.status is LoanStatus.PAID_OFF
    assert state.paid_off_date == d("2024-01-10")
    assert state.credit == 500
    # Instalment 2's interest (period under way) is paid; instalment 3's is waived.
    assert [s.interest_due for s in state.instalments] == [3_000, 2_000, 0]
    assert [s.interest_paid for s in state.instalments] == [3_000, 2_000, 0]
    assert allocated(state) + state.credit == state.total_paid == 305_500
    # A payment after payoff is held as credit too.
    later = replay(
        three_months(pay(1, JAN1, 103_000), pay(2, "2024-01-10", 202_500), pay(3, FEB1, 1_000)),
        FEB1,
    )
    assert later.credit == 1_500
    assert later.paid_off_date == d("2024-01-10")


def test_payoff_mid_period_charges_the_current_interest_once_even_if_paid_early() -> None:
    # Jan 10: 30_000 early to instalment 2 (current): interest 2_000, principal 28_000.
    # Jan 20: payoff = remaining principal 72_000 + 100_000; instalment 2's interest is
    # already paid (not refunded, not charged again), instalment 3's is not charged.
    early = (pay(1, JAN1, 103_000), pay(2, "2024-01-10", 30_000))
    owed = replay(three_months(*early), d("2024-01-20")).payoff_amount
    assert owed == 172_000
    state = replay(three_months(*early, pay(3, "2024-01-20", owed)), d("2024-01-20"))
    assert state.status is LoanStatus.PAID_OFF
    assert state.credit == 0
    assert [s.interest_due for s in state.instalments] == [3_000, 2_000, 0]
    assert [s.interest_paid for s in state.instalments] == [3_000, 2_000, 0]
    assert [s.principal_paid for s in state.instalments] == [100_000] * 3
    # The same as paying the 202_000 on Jan 10 in one go.
    assert state.total_paid == 305_000
    # From Feb 1 instalment 2 is due (72_000 unpaid) and instalment 3's period is under way.
    assert replay(three_months(*early), FEB1).payoff_amount == 172_000 + 1_000


def test_payoff_of_a_delinquent_loan_covers_overdue_interest_and_penalty() -> None:
    # Feb 15, nothing paid: instalments 1 and 2 (205_000) with their penalty (2_950),
    # instalment 3's interest (its period started on Feb 1) and its principal.
    owed = replay(three_months(), d("2024-02-15")).payoff_amount
    assert owed == 205_000 + 2_950 + 1_000 + 100_000
    state = replay(three_months(pay(1, "2024-02-15", owed)), d("2024-02-15"))
    assert state.status is LoanStatus.PAID_OFF
    assert state.credit == 0
    assert state.instalments[2].interest_paid == 1_000


def test_repaying_the_last_principal_closes_the_loan_despite_an_interest_only_tail() -> None:
    # An odd schedule: all principal in instalment 1, interest-only instalments after it.
    # Jan 10: instalment 1 is due and instalment 2's period is under way. Paying the payoff
    # amount must close the loan, so instalment 3, which has no principal outstanding in
    # its period, is dropped (rule 2c).
    odd = instalments((JAN1, 100_000, 0, 0), (FEB1, 0, 1_000, 0), (MAR1, 0, 1_000, 100))
    owed = replay(loan(odd), d("2024-01-10")).payoff_amount
    assert owed == 100_000 + 9 * 50 + 1_000  # principal, 9 days of penalty, instalment 2
    state = replay(loan(odd, pay(1, "2024-01-10", owed)), d("2024-01-10"))
    assert state.status is LoanStatus.PAID_OFF
    assert state.credit == 0
    assert [(s.interest_due, s.fee_due) for s in state.instalments] == [
        (0, 0),
        (1_000, 0),
        (0, 0),
    ]
    # Paying only what is due leaves instalment 2 to fall due: the loan stays open.
    due_only = replay(loan(odd, pay(1, "2024-01-10", 100_450)), d("2024-01-10"))
    assert due_only.status is LoanStatus.CURRENT
    assert due_only.payoff_amount == 1_000


# --------------------------------------------------------------------------- penalty


def test_penalty_is_charged_for_each_day_late_including_the_payment_day() -> None:
    # Paid on Jan 2, one day late: one day of penalty (50) on 100_000.
    state = replay(three_months(pay(1, "2024-01-02", 103_050)), d("2024-01-20"))
    first = state.instalments[0]
    assert (first.penalty_accrued, first.settled_date) == (50, d("2024-01-02"))
    # Days past due is an end-of-day view: cured the same day, never past due.
    assert state.worst_days_past_due == 0


def test_penalty_stops_at_the_cap() -> None:
    # One instalment, 100_000 principal, 0.1% a day = 100 a day, cap 5% = 5_000: reached
    # after 50 days, on Feb 20 (30 days of January + 20 of February).
    bullet = instalments((JAN1, 100_000, 1_000, 0))
    rules = ProductRules(penalty_daily_rate=Decimal("0.001"), penalty_cap_ratio=Decimal("0.05"))
    assert replay(loan(bullet, rules=rules), d("2024-02-19")).penalty_outstanding == 4_900
    assert replay(loan(bullet, rules=rules), d("2024-02-20")).penalty_outstanding == 5_000
    assert replay(loan(bullet, rules=rules), d("2025-06-01")).penalty_outstanding == 5_000


def test_penalty_cap_is_floored_and_never_exceeded_by_rounding() -> None:
    # Three instalments of 33_333/33_333/33_334 at 0.0123% a day; cap 0.0123% x 100_000 =
    # 12.3 -> 12. Each instalment's exact accrual rounds up, but the total stays at 12.
    rows = instalments((JAN1, 33_333, 0, 0), (FEB1, 33_333, 0, 0), (MAR1, 33_334, 0, 0))
    rules = ProductRules(
        penalty_daily_rate=Decimal("0.000123"), penalty_cap_ratio=Decimal("0.000123")
    )
    state = replay(loan(rows, rules=rules), d("2024-12-31"))
    assert state.penalty_outstanding == 12


def test_penalty_does_not_depend_on_how_many_posting_events_there_are() -> None:
    # 100_600 overdue bears 50.3 a day. After 10 days: exactly 503. Eight probe payments of
    # 1 (each pays only penalty) post penalty on Jan 3..Jan 10; rounding each period on its
    # own would lose 0.3 a day, but the ledger rounds the exact running total: still 503.
    bullet = instalments((JAN1, 100_600, 0, 0))
    plain = replay(loan(bullet), d("2024-01-11")).instalments[0]
    probes = [pay(i, JAN1 + timedelta(days=i + 1), 1) for i in range(1, 9)]
    probed = replay(loan(bullet, *probes), d("2024-01-11")).instalments[0]
    assert plain.penalty_accrued == probed.penalty_accrued == 503
    assert probed.penalty_paid == 8
    assert probed.principal_paid == 0


# --------------------------------------------------------------------------- pause


def test_pause_freezes_days_past_due_and_penalty_then_both_resume() -> None:
    # Missed Jan 1; paused Jan 11 to Jan 21 exclusive: 10 days.
    pause = (Pause(d("2024-01-11"), d("2024-01-21"), "hardship"),)
    inp = three_months(pauses=pause)
    assert replay(inp, d("2024-01-10")).days_past_due == 9
    during = replay(inp, d("2024-01-15"))
    assert (during.days_past_due, during.paused) == (9, True)
    assert replay(inp, d("2024-01-20")).days_past_due == 9
    after = replay(inp, d("2024-01-21"))
    assert (after.days_past_due, after.paused) == (10, False)
    state = replay(inp, d("2024-01-31"))
    assert state.days_past_due == 20  # 30 days minus the 10 paused
    assert state.instalments[0].penalty_accrued == 20 * 50
    # The line climbs to 9 on Jan 10, stays flat through the pause, climbs again from Jan 21.
    assert state.dpd_points == (
        (START, 0),
        (JAN1, 0),
        (d("2024-01-10"), 9),
        (d("2024-01-20"), 9),
        (d("2024-01-31"), 20),
    )


def test_open_ended_pause_freezes_days_past_due_for_good() -> None:
    state = replay(three_months(pauses=(Pause(d("2024-01-11")),)), d("2024-06-01"))
    # Instalment 1 stopped at 9 days; later instalments fell due inside the pause.
    assert state.days_past_due == 9
    assert state.penalty_outstanding == 9 * 50


# --------------------------------------------------------------------------- charge-off


def test_charge_off_status_stops_penalty_and_recoveries_are_still_allocated() -> None:
    inp = three_months(charged_off_date=d("2024-01-20"))
    state = replay(inp, d("2024-02-15"))
    assert state.status is LoanStatus.CHARGED_OFF
    assert state.days_past_due == 45  # days past due keeps counting
    # Penalty only for (Jan 1, Jan 20] = 19 days on instalment 1; none on instalment 2.
    assert [s.penalty_accrued for s in state.instalments] == [950, 0, 0]
    assert replay(inp, d("2024-01-19")).status is LoanStatus.DELINQUENT
    # A recovery of 50_000: penalty 950, interest 3_000, principal 46_050.
    recovered = replay(
        three_months(pay(1, "2024-02-10", 50_000), charged_off_date=d("2024-01-20")),
        d("2024-02-15"),
    )
    assert recovered.instalments[0].principal_paid == 46_050
    assert recovered.status is LoanStatus.CHARGED_OFF
    # Paid in full after charge-off: paid off wins.
    owed = state.payoff_amount
    closed = replay(
        three_months(pay(1, "2024-02-15", owed), charged_off_date=d("2024-01-20")),
        d("2024-02-15"),
    )
    assert closed.status is LoanStatus.PAID_OFF


# --------------------------------------------------------------------------- history


def test_back_dated_payment_recomputes_history_as_if_it_had_been_there_from_the_start() -> None:
    as_of = d("2024-02-15")
    late_record = pay(1, "2024-02-10", 50_000)
    before = replay(three_months(late_record), as_of)
    assert before.history[-1] == BucketSpell("M2", FEB1, None)
    # Recorded later (id 2) but dated Jan 5: penalty 4 days x 50 = 200 settles instalment 1.
    back_dated = pay(2, "2024-01-05", 103_200)
    after = replay(three_months(late_record, back_dated), as_of)
    # Feb 10: 50_000 to instalment 2 (penalty 9 x 50 = 450, interest 2_000, principal
    # 47_550), still past due since Feb 1: 14 days on Feb 15.
    assert after.history == (
        BucketSpell("C", START, d("2024-01-02")),
        BucketSpell("M1", d("2024-01-02"), d("2024-01-05")),
        BucketSpell("C", d("2024-01-05"), d("2024-02-02")),
        BucketSpell("M1", d("2024-02-02"), None),
    )
    assert after.days_past_due == 14
    from_the_start = replay(
        three_months(pay(1, "2024-01-05", 103_200), pay(2, "2024-02-10", 50_000)), as_of
    )
    assert after == from_the_start


def test_reversed_payment_equals_a_payment_never_recorded() -> None:
    as_of = d("2024-02-15")
    reversed_ = replay(three_months(pay(1, JAN1, 103_000, reversed_=True)), as_of)
    assert reversed_ == replay(three_months(), as_of)
    assert reversed_.total_paid == 0


def test_payments_after_as_of_are_not_yet_seen() -> None:
    inp = three_months(pay(1, "2024-01-20", 103_000))
    assert replay(inp, d("2024-01-19")) == replay(three_months(), d("2024-01-19"))


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"payments": (pay(1, JAN1, 0),)}, "payments[0].amount"),
        ({"payments": (pay(1, JAN1, 5), pay(2, JAN1, -1))}, "payments[1].amount"),
        ({"payments": (pay(1, "2023-11-30", 5),)}, "payments[0].paid_date"),
        ({"payments": (pay(7, JAN1, 5), pay(7, FEB1, 5))}, "payments[1].id"),
        ({"pauses": (Pause(d("2024-01-10"), d("2024-01-09")),)}, "pauses[0].end"),
        (
            {"pauses": (Pause(d("2024-01-10"), d("2024-01-20")), Pause(d("2024-01-19")))},
            "pauses",
        ),
        ({"pauses": (Pause(d("2024-01-10")), Pause(d("2024-03-01")))}, "pauses"),
        ({"schedule": ()}, "schedule"),
        ({"schedule": (THREE[1], THREE[0], THREE[2])}, "schedule[1].due_date"),
        ({"schedule": (THREE[0], THREE[0], THREE[2])}, "schedule[1].due_date"),
        ({"schedule": THREE[:2]}, "schedule"),  # principal parts sum to 200_000
        ({"charged_off_date": d("2023-11-01")}, "charged_off_date"),
    ],
)
def test_invalid_input_raises_ledger_error_naming_the_field(
    change: dict[str, object], field: str
) -> None:
    inp = replace(three_months(), **change)  # type: ignore[arg-type]
    with pytest.raises(LedgerError) as excinfo:
        replay(inp, d("2024-02-15"))
    assert excinfo.value.field == field
    assert str(excinfo.value).startswith(field)
    assert isinstance(excinfo.value, ValueError)


def test_as_of_before_the_start_date_is_refused() -> None:
    with pytest.raises(LedgerError, match=r"^as_of"):
        replay(three_months(), d("2023-11-30"))


def test_adjacent_and_empty_pauses_are_not_overlaps() -> None:
    pauses = (
        Pause(d("2024-01-10"), d("2024-01-20")),
        Pause(d("2024-01-20"), d("2024-01-25")),
        Pause(d("2024-01-15"), d("2024-01-15")),  # empty: covers no day
    )
    state = replay(three_months(pauses=pauses), d("2024-01-31"))
    assert state.days_past_due == 30 - 15
