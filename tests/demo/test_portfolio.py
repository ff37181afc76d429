"""The demo portfolio: deterministic, valid, and rolling through the estimated matrix."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest

from fairdun.demo import portfolio
from fairdun.demo.portfolio import STATES, TRANSITIONS, DemoLoan, generate
from fairdun.loans import ledger
from fairdun.loans.schedule import add_months, build_schedule
from fairdun.loans.schemas import BorrowerCreate
from fairdun.loans.terms import LedgerInput, LoanTerms, RepaymentMethod

AS_OF = date(2026, 11, 29)
N = 5000
WORSE_THAN_30_DAYS = {"M2", "M3", "M4+"}


@pytest.fixture(scope="module")
def loans() -> tuple[DemoLoan, ...]:
    return tuple(generate(N, as_of=AS_OF))


def _digest(items: tuple[DemoLoan, ...]) -> str:
    return hashlib.sha256(repr(items).encode()).hexdigest()


def _months_since_start(loan: DemoLoan, day: date) -> int:
    start = loan.terms.start_date
    return (day.year - start.year) * 12 + day.month - start.month


def _state_dates(loan: DemoLoan) -> list[date]:
    """The date of each recorded state: the due dates, then monthly after the last one."""
    schedule = build_schedule(loan.terms)
    last = _months_since_start(loan, schedule[-1].due_date)
    return [
        schedule[k].due_date
        if k < len(schedule)
        else add_months(loan.terms.start_date, last + k - len(schedule) + 1)
        for k in range(len(loan.states))
    ]


# --------------------------------------------------------------------------- determinism


def test_same_arguments_give_identical_loans() -> None:
    first = tuple(generate(1000, as_of=AS_OF))
    again = tuple(generate(1000, as_of=AS_OF))

    assert _digest(first) == _digest(again)


def test_different_seeds_give_different_loans() -> None:
    assert _digest(tuple(generate(200, seed=1, as_of=AS_OF))) != _digest(
        tuple(generate(200, seed=2, as_of=AS_OF))
    )


def test_a_smaller_portfolio_is_a_prefix_of_a_larger_one() -> None:
    assert tuple(generate(50, as_of=AS_OF)) == tuple(generate(100, as_of=AS_OF))[:50]


def test_refuses_a_negative_count_and_no_lenders() -> None:
    with pytest.raises(ValueError, match="n_loans"):
        generate(-1, as_of=AS_OF)
    with pytest.raises(ValueError, match="lender"):
        generate(10, lenders=(), as_of=AS_OF)


def test_spreads_loans_over_the_lenders_given() -> None:
    lenders = Counter(loan.lender for loan in generate(300, lenders=("a", "b", "c"), as_of=AS_OF))

    assert set(lenders) == {"a", "b", "c"}
    assert min(lenders.values()) > 50


# --------------------------------------------------------------------------- terms


def test_every_loan_has_valid_realistic_terms(loans: tuple[DemoLoan, ...]) -> None:
    for loan in loans:
        terms = loan.terms
        assert isinstance(terms, LoanTerms)
        dataclasses.replace(terms)  # runs LoanTerms validation again
        assert 1_000_00 <= terms.principal <= 200_000_00
        assert Decimal("0.072") <= terms.annual_rate <= Decimal("0.36")
        assert terms.term_months in {3, 6, 12, 24, 36}
        assert terms.currency == "CNY"
        assert AS_OF - timedelta(days=1096) <= terms.start_date < AS_OF
        assert loan.product_code in {p.code for p in portfolio.PRODUCTS}


def test_methods_are_mostly_equal_instalment_and_fees_are_some(
    loans: tuple[DemoLoan, ...],
) -> None:
    methods = Counter(loan.terms.method for loan in loans)

    assert set(methods) == set(RepaymentMethod)
    assert methods[RepaymentMethod.EQUAL_INSTALMENT] > N / 2
    assert 0 < sum(loan.terms.upfront_fee > 0 for loan in loans) < N / 5
    assert 0 < sum(loan.terms.periodic_fee > 0 for loan in loans) < N / 10


# --------------------------------------------------------------------------- payments


def test_every_payment_is_positive_and_between_start_and_as_of(
    loans: tuple[DemoLoan, ...],
) -> None:
    for loan in loans:
        ids = [p.id for p in loan.payments]
        assert len(set(ids)) == len(ids)
        for payment in loan.payments:
            assert payment.amount > 0
            assert loan.terms.start_date < payment.paid_date <= AS_OF
            assert not payment.reversed
            if loan.charged_off_date is not None:
                assert payment.paid_date <= loan.charged_off_date


def test_the_ledger_sees_the_state_path_the_generator_drew(
    loans: tuple[DemoLoan, ...],
) -> None:
    """Replayed by the platform's own ledger, the payments put each loan in the drawn state
    15 days after each due date (the moment a state describes), for the first 1,000 loans
    without a hardship pause (a pause stops the days-past-due clock)."""
    as_state = {"M4": "M4+", "M5": "M4+", "M6": "M4+", "M6+": "M4+"}
    checked = 0
    for loan in loans[:1000]:
        if loan.pauses:
            continue
        state = ledger.replay(
            LedgerInput(
                terms=loan.terms,
                schedule=build_schedule(loan.terms),
                payments=loan.payments,
                charged_off_date=loan.charged_off_date,
            ),
            AS_OF,
        )
        for drawn, due in zip(loan.states, _state_dates(loan), strict=True):
            day = due + timedelta(days=15)
            if day > AS_OF:
                continue
            spell = next(
                s for s in state.history if s.entered <= day and (s.left is None or day < s.left)
            )
            assert as_state.get(spell.bucket, spell.bucket) == drawn, (loan.external_id, due)
            checked += 1
    assert checked > 5000


# --------------------------------------------------------------------------- rolling


def test_states_take_only_transitions_the_matrix_allows(loans: tuple[DemoLoan, ...]) -> None:
    for loan in loans:
        assert set(loan.states) <= set(STATES)
        for before, after in itertools.pairwise(("C", *loan.states)):
            assert TRANSITIONS[before][after] > 0, (loan.external_id, before, after)


def test_matrix_rows_sum_to_one() -> None:
    for row in TRANSITIONS.values():
        assert sum(round(p * 10_000) for p in row.values()) == 10_000


def _hit_worse_than_30_days(steps: int) -> float:
    """Chance that the matrix chain, started in C, reaches M2 or worse within ``steps``."""
    # Only C and M1 can be in before the first hit: evolve those two, the rest is absorbed.
    c, m1 = 1.0, 0.0
    for _ in range(steps):
        c, m1 = (
            c * TRANSITIONS["C"]["C"] + m1 * TRANSITIONS["M1"]["C"],
            c * TRANSITIONS["C"]["M1"] + m1 * TRANSITIONS["M1"]["M1"],
        )
    return 1.0 - c - m1


def test_share_ever_more_than_30_days_late_is_what_the_matrix_predicts(
    loans: tuple[DemoLoan, ...],
) -> None:
    """For loans with a monthly schedule, every due date up to as_of is one step of the
    chain exactly as the matrix says (each drawn state can be paid into), so a loan with k
    past due dates has reached M2+ (more than 30 days late) with probability at least
    h(k), the chance the chain hits M2+ within k steps. After maturity it can only roll on
    while still behind, and there it goes to M2 no more often than the matrix says, so the
    chance is at most h(K), K every month from the start to as_of. Charge-off needs M4+, so
    it stops no loan before its first M2. The observed share must lie within those bounds,
    widened by four standard errors of a share."""
    monthly = [loan for loan in loans if loan.terms.method is not RepaymentMethod.BULLET]
    low = high = 0.0
    hits = 0
    for loan in monthly:
        due = sum(1 for i in build_schedule(loan.terms) if i.due_date <= AS_OF)
        months = _months_since_start(loan, AS_OF)
        if add_months(loan.terms.start_date, months) > AS_OF:
            months -= 1
        low += _hit_worse_than_30_days(due)
        high += _hit_worse_than_30_days(months)
        hits += bool(WORSE_THAN_30_DAYS & set(loan.states))
    n = len(monthly)
    share = hits / n
    margin = 4 * math.sqrt(0.25 / n)
    assert low / n - margin <= share <= high / n + margin
    # With this matrix and these terms the share is a little over a fifth: credit card
    # behaviour, worse than a prime instalment book.
    assert 0.15 < share < 0.30


def test_some_loans_are_disputed_paused_charged_off_and_placed(
    loans: tuple[DemoLoan, ...],
) -> None:
    disputed = sum(loan.disputed for loan in loans)
    paused = [loan for loan in loans if loan.pauses]
    charged_off = [loan for loan in loans if loan.charged_off_date is not None]
    past_90 = [loan for loan in loans if "M4+" in loan.states]
    placed = [loan for loan in loans if loan.placed_with_agency]

    # Shares drawn independently per loan: about 3% and 2% of 5,000, within 4 sigma.
    assert 0.03 * N - 4 * math.sqrt(0.03 * N) < disputed < 0.03 * N + 4 * math.sqrt(0.03 * N)
    assert 0.02 * N - 4 * math.sqrt(0.02 * N) < len(paused) < 0.02 * N + 4 * math.sqrt(0.02 * N)
    assert charged_off
    assert placed
    assert {loan.external_id for loan in placed} <= {loan.external_id for loan in past_90}
    assert len(placed) < 0.25 * len(past_90)


def test_charged_off_loans_spent_three_months_in_m4_plus(loans: tuple[DemoLoan, ...]) -> None:
    for loan in loans:
        if loan.charged_off_date is not None:
            assert loan.states[-portfolio.CHARGE_OFF_AFTER_MONTHS :] == ("M4+",) * 3
            assert loan.terms.start_date < loan.charged_off_date <= AS_OF


def test_hardship_pauses_last_30_to_90_days(loans: tuple[DemoLoan, ...]) -> None:
    for loan in loans:
        for pause in loan.pauses:
            assert pause.reason == "hardship"
            assert pause.end is not None
            assert 30 <= (pause.end - pause.start).days <= 90
            assert loan.terms.start_date < pause.start <= AS_OF


# --------------------------------------------------------------------------- borrowers


def _gb11643_valid(number: str) -> bool:
    """ISO 7064 MOD 11-2 as GB 11643 states it: weights 2^(17-i) mod 11, and the check
    character makes the weighted sum of all 18 (X = 10, weight 1) equal to 1 mod 11."""
    values = [10 if c == "X" else int(c) for c in number]
    weights = [pow(2, 17 - i, 11) for i in range(18)]
    return sum(v * w for v, w in zip(values, weights, strict=True)) % 11 == 1


def test_fake_id_numbers_pass_the_gb11643_check_and_are_visibly_fake(
    loans: tuple[DemoLoan, ...],
) -> None:
    for loan in loans:
        number = loan.borrower.id_number
        assert len(number) == 18 and number[:17].isdigit()
        assert _gb11643_valid(number), number
        assert number.startswith("99")  # no province has code 99
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        age_at_start = (loan.terms.start_date - birth).days / 365.25
        assert 19 < age_at_start < 61


def test_the_check_used_here_catches_a_wrong_character() -> None:
    assert _gb11643_valid("11010519491231002X")  # the example printed in GB 11643-1999
    assert not _gb11643_valid("110105194912310021")


def test_no_two_borrowers_or_loans_share_an_external_id(loans: tuple[DemoLoan, ...]) -> None:
    assert len({loan.borrower.external_id for loan in loans}) == N
    assert len({loan.external_id for loan in loans}) == N


def test_borrowers_are_accepted_by_the_borrower_schema(loans: tuple[DemoLoan, ...]) -> None:
    for loan in loans[:500]:
        b = loan.borrower
        BorrowerCreate(
            external_id=b.external_id,
            name=b.name,
            id_number=b.id_number,
            phone=b.phone,
            email=b.email,
            address=b.address,
        )
        assert 2 <= len(b.name) <= 3
        assert b.email.endswith("@example.com")
        assert b.address.startswith(b.city)
