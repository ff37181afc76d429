"""Validation of the ledger's value types: terms, buckets, product rules, ID numbers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fairdun.loans import resident_id
from fairdun.loans.terms import (
    DEFAULT_BUCKETS,
    Bucket,
    Component,
    LoanTerms,
    ProductRules,
    RepaymentMethod,
    TermsError,
    bucket_for,
    validate_buckets,
)


def terms(**kw: object) -> LoanTerms:
    values: dict[str, object] = {
        "principal": 1_000_000,
        "annual_rate": Decimal("0.18"),
        "term_months": 12,
        "start_date": date(2026, 1, 1),
        "method": RepaymentMethod.EQUAL_INSTALMENT,
    }
    values.update(kw)
    return LoanTerms(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("principal", 0, "positive"),
        ("principal", -1, "positive"),
        ("annual_rate", Decimal("1.01"), "above 100%"),
        ("annual_rate", Decimal("-0.01"), "negative"),
        ("annual_rate", 0.18, "Decimal"),
        ("term_months", 0, "between 1 and 360"),
        ("term_months", 361, "between 1 and 360"),
        ("method", "balloon", "unknown repayment method"),
        ("upfront_fee", 500_001, "half the principal"),
        ("upfront_fee", -1, "half the principal"),
        ("periodic_fee", 1_000_001, "between 0 and the principal"),
        ("currency", "rmb", "ISO 4217"),
    ],
)
def test_bad_terms_name_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(TermsError, match=message) as caught:
        terms(**{field: value})
    assert caught.value.field == field


def test_default_buckets_cover_every_day_once() -> None:
    assert validate_buckets(DEFAULT_BUCKETS) == DEFAULT_BUCKETS
    assert [bucket_for(d) for d in (0, 1, 30, 31, 60, 61, 90, 91, 180, 181, 5000)] == [
        "C",
        "M1",
        "M1",
        "M2",
        "M2",
        "M3",
        "M3",
        "M4",
        "M6",
        "M6+",
        "M6+",
    ]


@pytest.mark.parametrize(
    ("buckets", "message"),
    [
        ([], "at least one"),
        ([Bucket("C", 1, None)], "start at 0"),
        ([Bucket("C", 0, 10), Bucket("X", 5, None)], "overlap"),
        ([Bucket("C", 0, 10), Bucket("X", 12, None)], "gap"),
        ([Bucket("C", 0, 10), Bucket("X", 11, 20)], "no upper end"),
        ([Bucket("C", 0, None), Bucket("X", 11, None)], "has no upper end but"),
        ([Bucket("C", 0, 0), Bucket("C", 1, None)], "unique"),
    ],
)
def test_bad_buckets_are_refused(buckets: list[Bucket], message: str) -> None:
    with pytest.raises(TermsError, match=message):
        validate_buckets(buckets)


@given(st.lists(st.integers(1, 60), min_size=1, max_size=8), st.integers(0, 1000))
def test_any_contiguous_buckets_put_each_day_in_exactly_one(widths: list[int], day: int) -> None:
    buckets, start = [], 0
    for n, width in enumerate(widths):
        buckets.append(Bucket(f"B{n}", start, start + width - 1))
        start += width
    buckets.append(Bucket("LAST", start, None))
    ordered = validate_buckets(buckets)
    assert sum(b.contains(day) for b in ordered) == 1
    assert bucket_for(day, ordered) in {b.code for b in ordered}


def test_product_rules_refuse_a_waterfall_that_skips_a_component() -> None:
    with pytest.raises(TermsError, match="waterfall"):
        ProductRules(waterfall=(Component.PRINCIPAL, Component.INTEREST, Component.FEES))
    with pytest.raises(TermsError, match="tolerance"):
        ProductRules(tolerance=-1)
    with pytest.raises(TermsError, match="penalty_daily_rate"):
        ProductRules(penalty_daily_rate=Decimal("0.02"))


def test_resident_id_numbers_are_checked() -> None:
    assert resident_id.validate(" 11010519491231002x ") == "11010519491231002X"
    with pytest.raises(ValueError, match="check character"):
        resident_id.validate("110105194912310021")
    with pytest.raises(ValueError, match="birth date"):
        resident_id.validate("110105194913310020")
    with pytest.raises(ValueError, match="17 digits"):
        resident_id.validate("1101051949")


@given(st.text("0123456789", min_size=17, max_size=17))
def test_every_single_digit_change_of_an_id_number_is_caught(first17: str) -> None:
    number = first17 + resident_id.check_character(first17)
    for i in range(17):
        changed = first17[:i] + str((int(first17[i]) + 1) % 10) + first17[i + 1 :]
        assert resident_id.check_character(changed) != number[17]
