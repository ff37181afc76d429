"""Portfolio batch: days past due, bucket and status of every open loan as of a date.

``recompute_as_of(session_or_engine, as_of)`` moves the stored state of every open loan
(status ``current``, ``delinquent`` or ``charged_off``, with ``state_as_of <= as_of``) to
``as_of`` in a handful of set-based statements, for the whole portfolio at once.

What it relies on. Ledger rule 4 needs only the oldest instalment due before ``as_of``
whose unpaid principal + interest + fee exceeds the product's tolerance, and the pauses.
The stored instalment paid amounts (and ``interest_due``, ``fee_due``) change only when an event is
recorded (payment, reversal, pause, charge-off), and every event replays its loan
(``service.recompute``). So when no event happened since a loan's ``state_as_of``, the
stored amounts are those a replay would compute, and the batch gives exactly what
``ledger.replay`` gives for ``days_past_due``, ``bucket``, ``status``, ``paused`` and
``worst_days_past_due`` (the property tested in ``tests/loans/test_batch.py``). It never
replays payments and never touches amounts, penalty or instalment rows: a daily run moves
the clock, events move the money.

The rule, per loan: ``u`` = the oldest ``due_date < as_of`` with
``principal - principal_paid + interest_due - interest_paid + fee_due - fee_paid >
products.tolerance``; days past due = days in ``(u, as_of]`` not covered by a pause
(``[start_date, end_date)``, open-ended when ``end_date`` is NULL), 0 without such ``u``;
bucket from ``products.buckets``; status ``charged_off`` when ``charged_off_date <=
as_of``, else ``delinquent`` when dpd > 0, else ``current``; ``worst_days_past_due`` is
the larger of the stored value and the new dpd (without events dpd never falls between
``state_as_of`` and ``as_of``, so this is the replay's maximum too).

Bucket history. Without events, dpd between ``state_as_of`` and ``as_of`` climbs one a
day on unpaused days from ``u`` on, so the loan passes through every bucket between its
stored bucket and the new one. For each bucket whose ``min_days`` lies in
``(stored dpd, new dpd]`` a spell is written, entered on the first day whose dpd reaches
``min_days`` (``u + min_days`` without pauses; by walking the days for the few loans with
a pause in ``(u, as_of]``), left on the next one's entry (NULL for the last), and the
stored open spell is closed on the first entry. This is exactly the history a replay
writes (the stored open spell's ``entered_date`` and everything before it are kept as
they are). A loan whose bucket changed while its dpd fell (impossible without an event
that was not replayed) gets one spell entered on ``as_of``, so there is always exactly
one open spell.

Why plain SQL and not a dataframe engine. Everything the rule needs is a filter and a
``MIN`` over the instalments, a ``SUM`` over the (few) pauses and a join with a small
bucket table: the database does that where the rows already are, and the result is
written back with one ``UPDATE ... FROM`` (SQLite >= 3.33 and PostgreSQL both support
it). A dataframe engine would first have to pull every instalment row due before
``as_of`` (5.5 million for the benchmark's million loans) out through the driver, which
alone takes 40.8 s on SQLite (the whole batch: 14.4 s) and 6.6 s on PostgreSQL (more
than the SQL step it would replace), then push a million rows back into the same
``UPDATE ... FROM``; and it would add a dependency. Measured in BENCHMARKS.md.

The SQL below runs unchanged on both databases except for two small date helpers (day
numbers and ``min``/``max``). Only the date arithmetic of loans with a pause that changed
bucket is done in Python.

The SQL strings are assembled only from fixed fragments of this module (the dialect
helpers, table and column names); every value is a bound parameter, hence the
``noqa: S608`` markers.

It never commits: given a ``Session`` it works in the session's transaction (flushing
first, expiring the session's objects afterwards); given an ``Engine`` it opens and
commits its own transaction (a job's boundary).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Date, Engine, bindparam, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from fairdun.kit.clock import utcnow
from fairdun.kit.db import UTCDateTime

__all__ = ["BatchReport", "recompute_as_of"]

_EPOCH = date(1970, 1, 1)
# julianday('1970-01-01') is 2440587.5; CAST(julianday(d) AS INTEGER) - this is d's day number.
_SQLITE_EPOCH_JD = 2440587


@dataclass(frozen=True)
class BatchReport:
    """What one run did."""

    as_of: date
    loans: int  # open loans moved to as_of
    bucket_changes: int  # loans whose bucket changed
    spells_written: int  # bucket_spells rows inserted


class _Dialect:
    """The only SQL that differs between SQLite and PostgreSQL: day numbers and min/max."""

    def __init__(self, name: str) -> None:
        self.sqlite = name == "sqlite"

    def day(self, expr: str) -> str:
        """Days since 1970-01-01 of a DATE expression."""
        if self.sqlite:
            return f"(CAST(julianday({expr}) AS INTEGER) - {_SQLITE_EPOCH_JD})"
        return f"({expr} - DATE '1970-01-01')"

    def date(self, expr: str) -> str:
        """The DATE of a day number (NULL stays NULL)."""
        if self.sqlite:
            return f"date({expr} + {_SQLITE_EPOCH_JD}.5)"
        return f"(DATE '1970-01-01' + {expr})"

    def least(self, a: str, b: str) -> str:
        return f"min({a}, {b})" if self.sqlite else f"LEAST({a}, {b})"

    def greatest(self, a: str, b: str) -> str:
        return f"max({a}, {b})" if self.sqlite else f"GREATEST({a}, {b})"


_TEMP_TABLES = ("fd_batch_spells", "fd_batch_loans", "fd_batch_buckets")

_CREATE = (
    """CREATE TEMPORARY TABLE fd_batch_buckets (
        product_id INTEGER NOT NULL, code VARCHAR(10) NOT NULL,
        min_days INTEGER NOT NULL, max_days INTEGER)""",
    "CREATE INDEX fd_batch_buckets_product ON fd_batch_buckets (product_id, min_days)",
    """CREATE TEMPORARY TABLE fd_batch_loans (
        loan_id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL,
        prev_dpd INTEGER NOT NULL, prev_bucket VARCHAR(10) NOT NULL,
        oldest_n INTEGER, pause_days INTEGER NOT NULL DEFAULT 0,
        paused BOOLEAN NOT NULL DEFAULT FALSE, dpd INTEGER, bucket VARCHAR(10))""",
    """CREATE TEMPORARY TABLE fd_batch_spells (
        loan_id INTEGER NOT NULL, bucket VARCHAR(10) NOT NULL,
        entered_n INTEGER NOT NULL, left_n INTEGER)""",
)


def _sql(statement: str, **types: Any) -> TextClause:
    clause = text(statement)
    if types:
        clause = clause.bindparams(*(bindparam(k, type_=t) for k, t in types.items()))
    return clause


def recompute_as_of(
    session_or_engine: Session | Engine,
    as_of: date,
    *,
    institution_id: int | None = None,
    now: datetime | None = None,
) -> BatchReport:
    """Move every open loan (of ``institution_id``, or all lenders) to ``as_of``.

    Loans whose ``state_as_of`` is after ``as_of`` are left alone (the batch never goes
    back in time), and so are paid-off loans.
    """
    stamp = now or utcnow()
    if isinstance(session_or_engine, Session):
        session = session_or_engine
        session.flush()
        report = _run(session.connection(), as_of, institution_id, stamp)
        session.expire_all()
        return report
    with session_or_engine.begin() as conn:
        return _run(conn, as_of, institution_id, stamp)


def _run(conn: Connection, as_of: date, institution_id: int | None, now: datetime) -> BatchReport:
    d = _Dialect(conn.dialect.name)
    as_n = (as_of - _EPOCH).days
    for name in _TEMP_TABLES:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    for statement in _CREATE:
        conn.execute(text(statement))
    buckets = _load_buckets(conn)
    report = _compute(conn, d, as_of, as_n, institution_id, now, buckets)
    # On an error the caller rolls back, which drops the temp tables too (their creation
    # is part of the transaction on both databases); a later run drops any leftovers.
    for name in _TEMP_TABLES:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    return report


_Buckets = dict[int, list[tuple[str, int, int | None]]]


def _load_buckets(conn: Connection) -> _Buckets:
    """Each product's buckets (a few rows a product) into fd_batch_buckets."""
    buckets: _Buckets = {}
    for product_id, raw in conn.execute(text("SELECT id, buckets FROM products")):
        rows = [(str(c), int(lo), None if hi is None else int(hi)) for c, lo, hi in json.loads(raw)]
        buckets[int(product_id)] = sorted(rows, key=lambda b: b[1])
    params = [
        {"p": pid, "c": code, "lo": lo, "hi": hi}
        for pid, rows in buckets.items()
        for code, lo, hi in rows
    ]
    if params:
        conn.execute(
            text(
                "INSERT INTO fd_batch_buckets (product_id, code, min_days, max_days) "
                "VALUES (:p, :c, :lo, :hi)"
            ),
            params,
        )
    return buckets


def _compute(
    conn: Connection,
    d: _Dialect,
    as_of: date,
    as_n: int,
    institution_id: int | None,
    now: datetime,
    buckets: _Buckets,
) -> BatchReport:
    tenancy = "" if institution_id is None else "AND {t}.institution_id = :inst"
    open_loans = (
        "{t}.status IN ('current', 'delinquent', 'charged_off') AND {t}.state_as_of <= :as_of "
        + tenancy
    )
    params: dict[str, Any] = {"as_of": as_of, "as_n": as_n, "inst": institution_id}
    if institution_id is None:
        del params["inst"]

    # 1. Open loans, their oldest instalment past due beyond tolerance (rule 4), and the
    # days past due and bucket (rule 5) as if no day were paused, in one pass.
    oldest_n = d.day("o.oldest_due")
    conn.execute(
        _sql(
            f"""
            INSERT INTO fd_batch_loans
                (loan_id, product_id, prev_dpd, prev_bucket, oldest_n, dpd, bucket)
            SELECT x.loan_id, x.product_id, x.prev_dpd, x.prev_bucket, x.oldest_n, x.dpd, bb.code
            FROM (
                SELECT l.id AS loan_id, l.product_id, l.days_past_due AS prev_dpd,
                       l.bucket AS prev_bucket, {oldest_n} AS oldest_n,
                       CASE WHEN o.oldest_due IS NULL THEN 0 ELSE :as_n - {oldest_n} END AS dpd
                FROM loans l
                LEFT JOIN (
                    SELECT i.loan_id, MIN(i.due_date) AS oldest_due
                    FROM instalments i
                    JOIN loans l2 ON l2.id = i.loan_id
                    JOIN products p ON p.id = l2.product_id
                    WHERE {open_loans.format(t="l2")}
                      AND i.due_date < :as_of
                      AND i.principal - i.principal_paid + i.interest_due - i.interest_paid
                          + i.fee_due - i.fee_paid > p.tolerance
                    GROUP BY i.loan_id
                ) o ON o.loan_id = l.id
                WHERE {open_loans.format(t="l")}
            ) x
            -- Products' buckets start at 0 and leave no gap (validate_buckets): one match.
            JOIN fd_batch_buckets bb ON bb.product_id = x.product_id
                 AND bb.min_days <= x.dpd AND (bb.max_days IS NULL OR bb.max_days >= x.dpd)
            """,  # noqa: S608
            as_of=Date(),
        ),
        params,
    )
    if not d.sqlite:
        conn.execute(text("ANALYZE fd_batch_loans"))  # temp tables are never auto-analysed

    # 2. Loans with pauses: paused days in (oldest, as_of] come off the days past due, and
    # whether as_of itself is paused. Pauses are [start_date, end_date), so the overlap
    # with [oldest + 1, as_of + 1) is counted.
    start_n, end_n = d.day("dp.start_date"), f"COALESCE({d.day('dp.end_date')}, :as_n + 1)"
    overlap = d.greatest(
        "0", f"{d.least(':as_n + 1', end_n)} - {d.greatest('b.oldest_n + 1', start_n)}"
    )
    conn.execute(
        text(
            f"""
            UPDATE fd_batch_loans SET pause_days = agg.days, paused = agg.covering > 0,
                dpd = fd_batch_loans.dpd - agg.days
            FROM (
                SELECT b.loan_id,
                       SUM(CASE WHEN b.oldest_n IS NULL THEN 0 ELSE {overlap} END) AS days,
                       SUM(CASE WHEN {start_n} <= :as_n AND {end_n} > :as_n
                                THEN 1 ELSE 0 END) AS covering
                FROM delinquency_pauses dp
                JOIN fd_batch_loans b ON b.loan_id = dp.loan_id
                GROUP BY b.loan_id
            ) agg
            WHERE fd_batch_loans.loan_id = agg.loan_id
            """  # noqa: S608
        ),
        {"as_n": as_n},
    )

    # 3. Their bucket again, from the paused-corrected days past due.
    conn.execute(
        text(
            """
            UPDATE fd_batch_loans SET bucket = (
                SELECT bb.code FROM fd_batch_buckets bb
                WHERE bb.product_id = fd_batch_loans.product_id
                  AND bb.min_days <= fd_batch_loans.dpd
                  AND (bb.max_days IS NULL OR bb.max_days >= fd_batch_loans.dpd))
            WHERE pause_days > 0
            """
        )
    )

    # 4. The loans themselves (rule 6 for the status; paid-off loans were never selected).
    loans = conn.execute(
        _sql(
            """
            UPDATE loans SET
                days_past_due = b.dpd,
                bucket = b.bucket,
                paused = b.paused,
                status = CASE
                    WHEN loans.charged_off_date IS NOT NULL AND loans.charged_off_date <= :as_of
                        THEN 'charged_off'
                    WHEN b.dpd > 0 THEN 'delinquent'
                    ELSE 'current' END,
                worst_days_past_due = CASE WHEN b.dpd > loans.worst_days_past_due
                    THEN b.dpd ELSE loans.worst_days_past_due END,
                state_as_of = :as_of,
                updated_at = :now
            FROM fd_batch_loans b
            WHERE loans.id = b.loan_id
            """,
            as_of=Date(),
            now=UTCDateTime(),
        ),
        {"as_of": as_of, "now": now},
    ).rowcount

    changes, spells = _spells(conn, d, as_n, buckets)
    return BatchReport(as_of=as_of, loans=loans, bucket_changes=changes, spells_written=spells)


def _spells(conn: Connection, d: _Dialect, as_n: int, buckets: _Buckets) -> tuple[int, int]:
    """Close the open spell and append the spells passed through, for loans whose bucket
    changed (see the module docstring)."""
    changed = "b.bucket <> b.prev_bucket"
    changes = int(
        conn.execute(
            text("SELECT COUNT(*) FROM fd_batch_loans b WHERE b.bucket <> b.prev_bucket")
        ).scalar_one()
    )
    if changes == 0:
        return 0, 0
    # Without a paused day since the oldest due date: bucket k is entered on oldest + min_k.
    conn.execute(
        text(
            f"""
            INSERT INTO fd_batch_spells (loan_id, bucket, entered_n, left_n)
            SELECT b.loan_id, bb.code, b.oldest_n + bb.min_days,
                   CASE WHEN bb.max_days IS NOT NULL AND bb.max_days < b.dpd
                        THEN b.oldest_n + bb.max_days + 1 END
            FROM fd_batch_loans b
            JOIN fd_batch_buckets bb ON bb.product_id = b.product_id
                 AND bb.min_days > b.prev_dpd AND bb.min_days <= b.dpd
            WHERE {changed} AND b.pause_days = 0 AND b.dpd > b.prev_dpd
            """  # noqa: S608
        )
    )
    # Not expected without an unreplayed event: the bucket changed while dpd did not rise.
    conn.execute(
        text(
            f"""
            INSERT INTO fd_batch_spells (loan_id, bucket, entered_n, left_n)
            SELECT b.loan_id, b.bucket, :as_n, NULL FROM fd_batch_loans b
            WHERE {changed} AND b.dpd <= b.prev_dpd
            """  # noqa: S608
        ),
        {"as_n": as_n},
    )
    _paused_spells(conn, d, buckets)
    conn.execute(
        text(
            f"""
            UPDATE bucket_spells SET left_date = {d.date("f.first_n")}
            FROM (SELECT loan_id, MIN(entered_n) AS first_n FROM fd_batch_spells
                  GROUP BY loan_id) f
            WHERE bucket_spells.loan_id = f.loan_id AND bucket_spells.left_date IS NULL
            """  # noqa: S608
        )
    )
    written = conn.execute(
        text(
            f"""
            INSERT INTO bucket_spells (loan_id, bucket, entered_date, left_date)
            SELECT loan_id, bucket, {d.date("entered_n")}, {d.date("left_n")}
            FROM fd_batch_spells
            """  # noqa: S608
        )
    ).rowcount
    return changes, written


def _paused_spells(conn: Connection, d: _Dialect, buckets: _Buckets) -> None:
    """Spells of loans with a paused day in (oldest, as_of]: few, so walked day by day."""
    rows = conn.execute(
        text(
            """
            SELECT b.loan_id, b.product_id, b.oldest_n, b.prev_dpd, b.dpd
            FROM fd_batch_loans b
            WHERE b.bucket <> b.prev_bucket AND b.pause_days > 0 AND b.dpd > b.prev_dpd
            """
        )
    ).all()
    if not rows:
        return
    pauses: dict[int, list[tuple[int, int | None]]] = defaultdict(list)
    for loan_id, start_n, end_n in conn.execute(
        text(
            f"""
            SELECT dp.loan_id, {d.day("dp.start_date")}, {d.day("dp.end_date")}
            FROM delinquency_pauses dp
            JOIN fd_batch_loans b ON b.loan_id = dp.loan_id
            WHERE b.bucket <> b.prev_bucket AND b.pause_days > 0 AND b.dpd > b.prev_dpd
            """  # noqa: S608
        )
    ):
        pauses[int(loan_id)].append((int(start_n), None if end_n is None else int(end_n)))
    params: list[dict[str, Any]] = []
    for loan_id, product_id, oldest_n, prev_dpd, dpd in rows:
        crossed = [b for b in buckets[product_id] if prev_dpd < b[1] <= dpd]
        entered = _first_days(oldest_n, [b[1] for b in crossed], pauses[loan_id])
        for k, (code, _lo, _hi) in enumerate(crossed):
            left = entered[k + 1] if k + 1 < len(entered) else None
            params.append({"l": loan_id, "c": code, "e": entered[k], "x": left})
    conn.execute(
        text(
            "INSERT INTO fd_batch_spells (loan_id, bucket, entered_n, left_n) "
            "VALUES (:l, :c, :e, :x)"
        ),
        params,
    )


def _first_days(
    oldest_n: int, thresholds: list[int], pauses: list[tuple[int, int | None]]
) -> list[int]:
    """For each threshold (ascending), the first day n > oldest_n whose count of unpaused
    days in (oldest_n, n] reaches it."""
    found: list[int] = []
    count, day = 0, oldest_n
    while len(found) < len(thresholds):
        day += 1
        if any(s <= day and (e is None or day < e) for s, e in pauses):
            continue
        count += 1
        if count == thresholds[len(found)]:
            found.append(day)
    return found
