"""Booking many new loans at once: schedules, state, bucket spells as dataframes (Polars).

The importer books the new loans of a file here, a batch of tens of thousands at a time,
instead of loan by loan. What it computes is exactly what ``service.book_loan`` computes
for a loan with no event (the closed form of ``ledger._untouched``), and
``tests/loans/test_bulk.py`` checks it against the loan-by-loan path value for value:

* **Schedules.** The amounts of a schedule (principal, interest, fee per instalment, the
  part above the binding cap) depend on the terms but not on the start date, so they are
  priced once per distinct set of terms, in Python with exact arithmetic
  (``service.price``), and joined to the loans as a *template*: one row per instalment,
  with the number of months after the start date it falls due. The due date is the start
  date moved by that many months, clamped to the end of a shorter month (Polars'
  ``offset_by``, the same rule as ``schedule.add_months``).
* **Days past due** (ledger rule 4, no payment): the first instalment whose amount exceeds
  the product's tolerance, from its due date on.
* **Penalty** (rule 3, posted once at the as-of date): ``round_half_up(principal × days
  past its due date × rate)`` per past-due instalment, in 128-bit integers, within the
  loan's cap oldest instalment first: ``min(target, max(0, cap − the targets before))``,
  which is what serving the cap instalment by instalment gives.
* **Buckets** (rule 5): a product's buckets change only at their bounds, so the spells of
  a loan are its start and ``oldest due date + t`` for each bound ``t`` up to its days
  past due where the bucket changes.

Everything here is pure: frames in, frames out; the importer does the I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import polars as pl

from fairdun.loans import service
from fairdun.loans.ledger import LoanStatus
from fairdun.loans.terms import Instalment, LoanTerms, ProductRules, bucket_changes

__all__ = [
    "ANCHOR",
    "TEMPLATE_SCHEMA",
    "Booked",
    "BucketPlan",
    "book",
    "bucket_plan",
    "priced",
    "product_frame",
    "template_rows",
]

# Pricing (the schedule's amounts, the true cost, the caps) is exact rational arithmetic,
# a few hundred microseconds a set of terms. None of it depends on the start date (amounts
# are per monthly period, and apr works on periods), so it is computed once per set of
# terms with the start date set to ANCHOR and shared: a book repeats its products' prices
# and round principals. Bounded; the importer clears it after each import.
ANCHOR = date(2000, 1, 1)


@functools.lru_cache(maxsize=65_536)
def priced(undated: LoanTerms, caps: service.CapPolicy) -> service.Pricing:
    """``service.price`` of terms whose start date is ``ANCHOR``, cached."""
    return service.price(undated, caps)


TEMPLATE_SCHEMA = {
    "key_id": pl.Int64,
    "number": pl.Int64,
    "months": pl.Int64,
    "principal": pl.Int64,
    "interest": pl.Int64,
    "fee": pl.Int64,
    "not_collectable": pl.Int64,
}


def template_rows(
    key_id: int,
    schedule: Sequence[Instalment],
    excess: Sequence[int],
    term_months: int,
    bullet: bool,
) -> list[tuple[int, ...]]:
    """The template of one priced schedule, in ``TEMPLATE_SCHEMA`` order. A bullet loan's
    single instalment falls due ``term_months`` after the start; instalment k of the
    other methods k months after it (``schedule.add_months``)."""
    return [
        (key_id, i.number, term_months if bullet else i.number, i.principal, i.interest, i.fee, x)
        for i, x in zip(schedule, excess, strict=True)
    ]


@dataclass(frozen=True)
class BucketPlan:
    """Where a product's bucket changes as days past due climb from 0."""

    product_id: int
    first: str  # the bucket of 0 days past due
    changes: tuple[tuple[int, str], ...]  # (days past due, bucket entered), ascending


def bucket_plan(product_id: int, rules: ProductRules) -> BucketPlan:
    first, changes = bucket_changes(rules.buckets)
    return BucketPlan(product_id, first, changes)


def product_frame(rules_by_id: dict[int, ProductRules]) -> pl.DataFrame:
    """Per product: tolerance, penalty rate and cap ratio as exact integer ratios."""
    rows = []
    for product_id, rules in rules_by_id.items():
        rate_num, rate_den = rules.penalty_daily_rate.as_integer_ratio()
        cap_num, cap_den = rules.penalty_cap_ratio.as_integer_ratio()
        rows.append((product_id, rules.tolerance, rate_num, rate_den, cap_num, cap_den))
    return pl.DataFrame(
        rows,
        schema={
            "product_id": pl.Int64,
            "tolerance": pl.Int64,
            "rate_num": pl.Int128,
            "rate_den": pl.Int128,
            "cap_num": pl.Int128,
            "cap_den": pl.Int128,
        },
        orient="row",
    )


@dataclass(frozen=True)
class Booked:
    """``loans``: one row per loan (``idx`` and the state columns); ``instalments`` and
    ``spells``: rows keyed by ``idx``, ready for their tables once ``loan_id`` is known."""

    loans: pl.DataFrame
    instalments: pl.DataFrame
    spells: pl.DataFrame


def book(
    loans: pl.DataFrame,
    templates: pl.DataFrame,
    products: pl.DataFrame,
    plans: dict[int, BucketPlan],
    as_of: date,
) -> Booked:
    """Schedules and state as of ``as_of`` of loans without events.

    ``loans`` has ``idx`` (unique), ``key_id`` (its template), ``product_id``,
    ``principal`` and ``start_date``; ``templates`` has ``TEMPLATE_SCHEMA``.
    """
    day = pl.lit(as_of, dtype=pl.Date)
    lines = (
        loans.select(
            "idx",
            "key_id",
            "product_id",
            "start_date",
            pl.col("principal").alias("loan_principal"),
        )
        .join(templates, on="key_id", how="inner")
        .join(products, on="product_id", how="left")
        .sort("idx", "number")
        .with_columns(
            pl.col("start_date").dt.offset_by(pl.format("{}mo", pl.col("months"))).alias("due_date")
        )
        .with_columns(
            (pl.col("principal") + pl.col("interest") + pl.col("fee")).alias("amount"),
            (pl.col("due_date") < day).alias("overdue"),
            (day - pl.col("due_date")).dt.total_days().alias("days_over"),
        )
    )
    target = (
        pl.when(pl.col("overdue") & (pl.col("principal") > 0))
        .then(
            (
                2 * pl.col("principal").cast(pl.Int128) * pl.col("days_over") * pl.col("rate_num")
                + pl.col("rate_den")
            )
            // (2 * pl.col("rate_den"))
        )
        .otherwise(0)
        .cast(pl.Int128)
    )
    cap = pl.col("loan_principal").cast(pl.Int128) * pl.col("cap_num") // pl.col("cap_den")
    lines = lines.with_columns(target.alias("target")).with_columns(
        pl.min_horizontal(
            pl.col("target"),
            (cap - (pl.col("target").cum_sum().over("idx") - pl.col("target"))).clip(lower_bound=0),
        )
        .cast(pl.Int64)
        .alias("penalty"),
        pl.col("due_date")
        .filter(pl.col("amount") > pl.col("tolerance"))
        .min()
        .over("idx")
        .alias("oldest"),
        pl.col("number").filter(pl.col("due_date") > day).min().over("idx").alias("current"),
    )
    owed = pl.col("amount") + pl.col("penalty")
    payoff_part = (
        pl.when(pl.col("due_date") <= day)
        .then(owed)
        .when(pl.col("number") == pl.col("current"))
        .then(pl.col("amount"))
        .otherwise(pl.col("principal"))
    )
    state = lines.group_by("idx").agg(
        pl.col("product_id").first(),
        pl.col("start_date").first(),
        pl.col("loan_principal").first(),
        pl.col("oldest").first(),
        pl.col("principal").filter(pl.col("overdue")).sum().alias("overdue_principal"),
        pl.col("interest").filter(pl.col("overdue")).sum().alias("overdue_interest"),
        pl.col("fee").filter(pl.col("overdue")).sum().alias("overdue_fees"),
        pl.col("penalty").sum().alias("penalty_total"),
        payoff_part.sum().alias("payoff_amount"),
        owed.sum().alias("owed"),
    )
    dpd = (
        pl.when(pl.col("oldest") < day)
        .then((day - pl.col("oldest")).dt.total_days())
        .otherwise(0)
        .fill_null(0)
    )
    state = state.with_columns(dpd.alias("days_past_due"))

    spells = _spells(state, plans)
    bucket = spells.group_by("idx").agg(pl.col("bucket").last())
    paid_off = pl.col("owed") == 0
    loans_out = (
        state.join(bucket, on="idx", how="left")
        .with_columns(
            pl.lit(as_of, dtype=pl.Date).alias("state_as_of"),
            pl.when(paid_off)
            .then(pl.lit(LoanStatus.PAID_OFF.value))
            .when(pl.col("days_past_due") > 0)
            .then(pl.lit(LoanStatus.DELINQUENT.value))
            .otherwise(pl.lit(LoanStatus.CURRENT.value))
            .alias("status"),
            pl.col("days_past_due").alias("worst_days_past_due"),
            pl.lit(False).alias("paused"),
            pl.col("loan_principal").alias("outstanding_principal"),
            (
                pl.col("overdue_principal")
                + pl.col("overdue_interest")
                + pl.col("overdue_fees")
                + pl.col("penalty_total")
            ).alias("amount_past_due"),
            pl.lit(0, dtype=pl.Int64).alias("credit"),
            pl.lit(0, dtype=pl.Int64).alias("total_paid"),
            pl.when(paid_off).then(pl.col("start_date")).alias("paid_off_date"),
        )
        .select(
            "idx",
            "state_as_of",
            "status",
            pl.col("days_past_due").cast(pl.Int64),
            pl.col("worst_days_past_due").cast(pl.Int64),
            "bucket",
            "paused",
            "outstanding_principal",
            pl.col("amount_past_due").cast(pl.Int64),
            pl.col("payoff_amount").cast(pl.Int64),
            "credit",
            "total_paid",
            "paid_off_date",
        )
        .sort("idx")
    )
    instalments = lines.select(
        "idx",
        "number",
        "due_date",
        "principal",
        "interest",
        "fee",
        "not_collectable",
        pl.col("interest").alias("interest_due"),
        pl.col("fee").alias("fee_due"),
        pl.lit(0, dtype=pl.Int64).alias("principal_paid"),
        pl.lit(0, dtype=pl.Int64).alias("interest_paid"),
        pl.lit(0, dtype=pl.Int64).alias("fee_paid"),
        pl.col("penalty").alias("penalty_accrued"),
        pl.lit(0, dtype=pl.Int64).alias("penalty_paid"),
        pl.when(owed == 0).then(pl.col("start_date")).alias("settled_date"),
    )
    return Booked(loans_out, instalments, spells)


def _spells(state: pl.DataFrame, plans: dict[int, BucketPlan]) -> pl.DataFrame:
    """The bucket history of each loan: the spell it started in, then one spell per bucket
    change its days past due have climbed through, the last one open."""
    firsts = pl.DataFrame(
        [(p.product_id, p.first) for p in plans.values()],
        schema={"product_id": pl.Int64, "bucket": pl.String},
        orient="row",
    )
    changes = pl.DataFrame(
        [(p.product_id, t, code) for p in plans.values() for t, code in p.changes],
        schema={"product_id": pl.Int64, "t": pl.Int64, "bucket": pl.String},
        orient="row",
    )
    base = state.select("idx", "product_id", pl.col("start_date").alias("entered_date")).join(
        firsts, on="product_id", how="left"
    )
    base = base.select("idx", "bucket", "entered_date", pl.lit(0, dtype=pl.Int64).alias("t"))
    climbed = (
        state.filter(pl.col("days_past_due") > 0)
        .select("idx", "product_id", "oldest", "days_past_due")
        .join(changes, on="product_id", how="inner")
        .filter(pl.col("t") <= pl.col("days_past_due"))
        .select(
            "idx",
            "bucket",
            (pl.col("oldest") + pl.duration(days=pl.col("t"))).alias("entered_date"),
            "t",
        )
    )
    return (
        pl.concat([base, climbed])
        .sort("idx", "t")
        .with_columns(pl.col("entered_date").shift(-1).over("idx").alias("left_date"))
        .select("idx", "bucket", "entered_date", "left_date")
    )
