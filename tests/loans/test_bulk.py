"""The dataframe booking of new loans (``loans.bulk``) against the loan-by-loan path.

For random terms (every method, rates up to 100%, fees, terms up to 360 months, start
dates on month ends), random product rules (tolerances, penalty rates and caps that bind,
several bucket sets) and as-of dates before, during and long after the schedule, every
column ``bulk.book`` computes must equal what booking the loan alone computes
(``service.price`` and ``ledger.replay``, itself checked against the day-by-day walk).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from fairdun.loans import bulk, ledger, service
from fairdun.loans.apr import default_caps
from fairdun.loans.schedule import build_schedule
from fairdun.loans.terms import (
    DEFAULT_BUCKETS,
    Bucket,
    LedgerInput,
    LoanTerms,
    ProductRules,
    RepaymentMethod,
)

CAPS = service.CapPolicy(default_caps()[:2], default_caps()[0])
BUCKET_SETS = [
    DEFAULT_BUCKETS,
    (Bucket("C", 0, 3), Bucket("late", 4, 9), Bucket("bad", 10, None)),
    (Bucket("C", 0, 0), Bucket("X", 1, 1), Bucket("Y", 2, 2), Bucket("Z", 3, None)),
]
RATES = ["0", "0.0001", "0.072", "0.18", "0.2399", "0.36", "1"]


@st.composite
def loan_terms(draw: st.DrawFn) -> LoanTerms:
    principal = draw(st.one_of(st.integers(1, 200), st.integers(1, 10**12)))
    method = draw(st.sampled_from(list(RepaymentMethod)))
    return LoanTerms(
        principal=principal,
        annual_rate=Decimal(draw(st.sampled_from(RATES))),
        term_months=draw(st.one_of(st.integers(1, 36), st.integers(1, 360))),
        start_date=date(2020, 1, 1) + timedelta(days=draw(st.integers(0, 2500))),
        method=method,
        upfront_fee=draw(st.sampled_from([0, principal // 100, principal // 2])),
        periodic_fee=draw(st.sampled_from([0, 1, principal // 50])),
    )


@st.composite
def products(draw: st.DrawFn) -> ProductRules:
    return ProductRules(
        tolerance=draw(st.sampled_from([0, 1, 100, 10**6])),
        buckets=draw(st.sampled_from(BUCKET_SETS)),
        penalty_daily_rate=Decimal(draw(st.sampled_from(["0", "0.0005", "0.0012345", "0.01"]))),
        penalty_cap_ratio=Decimal(draw(st.sampled_from(["0", "0.001", "0.1", "1"]))),
    )


def one_by_one(terms: LoanTerms, rules: ProductRules, as_of: date) -> dict[str, Any]:
    pricing = service.price(terms, CAPS)
    state = ledger.replay(LedgerInput(terms, pricing.schedule, rules), as_of)
    values = service.state_values(state)
    values["status"] = values["status"].value
    return {
        "loan": values,
        "instalments": [
            {
                "number": i.number,
                "due_date": i.due_date,
                "principal": i.principal,
                "interest": i.interest,
                "fee": i.fee,
                "not_collectable": x,
                **service.instalment_state_values(s),
            }
            for i, x, s in zip(pricing.schedule, pricing.excess, state.instalments, strict=True)
        ],
        "spells": [(s.bucket, s.entered, s.left) for s in state.history],
    }


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(loan_terms(), st.integers(0, 1)), min_size=1, max_size=8),
    st.lists(products(), min_size=2, max_size=2),
    st.integers(-40, 11_000),
    st.data(),
)
def test_bulk_booking_equals_booking_each_loan_alone(
    loans: list[tuple[LoanTerms, int]],
    rules: list[ProductRules],
    offset: int,
    data: st.DataObject,
) -> None:
    latest_start = max(t.start_date for t, _ in loans)
    as_of = latest_start + timedelta(days=max(offset, 0))
    if data.draw(st.booleans()):  # on a due date (and the day after): the edges of rule 4
        dues = [i.due_date for t, _ in loans for i in build_schedule(t)]
        as_of = max(latest_start, data.draw(st.sampled_from(dues)))
        as_of += timedelta(days=data.draw(st.integers(0, 1)))
    keys: dict[LoanTerms, int] = {}
    template: list[tuple[int, ...]] = []
    rows = []
    for idx, (terms, product) in enumerate(loans):
        undated = LoanTerms(**{**terms.__dict__, "start_date": date(2000, 1, 1)})
        if undated not in keys:
            keys[undated] = len(keys)
            pricing = service.price(undated, CAPS)
            template += bulk.template_rows(
                keys[undated],
                pricing.schedule,
                pricing.excess,
                terms.term_months,
                terms.method is RepaymentMethod.BULLET,
            )
        rows.append((idx, keys[undated], product + 1, terms.principal, terms.start_date))
    frame = pl.DataFrame(
        rows,
        schema={
            "idx": pl.Int64,
            "key_id": pl.Int64,
            "product_id": pl.Int64,
            "principal": pl.Int64,
            "start_date": pl.Date,
        },
        orient="row",
    )
    by_id = {1: rules[0], 2: rules[1]}
    booked = bulk.book(
        frame,
        pl.DataFrame(template, schema=bulk.TEMPLATE_SCHEMA, orient="row"),
        bulk.product_frame(by_id),
        {pid: bulk.bucket_plan(pid, r) for pid, r in by_id.items()},
        as_of,
    )
    for idx, (terms, product) in enumerate(loans):
        expected = one_by_one(terms, by_id[product + 1], as_of)
        loan = booked.loans.filter(pl.col("idx") == idx).drop("idx").to_dicts()
        assert loan == [expected["loan"]]
        instalments = booked.instalments.filter(pl.col("idx") == idx).drop("idx").to_dicts()
        assert instalments == expected["instalments"]
        spells = booked.spells.filter(pl.col("idx") == idx).drop("idx").rows()
        assert spells == expected["spells"]


def test_due_dates_clamp_to_month_ends_like_the_schedule() -> None:
    terms = LoanTerms(
        120_000, Decimal("0.12"), 13, date(2023, 1, 31), RepaymentMethod.EQUAL_PRINCIPAL
    )
    schedule = build_schedule(terms)
    booked = bulk.book(
        pl.DataFrame(
            {"idx": [0], "key_id": [0], "product_id": [1], "principal": [120_000]},
        ).with_columns(pl.lit(terms.start_date).alias("start_date")),
        pl.DataFrame(
            bulk.template_rows(0, schedule, [0] * 13, 13, False),
            schema=bulk.TEMPLATE_SCHEMA,
            orient="row",
        ),
        bulk.product_frame({1: ProductRules()}),
        {1: bulk.bucket_plan(1, ProductRules())},
        date(2024, 6, 1),
    )
    assert booked.instalments["due_date"].to_list() == [i.due_date for i in schedule]
    assert booked.instalments["due_date"].to_list()[:2] == [date(2023, 2, 28), date(2023, 3, 31)]
