"""Risk features of every loan (and borrower) as of a date, computed from the ledger in batch.

One definition serves training and scoring: ``compute_features(bind, as_of)`` gives the
features of the portfolio as the ledger stood at the end of day ``as_of``, whether that day
is today (scoring) or a month-end three years ago (a training snapshot), and
``training_frame`` is nothing but ``compute_features`` at each snapshot plus the outcome
that followed. The definitions, units and point-in-time rules are in
``docs/risk-features.md``; the essentials:

**Point in time.** Features as of ``D`` use instalments due before ``D``, payments dated on
or before ``D``, pauses as they covered the days up to ``D``, promises made on or before
``D``. Payments are taken at their ``paid_date`` (a back-dated payment counts from the day
it was made, as the ledger's replay does); a reversed payment never counts, as in the
replay, so for the days between such a payment and its reversal the features show the
delinquency that was later found to be real, not the one the system showed then.

**Days past due on a past day.** The stored instalment amounts are those of the ledger's
last replay (as of ``loans.state_as_of``, "T"). Which instalments were *settled* on a day
``d <= T`` is exact: ``settled_date <= d``. How much was still unpaid on an unsettled one is
re-derived by taking back, from the stored amounts, the money of the payments dated after
``d``, the last-allocated money first: credit, then the instalments from the last one
backwards, and inside an instalment the components in reverse waterfall order (the
*reverse fill*). For ``d >= T`` nothing is taken back, so the rule is exactly the ledger's
rule 4 on the stored amounts: scoring today gives the ledger's own days past due. For past
days it is exact whenever payments were allocated oldest instalment first (the ledger's
rule 1), and approximate only in the split of a partly paid instalment between penalty and
the rest and after a principal prepayment (see the document).

Each instalment is then past due beyond tolerance on the days ``(due_date, cure)``, where
``cure`` is the first day its unpaid principal + interest + fee is within the product's
tolerance (its settlement date at the latest); days past due on day ``d`` is the number of
unpaused days in ``(due_date, d]`` of the oldest instalment past due on ``d``, and the worst
days past due over a window is the largest unpaused count in ``(due_date, min(end, cure -
1)]`` over the instalments past due in that window, so no day-by-day expansion is needed.

**Batch.** A handful of SQL queries (SQLAlchemy Core text, the same on SQLite and
PostgreSQL, dates read as day numbers) load loans, instalments, payments, pauses and
promises into polars; everything else is polars expressions over the whole portfolio. No
Python loop runs over loans, only over partitions of ``_LOANS_PER_PARTITION`` loans (which
bound the memory; every feature is a loan's own, so the result is the same) and over the
few snapshot dates of a training frame.

Features never commit and never write; given a ``Session`` they read through its
connection (after a flush), so they see the session's own uncommitted work.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Connection, Date, Engine, bindparam, text
from sqlalchemy.orm import Session

from fairdun.risk.promises import GRACE_DAYS

__all__ = [
    "FEATURES",
    "OUTPUT_SCHEMA",
    "ROLL_DAYS",
    "TARGET",
    "WINDOWS",
    "borrower_features",
    "compute_features",
    "dpd_at",
    "latest_data_date",
    "promise_outcomes",
    "training_frame",
]

FEATURES: tuple[str, ...] = (
    "dpd_now",
    "worst_dpd_3m",
    "worst_dpd_6m",
    "worst_dpd_12m",
    "late_instalments",
    "share_paid",
    "days_since_last_payment",
    "balance",
    "utilisation",
    "promises_kept",
    "promises_broken",
    "disputes",
    "months_on_book",
    "annual_rate",
    "term_months",
)
# Worst days past due over the last N days, as_of included: the days (as_of - N, as_of].
WINDOWS: tuple[tuple[str, int], ...] = (
    ("worst_dpd_3m", 90),
    ("worst_dpd_6m", 180),
    ("worst_dpd_12m", 365),
)
TARGET = "rolled_30"
ROLL_DAYS = 30  # the early-warning event: 30 or more days past due

Bind = Engine | Connection | Session

_EPOCH = date(1970, 1, 1)
_SQLITE_EPOCH_JD = 2440587  # CAST(julianday(d) AS INTEGER) - this = days since 1970-01-01
_IDS_PER_QUERY = 5_000  # loan ids bound in one IN (...) list
_ROWS_PER_FETCH = 20_000
# Loans computed together: every feature is a loan's own, so a big portfolio is cut into
# ranges of loan ids done one at a time. That bounds the memory (polars' working space
# grows with the partition: peak RSS about 0.3 GB at 10,000 loans a partition, 0.75 GB at
# 50,000) at little cost in time (the reads dominate, and they are the same).
_LOANS_PER_PARTITION = 20_000

_ID_COLUMNS: tuple[str, ...] = ("loan_id", "borrower_id", "institution_id", "exposure")
_INT_FEATURES = frozenset(FEATURES) - {"share_paid", "balance", "utilisation", "annual_rate"}
OUTPUT_SCHEMA: dict[str, Any] = {
    **{c: pl.Int64 for c in _ID_COLUMNS},
    **{f: (pl.Int64 if f in _INT_FEATURES else pl.Float64) for f in FEATURES},
}

# Waterfall components, the instalment column holding what was paid of each, and the
# column holding the component's position in the product's waterfall.
_COMPONENTS: dict[str, tuple[str, str]] = {
    "penalty": ("penalty_paid", "w_penalty"),
    "fees": ("fee_paid", "w_fees"),
    "interest": ("interest_paid", "w_interest"),
    "principal": ("principal_paid", "w_principal"),
}


def _day(d: date) -> int:
    return (d - _EPOCH).days


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class _Book:
    """The ledger rows in scope as frames; dates are day numbers (days since 1970-01-01)."""

    loans: pl.DataFrame
    instalments: pl.DataFrame  # with the reverse-fill columns and cure_n
    cumulative: pl.DataFrame  # loan_id, paid_n, cum: replayed payments, cumulated by day
    payments: pl.DataFrame  # loan_id, paid_n, amount: every payment not reversed
    pauses: pl.DataFrame  # loan_id, start_n, end_n, dispute
    promises: pl.DataFrame  # promise_id, loan_id, made_n, promised_n, amount


@contextmanager
def _connection(bind: Bind) -> Iterator[Connection]:
    if isinstance(bind, Session):
        bind.flush()
        yield bind.connection()
    elif isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as conn:
            if conn.dialect.name == "postgresql":
                # One snapshot for the several queries (SQLite reads are not isolated so).
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            yield conn


class _Sql:
    """The only SQL that differs between SQLite and PostgreSQL: a date's day number."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def day(self, expr: str) -> str:
        if self.sqlite:
            return f"(CAST(julianday({expr}) AS INTEGER) - {_SQLITE_EPOCH_JD})"
        return f"({expr} - DATE '1970-01-01')"


@dataclass(frozen=True)
class _Scope:
    institution_id: int | None
    loan_ids: tuple[int, ...] | None
    started_by: date  # loans that started on or before this day
    open_after: date | None  # and, if given, were not paid off on or before this day
    id_range: tuple[int, int] | None = None  # a partition: loan ids first..last

    def where(self, child: str | None = None) -> str:
        """The loans of the scope (alias ``l``); ``child``, the alias of a table joined on
        ``loan_id``, gets the id conditions too, so that the database reaches its rows
        through its ``loan_id`` index instead of scanning it (PostgreSQL does not carry a
        range on ``l.id`` over to the joined column)."""
        parts = ["l.start_date <= :started_by"]
        if self.id_range is not None:
            parts.append("l.id BETWEEN :first_id AND :last_id")
            if child is not None:
                parts.append(f"{child}.loan_id BETWEEN :first_id AND :last_id")
        if self.open_after is not None:
            parts.append("(l.paid_off_date IS NULL OR l.paid_off_date > :open_after)")
        if self.institution_id is not None:
            parts.append("l.institution_id = :institution_id")
        if self.loan_ids is not None:
            parts.append("l.id IN :loan_ids")
            if child is not None:
                parts.append(f"{child}.loan_id IN :loan_ids")
        return " AND ".join(parts)

    def statements(self, sql: str) -> Iterator[tuple[Any, dict[str, Any]]]:
        """The statement and its parameters, once per chunk of loan ids."""
        params: dict[str, Any] = {"started_by": self.started_by}
        binds = [bindparam("started_by", type_=Date())]
        if self.open_after is not None:
            params["open_after"] = self.open_after
            binds.append(bindparam("open_after", type_=Date()))
        if self.institution_id is not None:
            params["institution_id"] = self.institution_id
        if self.id_range is not None:
            params["first_id"], params["last_id"] = self.id_range
        if self.loan_ids is None:
            yield text(sql).bindparams(*binds), params
            return
        binds.append(bindparam("loan_ids", expanding=True))
        statement = text(sql).bindparams(*binds)
        for i in range(0, len(self.loan_ids), _IDS_PER_QUERY):
            yield statement, {**params, "loan_ids": list(self.loan_ids[i : i + _IDS_PER_QUERY])}


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while rows are fetched: millions of fresh
    tuples (which hold no cycles) would otherwise trigger a full collection again and
    again, a fifth of the reading time on a big portfolio."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _fetch(conn: Connection, scope: _Scope, sql: str, schema: dict[str, Any]) -> pl.DataFrame:
    """Run ``sql`` (once per chunk of loan ids) into a frame of ``schema``, column by column.

    Rows come straight from the DBAPI cursor (plain tuples; the statements have no typed
    result columns, so SQLAlchemy would only wrap them) and are transposed into columns,
    which polars builds faster than it builds rows."""
    names = list(schema)
    frames: list[pl.DataFrame] = []
    with _collector_paused():
        for statement, params in scope.statements(sql):
            result = conn.execute(statement, params)
            cursor = result.cursor
            while rows := cursor.fetchmany(_ROWS_PER_FETCH):
                columns = dict(zip(names, zip(*rows, strict=True), strict=True))
                frames.append(pl.DataFrame(columns, schema=schema))
            result.close()
    if not frames:
        return pl.DataFrame(schema=schema)
    return pl.concat(frames, rechunk=False)


def _load(conn: Connection, scope: _Scope) -> _Book:
    q = _Sql(conn.dialect.name)
    where = scope.where()
    # The SQL is assembled from this module's fixed fragments; values are bound (S608).
    loans = _fetch(
        conn,
        scope,
        f"""SELECT l.id, l.institution_id, l.borrower_id, l.product_id, l.principal,
                   l.annual_rate, l.term_months, {q.day("l.start_date")},
                   {q.day("l.state_as_of")}, {q.day("l.paid_off_date")},
                   {q.day("l.charged_off_date")}, l.credit
            FROM loans l WHERE {where}""",  # noqa: S608
        {
            "loan_id": pl.Int64,
            "institution_id": pl.Int64,
            "borrower_id": pl.Int64,
            "product_id": pl.Int64,
            "principal": pl.Int64,
            "annual_rate": pl.String,
            "term_months": pl.Int64,
            "start_n": pl.Int32,
            "state_n": pl.Int32,
            "paid_off_n": pl.Int32,
            "charged_off_n": pl.Int32,
            "credit": pl.Int64,
        },
    ).with_columns(pl.col("annual_rate").cast(pl.Float64))
    loans = loans.join(_products(conn), on="product_id", how="left")
    instalments = _fetch(
        conn,
        scope,
        f"""SELECT i.loan_id, i.number, {q.day("i.due_date")}, i.principal, i.interest_due,
                   i.fee_due AS fee, i.not_collectable, i.principal_paid, i.interest_paid,
                   i.fee_paid, i.penalty_paid, {q.day("i.settled_date")}
            FROM instalments i JOIN loans l ON l.id = i.loan_id WHERE {scope.where("i")}""",  # noqa: S608
        {
            "loan_id": pl.Int64,
            "number": pl.Int32,
            "due_n": pl.Int32,
            "principal": pl.Int64,
            "interest_due": pl.Int64,
            "fee": pl.Int64,
            "not_collectable": pl.Int64,
            "principal_paid": pl.Int64,
            "interest_paid": pl.Int64,
            "fee_paid": pl.Int64,
            "penalty_paid": pl.Int64,
            "settled_n": pl.Int32,
        },
    )
    payments = _fetch(
        conn,
        scope,
        f"""SELECT p.loan_id, {q.day("p.paid_date")}, p.amount
            FROM loan_payments p JOIN loans l ON l.id = p.loan_id
            WHERE p.reversed_at IS NULL AND {scope.where("p")}""",  # noqa: S608
        {"loan_id": pl.Int64, "paid_n": pl.Int32, "amount": pl.Int64},
    )
    pauses = _fetch(
        conn,
        scope,
        f"""SELECT dp.loan_id, {q.day("dp.start_date")}, {q.day("dp.end_date")},
                   CASE WHEN dp.reason = 'dispute' THEN 1 ELSE 0 END
            FROM delinquency_pauses dp JOIN loans l ON l.id = dp.loan_id
            WHERE {scope.where("dp")}""",  # noqa: S608
        {"loan_id": pl.Int64, "start_n": pl.Int32, "end_n": pl.Int32, "dispute": pl.Int64},
    ).with_columns(pl.col("dispute").cast(pl.Boolean))
    # Cancelled promises are left out: only pending promises can be cancelled, and pending
    # promises never count (fairdun.risk.promises), so this holds at every date.
    promises = _fetch(
        conn,
        scope,
        f"""SELECT pr.id, pr.loan_id, {q.day("pr.made_on")}, {q.day("pr.promised_date")},
                   pr.amount
            FROM promises_to_pay pr JOIN loans l ON l.id = pr.loan_id
            WHERE pr.cancelled_at IS NULL AND {scope.where("pr")}""",  # noqa: S608
        {
            "promise_id": pl.Int64,
            "loan_id": pl.Int64,
            "made_n": pl.Int32,
            "promised_n": pl.Int32,
            "amount": pl.Int64,
        },
    )
    cumulative = _cumulative(loans, payments)
    return _Book(
        loans=loans,
        instalments=_prepare_instalments(loans, instalments, cumulative),
        cumulative=cumulative,
        payments=payments,
        pauses=pauses,
        promises=promises,
    )


def _books(conn: Connection, scope: _Scope) -> Iterator[_Book]:
    """The scope's ledger, one partition of about ``_LOANS_PER_PARTITION`` loans at a time
    (ranges of loan ids; a scope of listed loan ids is one partition)."""
    if scope.loan_ids is not None:
        yield _load(conn, scope)
        return
    statement, params = next(
        scope.statements(f"SELECT COUNT(*) FROM loans l WHERE {scope.where()}")  # noqa: S608
    )
    count = int(conn.execute(statement, params).scalar_one())
    parts = -(-count // _LOANS_PER_PARTITION)
    if parts <= 1:
        yield _load(conn, scope)  # (an empty scope gives an empty book, with every column)
        return
    # Ranges of loan ids holding equal numbers of the scope's loans, however the ids of the
    # scope are spread among other lenders' loans.
    statement, params = next(
        scope.statements(
            f"""SELECT MIN(id), MAX(id) FROM (
                    SELECT l.id AS id, NTILE({parts}) OVER (ORDER BY l.id) AS part
                    FROM loans l WHERE {scope.where()}) tiles
                GROUP BY part ORDER BY 1"""  # noqa: S608
        )
    )
    for first, last in conn.execute(statement, params).all():
        yield _load(conn, replace(scope, id_range=(int(first), int(last))))


def _products(conn: Connection) -> pl.DataFrame:
    """Each product's tolerance and the position of each component in its waterfall."""
    rows: list[dict[str, int]] = []
    for product_id, waterfall, tolerance in conn.execute(
        text("SELECT id, waterfall, tolerance FROM products")
    ):
        order = [c.strip() for c in str(waterfall).split(",")]
        row = {"product_id": int(product_id), "tolerance": int(tolerance)}
        for component, (_paid, position) in _COMPONENTS.items():
            row[position] = order.index(component)
        rows.append(row)
    schema = {"product_id": pl.Int64, "tolerance": pl.Int64}
    schema.update({position: pl.Int64 for _paid, position in _COMPONENTS.values()})
    return pl.DataFrame(rows, schema=schema)


def _cumulative(loans: pl.DataFrame, payments: pl.DataFrame) -> pl.DataFrame:
    """Per loan and payment day, the money received through that day, counting only the
    payments the stored state was replayed with (dated on or before ``state_as_of``)."""
    return (
        payments.join(loans.select("loan_id", "state_n"), on="loan_id")
        .filter(pl.col("paid_n") <= pl.col("state_n"))
        .group_by("loan_id", "paid_n")
        .agg(pl.col("amount").sum())
        .sort("loan_id", "paid_n")
        .with_columns(pl.col("amount").cum_sum().over("loan_id").alias("cum"))
        .select("loan_id", "paid_n", "cum")
    )


def _taken_back_before(component: str) -> pl.Expr:
    """What the reverse fill takes back from an instalment before it reaches
    ``component``: the paid amounts of the components after it in the waterfall."""
    _paid, position = _COMPONENTS[component]
    return pl.sum_horizontal(
        [
            pl.when(pl.col(other_position) > pl.col(position)).then(pl.col(other_paid)).otherwise(0)
            for name, (other_paid, other_position) in _COMPONENTS.items()
            if name != component
        ]
    )


# What the per-day steps need of each instalment.
_INSTALMENT_COLUMNS = (
    "loan_id",
    "number",
    "due_n",
    "settled_n",
    "cure_n",
    "principal",
    "interest_due",
    "fee",
    "not_collectable",
    "principal_paid",
    "interest_paid",
    "fee_paid",
    "pif_paid",
    "paid_total",
    "owed",
    "received",
    "above",
    "before_principal",
    "before_interest",
    "before_fees",
)


def _prepare_instalments(
    loans: pl.DataFrame, instalments: pl.DataFrame, cumulative: pl.DataFrame
) -> pl.DataFrame:
    """The date-independent part of the reverse fill, and each instalment's cure day.

    ``above``: money sitting above the instalment in the fill (the loan's credit and what was
    paid on every later instalment). ``before_<c>``: what is taken back from the instalment
    before component ``c``. ``cure_n``: the first day its unpaid principal + interest + fee
    is within tolerance (null: never, up to the stored state), at the latest its settlement.
    """
    totals = cumulative.lazy().group_by("loan_id").agg(pl.col("cum").max().alias("received"))
    frame = (
        instalments.lazy()
        .join(
            loans.lazy().select(
                "loan_id",
                "credit",
                "tolerance",
                *(position for _paid, position in _COMPONENTS.values()),
            ),
            on="loan_id",
        )
        .join(totals, on="loan_id", how="left")
        .sort("loan_id", "number")
        .with_columns(
            pl.col("received").fill_null(0),
            paid_total=pl.sum_horizontal(paid for paid, _position in _COMPONENTS.values()),
            pif_paid=pl.col("principal_paid") + pl.col("interest_paid") + pl.col("fee_paid"),
            owed=pl.col("principal") + pl.col("interest_due") + pl.col("fee"),
            **{f"before_{name}": _taken_back_before(name) for name in _COMPONENTS},
        )
        .with_columns(
            above=pl.col("credit")
            + pl.col("paid_total").cum_sum(reverse=True).over("loan_id")
            - pl.col("paid_total"),
            # Room below the tolerance at the stored state (negative: past due there).
            room=pl.col("tolerance") - (pl.col("owed") - pl.col("pif_paid")),
        )
        .with_columns(
            # The most the fill may take back from this instalment while its principal +
            # interest + fee stays within tolerance: taking back penalty costs no room.
            take_max=pl.when(pl.col("room") < pl.col("before_penalty"))
            .then(pl.col("room"))
            .otherwise(pl.col("room") + pl.col("penalty_paid")),
        )
        .with_columns(
            # Within tolerance on day d when the money received after d is at most
            # above + take_max, i.e. once `received - above - take_max` has come in.
            need=pl.col("received") - pl.col("above") - pl.col("take_max"),
        )
        .with_columns(
            always=(pl.col("room") >= 0)
            & ((pl.col("take_max") >= pl.col("paid_total")) | (pl.col("need") <= 0)),
        )
    )
    found = (
        frame.filter((pl.col("room") >= 0) & ~pl.col("always"))
        .select("loan_id", "number", "need")
        .sort("need")
        .join_asof(
            cumulative.lazy().sort("cum"),
            left_on="need",
            right_on="cum",
            by="loan_id",
            strategy="forward",
        )
        .select("loan_id", "number", pl.col("paid_n").alias("fill_cure_n"))
    )
    result = (
        frame.join(found, on=["loan_id", "number"], how="left")
        .with_columns(
            cure_n=pl.min_horizontal(
                "settled_n",
                # Never past due beyond tolerance: cured on its due date.
                pl.when(pl.col("always")).then(pl.col("due_n")).otherwise(pl.col("fill_cure_n")),
            )
        )
        .select(_INSTALMENT_COLUMNS)
    )
    with warnings.catch_warnings():
        # Both sides are sorted by the key overall, hence within every loan.
        warnings.filterwarnings("ignore", message="Sortedness of columns cannot be checked")
        return result.collect()


# --------------------------------------------------------------------------- as of a day


def _unpaused(rows: pl.DataFrame, pauses: pl.DataFrame, lo: str, hi: str) -> pl.Series:
    """For each row, the days in ``(lo, hi]`` not covered by a pause of its loan
    (``[start_n, end_n)``, open-ended when ``end_n`` is null); 0 when ``hi <= lo``."""
    indexed = rows.select("loan_id", lo, hi).with_row_index("_row")
    overlap = (
        pl.min_horizontal(pl.col(hi) + 1, pl.col("end_n").fill_null(pl.col(hi) + 1))
        - pl.max_horizontal(pl.col(lo) + 1, pl.col("start_n"))
    ).clip(lower_bound=0)
    paused = (
        indexed.filter(pl.col(hi) > pl.col(lo))
        .join(pauses.select("loan_id", "start_n", "end_n"), on="loan_id")
        .group_by("_row")
        .agg(overlap.sum().alias("_paused"))
    )
    days = (
        indexed.join(paused, on="_row", how="left")
        .sort("_row")
        .select(
            pl.when(pl.col(hi) > pl.col(lo))
            .then(pl.col(hi) - pl.col(lo) - pl.col("_paused").fill_null(0))
            .otherwise(0)
            .alias("_days")
        )
    )
    return days.get_column("_days")


def _past_due_spans(instalments: pl.DataFrame, pauses: pl.DataFrame, end_n: int) -> pl.DataFrame:
    """Per instalment, its last day past due beyond tolerance up to ``end_n`` (``last_n``),
    whether it was past due at all by then (``active``), and its days past due on that day
    counted from its own due date (``days``). The days past due of the loan on ``last_n``
    are at least ``days``, and the worst days past due of the loan over any window ending
    at ``end_n`` is the largest ``days`` among the instalments whose ``last_n`` lies in the
    window (the oldest instalment past due on a day gives that day's count)."""
    spans = instalments.select("loan_id", "number", "due_n", "cure_n").with_columns(
        last_n=pl.min_horizontal(pl.lit(end_n), pl.col("cure_n") - 1)
    )
    spans = spans.with_columns(active=pl.col("last_n") >= pl.col("due_n") + 1)
    return spans.with_columns(days=_unpaused(spans, pauses, "due_n", "last_n"))


def _received_by(book: _Book, day_n: int) -> pl.DataFrame:
    return (
        book.cumulative.filter(pl.col("paid_n") <= day_n)
        .group_by("loan_id")
        .agg(pl.col("cum").max().alias("received_by"))
    )


def _amounts(book: _Book, instalments: pl.DataFrame, day_n: int) -> pl.DataFrame:
    """Per loan on ``day_n`` (reverse fill): outstanding principal, past-due collectable
    interest and fees, paid and owed on the instalments due so far."""
    frame = (
        instalments.lazy()
        .join(_received_by(book, day_n).lazy(), on="loan_id", how="left")
        .with_columns(
            taken=(pl.col("received") - pl.col("received_by").fill_null(0) - pl.col("above")).clip(
                lower_bound=0
            ),
            settled=pl.col("settled_n").is_not_null() & (pl.col("settled_n") <= day_n),
        )
        .with_columns(taken=pl.min_horizontal("taken", "paid_total"))
        .with_columns(
            **{
                f"back_{name}": pl.when(pl.col("settled"))
                .then(0)
                .otherwise(
                    (pl.col("taken") - pl.col(f"before_{name}")).clip(
                        lower_bound=0, upper_bound=pl.col(paid)
                    )
                )
                for name, (paid, _position) in _COMPONENTS.items()
                if name != "penalty"
            }
        )
        .with_columns(
            principal_left=pl.when(pl.col("settled"))
            .then(0)
            .otherwise(pl.col("principal") - pl.col("principal_paid") + pl.col("back_principal")),
            charges_left=pl.when(pl.col("settled"))
            .then(0)
            .otherwise(
                pl.col("interest_due")
                - pl.col("interest_paid")
                + pl.col("back_interest")
                + pl.col("fee")
                - pl.col("fee_paid")
                + pl.col("back_fees")
            ),
            paid_so_far=pl.col("pif_paid")
            - pl.col("back_principal")
            - pl.col("back_interest")
            - pl.col("back_fees"),
            # A settled instalment owed what it took (a waived fee is not owed).
            owed_so_far=pl.when(pl.col("settled"))
            .then(pl.col("pif_paid"))
            .otherwise(pl.col("owed")),
        )
    )
    due = pl.col("due_n") <= day_n
    past_due = pl.col("due_n") < day_n
    return (
        frame.group_by("loan_id")
        .agg(
            outstanding=pl.col("principal_left").sum(),
            overdue_charges=(pl.col("charges_left") - pl.col("not_collectable"))
            .clip(lower_bound=0)
            .filter(past_due)
            .sum(),
            paid_due=pl.col("paid_so_far").filter(due).sum(),
            owed_due=pl.col("owed_so_far").filter(due).sum(),
        )
        .collect()
    )


def _delinquency(book: _Book, instalments: pl.DataFrame, day_n: int) -> pl.DataFrame:
    spans = _past_due_spans(instalments, book.pauses, day_n)
    now = pl.col("active") & (pl.col("last_n") == day_n)
    aggregations = [
        pl.col("days").filter(now).max().fill_null(0).alias("dpd_now"),
        *(
            pl.col("days")
            .filter(pl.col("active") & (pl.col("last_n") > day_n - window))
            .max()
            .fill_null(0)
            .alias(name)
            for name, window in WINDOWS
        ),
        (pl.col("active") & (pl.col("days") >= 1)).sum().alias("late_instalments"),
    ]
    return spans.group_by("loan_id").agg(aggregations)


def _promise_frame(book: _Book, day_n: int) -> pl.DataFrame:
    """Every promise made on or before ``day_n``: what was paid towards it and whether it
    was kept, broken or is pending at the end of ``day_n``."""
    made = book.promises.filter(pl.col("made_n") <= day_n).with_columns(
        closes_n=pl.col("promised_n") + GRACE_DAYS
    )
    paid = (
        made.select("promise_id", "loan_id", "made_n", "closes_n")
        .join(book.payments, on="loan_id")
        .filter(
            (pl.col("paid_n") >= pl.col("made_n"))
            & (pl.col("paid_n") <= pl.min_horizontal(pl.col("closes_n"), pl.lit(day_n)))
        )
        .group_by("promise_id")
        .agg(pl.col("amount").sum().alias("paid"))
    )
    return (
        made.join(paid, on="promise_id", how="left")
        .with_columns(pl.col("paid").fill_null(0))
        .with_columns(kept=pl.col("paid") >= pl.col("amount"))
        .with_columns(broken=~pl.col("kept") & (pl.col("closes_n") < day_n))
    )


def _features(book: _Book, as_of: date, *, open_only: bool) -> pl.DataFrame:
    day_n = _day(as_of)
    started = pl.col("start_n") <= day_n
    if open_only:
        started &= pl.col("paid_off_n").is_null() | (pl.col("paid_off_n") > day_n)
    loans = book.loans.filter(started)
    if loans.height == 0:
        return pl.DataFrame(schema=OUTPUT_SCHEMA)
    keys = loans.select("loan_id")
    instalments = book.instalments.join(keys, on="loan_id", how="semi")

    promises = (
        _promise_frame(book, day_n)
        .group_by("loan_id")
        .agg(
            promises_kept=pl.col("kept").sum(),
            promises_broken=pl.col("broken").sum(),
        )
    )
    disputes = (
        book.pauses.filter(pl.col("dispute") & (pl.col("start_n") <= day_n))
        .group_by("loan_id")
        .agg(pl.len().alias("disputes"))
    )
    last_paid = (
        book.payments.filter(pl.col("paid_n") <= day_n)
        .group_by("loan_id")
        .agg(pl.col("paid_n").max().alias("last_paid_n"))
    )
    start = pl.col("start_n").cast(pl.Int32).cast(pl.Date)
    frame = (
        loans.join(_delinquency(book, instalments, day_n), on="loan_id", how="left")
        .join(_amounts(book, instalments, day_n), on="loan_id", how="left")
        .join(promises, on="loan_id", how="left")
        .join(disputes, on="loan_id", how="left")
        .join(last_paid, on="loan_id", how="left")
        .with_columns(
            exposure=pl.col("outstanding") + pl.col("overdue_charges"),
            share_paid=pl.when(pl.col("owed_due") > 0)
            .then(pl.min_horizontal(pl.lit(1.0), pl.col("paid_due") / pl.col("owed_due")))
            .otherwise(1.0),
            days_since_last_payment=pl.lit(day_n) - pl.coalesce("last_paid_n", "start_n"),
            balance=pl.col("outstanding") / 100,
            utilisation=pl.col("outstanding") / pl.col("principal"),
            months_on_book=(as_of.year - start.dt.year().cast(pl.Int64)) * 12
            + (as_of.month - start.dt.month().cast(pl.Int64))
            - (start.dt.day().cast(pl.Int64) > as_of.day).cast(pl.Int64),
        )
    )
    zero_if_missing = [
        "dpd_now",
        *(name for name, _w in WINDOWS),
        "late_instalments",
        "promises_kept",
        "promises_broken",
        "disputes",
        "exposure",
    ]
    return (
        frame.with_columns(pl.col(zero_if_missing).fill_null(0))
        .select([pl.col(c).cast(t) for c, t in OUTPUT_SCHEMA.items()])
        .sort("loan_id")
    )


# --------------------------------------------------------------------------- public API


def _scope(
    institution_id: int | None,
    loan_ids: Sequence[int] | None,
    started_by: date,
    open_after: date | None,
) -> _Scope:
    ids = None if loan_ids is None else tuple(sorted({int(i) for i in loan_ids}))
    return _Scope(institution_id, ids, started_by, open_after)


def compute_features(
    bind: Bind,
    as_of: date,
    *,
    institution_id: int | None = None,
    loan_ids: Sequence[int] | None = None,
    open_only: bool = True,
) -> pl.DataFrame:
    """One row per loan as of the end of ``as_of``: ``loan_id``, ``borrower_id``,
    ``institution_id``, ``exposure`` (minor units), then the ``FEATURES`` columns, sorted
    by ``loan_id``. Definitions and units: ``docs/risk-features.md``.

    Loans that started after ``as_of`` are never included. ``open_only`` keeps the loans
    not paid off by ``as_of`` (charged-off loans are open: they are still owed); without it
    loans paid off by then are included too (all their balances 0)."""
    if loan_ids is not None and not loan_ids:
        return pl.DataFrame(schema=OUTPUT_SCHEMA)
    scope = _scope(institution_id, loan_ids, as_of, as_of if open_only else None)
    with _connection(bind) as conn:
        frames = [_features(book, as_of, open_only=open_only) for book in _books(conn, scope)]
    return pl.concat(frames).sort("loan_id")


def borrower_features(loan_frame: pl.DataFrame) -> pl.DataFrame:
    """Per ``(institution_id, borrower_id)``, from a ``compute_features`` frame: ``loans``
    (how many rows), ``exposure`` summed, and the FEATURES aggregated so that each says
    the worst of the borrower's loans, or their total where a count or an amount adds up:

    * max: days past due now and worst over each window, utilisation, months on book
      (the oldest relationship), annual rate, term;
    * sum: late instalments, balance, promises kept and broken, disputes;
    * min: share paid (the least-paid loan), days since last payment (the most recent
      payment on any loan).
    """
    maximum = [
        "dpd_now",
        *(name for name, _w in WINDOWS),
        "utilisation",
        "months_on_book",
        "annual_rate",
        "term_months",
    ]
    total = ["exposure", "late_instalments", "balance", "promises_kept", "promises_broken"]
    total.append("disputes")
    minimum = ["share_paid", "days_since_last_payment"]
    aggregations = [
        pl.len().cast(pl.Int64).alias("loans"),
        *(pl.col(c).max() for c in maximum),
        *(pl.col(c).sum() for c in total),
        *(pl.col(c).min() for c in minimum),
    ]
    columns = ["institution_id", "borrower_id", "loans", "exposure", *FEATURES]
    return (
        loan_frame.group_by("institution_id", "borrower_id")
        .agg(aggregations)
        .select(columns)
        .sort("institution_id", "borrower_id")
    )


def dpd_at(
    bind: Bind,
    dates: Sequence[date],
    *,
    institution_id: int | None = None,
    loan_ids: Sequence[int] | None = None,
) -> pl.DataFrame:
    """Days past due of every loan started by each date, as of the end of that date (the
    ``dpd_now`` of ``compute_features``, paid-off loans included as 0): columns
    ``loan_id``, ``as_of`` (Date), ``dpd``."""
    schema = {"loan_id": pl.Int64, "as_of": pl.Date, "dpd": pl.Int64}
    days = sorted(set(dates))
    if not days or (loan_ids is not None and not loan_ids):
        return pl.DataFrame(schema=schema)
    frames = []
    with _connection(bind) as conn:
        for book in _books(conn, _scope(institution_id, loan_ids, days[-1], None)):
            for day in days:  # a handful of dates, each for the whole partition
                keys = book.loans.filter(pl.col("start_n") <= _day(day)).select("loan_id")
                instalments = book.instalments.join(keys, on="loan_id", how="semi")
                dpd = _delinquency(book, instalments, _day(day))
                frames.append(
                    keys.join(dpd.select("loan_id", "dpd_now"), on="loan_id", how="left").select(
                        "loan_id",
                        pl.lit(day, dtype=pl.Date).alias("as_of"),
                        pl.col("dpd_now").fill_null(0).cast(pl.Int64).alias("dpd"),
                    )
                )
    return pl.concat(frames).sort("as_of", "loan_id")


def promise_outcomes(
    bind: Bind,
    as_of: date,
    *,
    institution_id: int | None = None,
    loan_ids: Sequence[int] | None = None,
) -> pl.DataFrame:
    """Every promise (not cancelled) made on or before ``as_of`` on the loans in scope:
    ``promise_id``, ``loan_id``, ``made_on``, ``promised_date``, ``amount``, ``paid``
    (payments not reversed dated from ``made_on`` through the grace period, up to
    ``as_of``) and ``status``: ``kept``, ``broken`` or ``pending``. The features count the
    kept and the broken ones (``fairdun.risk.promises`` has the rule)."""
    schema = {
        "promise_id": pl.Int64,
        "loan_id": pl.Int64,
        "made_on": pl.Date,
        "promised_date": pl.Date,
        "amount": pl.Int64,
        "paid": pl.Int64,
        "status": pl.String,
    }
    if loan_ids is not None and not loan_ids:
        return pl.DataFrame(schema=schema)
    with _connection(bind) as conn:
        frame = pl.concat(
            _promise_frame(book, _day(as_of))
            for book in _books(conn, _scope(institution_id, loan_ids, as_of, None))
        )
    return frame.select(
        "promise_id",
        "loan_id",
        pl.col("made_n").cast(pl.Int32).cast(pl.Date).alias("made_on"),
        pl.col("promised_n").cast(pl.Int32).cast(pl.Date).alias("promised_date"),
        "amount",
        pl.col("paid").cast(pl.Int64),
        pl.when(pl.col("kept"))
        .then(pl.lit("kept"))
        .when(pl.col("broken"))
        .then(pl.lit("broken"))
        .otherwise(pl.lit("pending"))
        .alias("status"),
    ).sort("promise_id")


def latest_data_date(bind: Bind, *, institution_id: int | None = None) -> date | None:
    """The last day the ledger's stored state covers: the latest ``state_as_of`` of the
    lender's loans (all lenders' without ``institution_id``); None without loans."""
    with _connection(bind) as conn:
        q = _Sql(conn.dialect.name)
        sql = f"SELECT MAX({q.day('l.state_as_of')}) FROM loans l"  # noqa: S608
        params: dict[str, Any] = {}
        if institution_id is not None:
            sql += " WHERE l.institution_id = :institution_id"
            params["institution_id"] = institution_id
        value = conn.execute(text(sql), params).scalar()
    return None if value is None else _EPOCH + timedelta(days=int(value))


def training_frame(
    bind: Bind,
    snapshots: Sequence[date],
    *,
    horizon_days: int = 30,
    institution_id: int | None = None,
) -> pl.DataFrame:
    """The early-warning training set: for each snapshot ``s``, the features as of ``s`` of
    the loans open at ``s`` (started, not paid off, not charged off) and under
    ``ROLL_DAYS`` days past due, with ``snapshot`` (Date) and ``rolled_30``: 1 when the
    loan's days past due reach ``ROLL_DAYS`` on some day in ``(s, s + horizon_days]``,
    else 0.

    Raises ``ValueError`` when a snapshot's outcome window ends after the latest data date
    (``latest_data_date``): its outcome is not known yet."""
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be at least 1, not {horizon_days}")
    days = sorted(set(snapshots))
    if not days:
        raise ValueError("at least one snapshot date is needed")
    schema = {"snapshot": pl.Date, **OUTPUT_SCHEMA, TARGET: pl.Int64}
    with _connection(bind) as conn:
        latest = latest_data_date(conn, institution_id=institution_id)
        if latest is None:
            return pl.DataFrame(schema=schema)
        late = [d for d in days if d + timedelta(days=horizon_days) > latest]
        if late:
            raise ValueError(
                f"snapshot {late[0]} + {horizon_days} days ends after the latest data date "
                f"{latest}: the outcome is not known yet (latest usable snapshot: "
                f"{latest - timedelta(days=horizon_days)})"
            )
        frames = [
            _snapshot_rows(book, day, horizon_days)
            for book in _books(conn, _scope(institution_id, None, days[-1], days[0]))
            for day in days  # a handful of dates, each for the whole partition
        ]
    return pl.concat(frames).sort("snapshot", "loan_id")


def _snapshot_rows(book: _Book, day: date, horizon_days: int) -> pl.DataFrame:
    """The training rows of one snapshot: the early-warning population and its target."""
    features = _features(book, day, open_only=True)
    not_charged_off = book.loans.filter(
        pl.col("charged_off_n").is_null() | (pl.col("charged_off_n") > _day(day))
    ).select("loan_id")
    population = features.join(not_charged_off, on="loan_id", how="semi").filter(
        pl.col("dpd_now") < ROLL_DAYS
    )
    target = _rolled(book, population.select("loan_id"), day, horizon_days)
    return population.join(target, on="loan_id", how="left").select(
        pl.lit(day, dtype=pl.Date).alias("snapshot"),
        *OUTPUT_SCHEMA,
        pl.col(TARGET).fill_null(0).cast(pl.Int64),
    )


def _rolled(book: _Book, keys: pl.DataFrame, snapshot: date, horizon_days: int) -> pl.DataFrame:
    """1 for the loans whose days past due reach ROLL_DAYS on a day in ``(s, s + h]``."""
    first_n, end_n = _day(snapshot) + 1, _day(snapshot) + horizon_days
    instalments = book.instalments.join(keys, on="loan_id", how="semi")
    spans = _past_due_spans(instalments, book.pauses, end_n)
    return spans.group_by("loan_id").agg(
        (pl.col("active") & (pl.col("last_n") >= first_n) & (pl.col("days") >= ROLL_DAYS))
        .any()
        .cast(pl.Int64)
        .alias(TARGET)
    )
