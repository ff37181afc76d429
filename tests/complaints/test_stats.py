"""The arithmetic of the dashboard and the public statistics, on hand-computed cases."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from fairdun.complaints import public, stats
from fairdun.complaints.stats import compliance_score, suppress_row
from fairdun.loans import apr
from fairdun.loans.terms import Instalment, LoanTerms, RepaymentMethod


def test_a_cell_of_nine_is_hidden_and_a_cell_of_ten_shown() -> None:
    row = suppress_row("x", [9, 10], with_total=False)
    assert row.cells == (None, 10)
    assert suppress_row("x", [0], with_total=False).cells == (None,)  # zero is below 10 too


def test_a_total_below_ten_is_hidden() -> None:
    row = suppress_row("x", [4, 5])
    assert row.cells == (None, None)
    assert row.total is None


def test_one_hidden_cell_hides_the_smallest_other_so_the_total_does_not_give_it_away() -> None:
    row = suppress_row("x", [3, 12, 40, 11])
    assert row.total == 66
    assert row.cells == (None, 12, 40, None)  # 11 is the smallest shown: hidden as well
    # Two hidden cells cannot be told apart from the total: nothing more is hidden.
    assert suppress_row("x", [3, 4, 40, 11]).cells == (None, None, 40, 11)
    # Nothing hidden, nothing more to hide.
    assert suppress_row("x", [10, 10]).cells == (10, 10)


def test_the_score_on_a_hand_computed_case() -> None:
    # D = 3/4, 25 complaints per 10k loans -> V = 1 - 25/50 = 0.5, U = 1 - 1/2, G = 1 - 1/10
    # 100 × (0.4·0.75 + 0.3·0.5 + 0.2·0.5 + 0.1·0.9) = 100 × 0.64
    assert compliance_score(0.75, 25.0, 0.5, 0.1) == 64.0


def test_parts_without_data_are_left_out_and_the_weights_scaled() -> None:
    # Only D (0.4) and G (0.1): (0.4·0.5 + 0.1·1.0) / 0.5 = 0.6
    assert compliance_score(0.5, None, None, 0.0) == 60.0
    assert compliance_score(None, None, None, None) is None
    # 50 or more complaints per 10k loans: the volume part is 0, never negative.
    assert compliance_score(None, 50.0, None, None) == 0.0
    assert compliance_score(None, 400.0, None, None) == 0.0
    assert compliance_score(None, 0.0, None, None) == 100.0


def test_institution_figures_feed_the_score() -> None:
    f = stats.InstitutionFigures(1, "甲", "bank", "active", "北京")
    f.complaints, f.loans = 5, 2000  # 25 per 10k
    f.due, f.on_time = 4, 3
    f.answered, f.upheld = 2, 1
    f.gate_decisions, f.gate_denials = 10, 1
    assert f.per_10k == 25.0
    assert f.score == 64.0


def test_region_comes_from_the_credit_code() -> None:
    assert stats.region_of("91110000100000001X") == "北京"
    assert stats.region_of("91440300MA5EXAMPLE") == "广东"
    assert stats.region_of("91990000100000001X") == stats.UNKNOWN_REGION
    assert stats.region_of("") == stats.UNKNOWN_REGION


def test_months_and_quarters_are_counted_in_beijing_time() -> None:
    # 2026-12-31 17:00 UTC is already 2027-01-01 in Beijing.
    late = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    assert stats.month_of(late) == "2027-01"
    assert stats.quarter_of(late) == "2027-Q1"
    assert stats.last_quarters(late, 4) == ["2026-Q2", "2026-Q3", "2026-Q4", "2027-Q1"]
    assert stats.last_months(late, 3) == ["2026-11", "2026-12", "2027-01"]


def test_the_calculator_is_the_ledgers_apr_on_a_known_case() -> None:
    """10,000 yuan repaid in 12 monthly payments of 1,000: a monthly IRR of 2.9229%,
    35.07% a year (nominal), as any spreadsheet's RATE(12, -1000, 10000) × 12 says."""
    cost = public.true_cost(public.parse_offer("10000", "", "12", "1000"), date(2026, 12, 1))
    terms = LoanTerms(
        principal=1_000_000,
        annual_rate=Decimal(0),
        term_months=12,
        start_date=date(2026, 12, 1),
        method=RepaymentMethod.EQUAL_INSTALMENT,
    )
    flat = [Instalment(k, date(2027, 1, 1), 0, 100_000) for k in range(1, 13)]
    assert cost.true_cost == apr.contract_cost(terms, flat)
    assert public.percent(cost.true_cost.nominal_apr) == "35.07%"
    assert {c.id for c in cost.exceeded} == {"cn.24pct", "cn.4x-lpr"}
    assert cost.charges == 200_000


def test_an_upfront_fee_raises_the_rate() -> None:
    with_fee = public.true_cost(public.parse_offer("10000", "500", "12", "900"), date(2026, 1, 1))
    assert public.percent(with_fee.true_cost.nominal_apr) == "24.37%"
    assert with_fee.received == 950_000
    no_cost = public.true_cost(public.parse_offer("12000", "0", "12", "1000"), date(2026, 1, 1))
    assert no_cost.true_cost.nominal_apr == 0
    assert no_cost.exceeded == ()


@pytest.mark.parametrize(
    ("amount", "fee", "n", "payment", "field"),
    [
        ("", "", "12", "100", "amount"),
        ("abc", "", "12", "100", "amount"),
        ("100.123", "", "12", "100", "amount"),
        ("1000", "", "0", "100", "instalments"),
        ("1000", "", "12", "0", "payment"),
        ("1000", "600", "12", "100", "fee"),
        ("-5", "", "12", "100", "amount"),
    ],
)
def test_bad_offers_name_the_field(amount: str, fee: str, n: str, payment: str, field: str) -> None:
    with pytest.raises(public.OfferError) as caught:
        public.parse_offer(amount, fee, n, payment)
    assert caught.value.field == field


def test_the_cap_labels_are_in_the_catalogs_list() -> None:
    assert tuple(c.label for c in apr.default_caps()) == public.CAP_LABELS
