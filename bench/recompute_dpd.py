"""Benchmark: days past due and buckets for a whole portfolio, batch against naive.

    .venv/bin/python bench/recompute_dpd.py --loans 1000000 --db sqlite
    .venv/bin/python bench/recompute_dpd.py --loans 1000000 --db postgresql

Generates a synthetic portfolio straight into the tables (set-based INSERT ... SELECT on
the server: loans, instalments with varied due dates and paid amounts, the matching
payments, pauses and one open bucket spell a loan), then times
``fairdun.loans.batch.recompute_as_of`` for the whole portfolio twice (a catch-up run
that moves every loan from its start date, and the next day's run), and the naive way
(each loan loaded through the ORM with its instalments, payments and pauses, then
``ledger.replay``; and ``service.recompute``, which also writes the state back) on a
sample, extrapolated per loan. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date, timedelta
from typing import Any

from benchkit import (
    PG_URL,
    RESULTS,
    SQLITE_URL,
    bench_keys,
    bench_lender,
    fresh_engine,
    log,
    machine,
    peak_rss_mb,
)
from sqlalchemy import Boolean, Engine, bindparam, text
from sqlalchemy.engine import make_url

from fairdun.institutions import uscc
from fairdun.kit.clock import utcnow
from fairdun.kit.db import UTCDateTime, session_factory
from fairdun.loans import ledger, service
from fairdun.loans.batch import recompute_as_of
from fairdun.loans.models import Loan
from fairdun.loans.schemas import BorrowerCreate

AS_OF = date(2026, 11, 29)  # the daily run; the catch-up run is the day before


class Sql:
    """The few expressions the generator writes differently on the two databases."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def seq(self, alias: str, upto: str) -> str:
        """A table ``alias(n)`` of 1..upto."""
        if self.sqlite:
            return (
                f"(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s "  # noqa: S608
                f"WHERE n < {upto}) SELECT n FROM s) {alias}"
            )
        return f"generate_series(1, {upto}) AS {alias}(n)"

    def day(self, d: date) -> str:
        return f"'{d.isoformat()}'" if self.sqlite else f"DATE '{d.isoformat()}'"

    def plus_days(self, expr: str, days: str) -> str:
        if self.sqlite:
            return f"date({expr}, ({days}) || ' days')"
        return f"({expr} + CAST({days} AS INTEGER))"


def seed_refs(engine: Engine) -> tuple[int, int, int]:
    """Institution, product (default rules) and one borrower, through the services."""
    bench_keys()
    factory = session_factory(engine)
    with factory() as session:
        inst_id, product_id, admin = bench_lender(
            session, "Bench Bank", uscc.make("91110000100000001")
        )
        borrower = service.create_borrower(
            session, admin, BorrowerCreate(external_id="B1", name="Bench Borrower")
        )
        session.commit()
        return inst_id, product_id, borrower.id


def generate(engine: Engine, n_loans: int) -> dict[str, int]:
    """The synthetic portfolio, written set-based on the server."""
    inst_id, product_id, borrower_id = seed_refs(engine)
    q = Sql(engine.dialect.name)
    cutoff = q.day(AS_OF - timedelta(days=1))  # instalments due before this are (maybe) paid
    now = bindparam("now", type_=UTCDateTime())
    false = bindparam("false", type_=Boolean())
    params: dict[str, Any] = {"now": utcnow(), "false": False}
    # Terms 6, 12 or 18 months of 30-day periods, started 3 days to a full term ago.
    loans_sql = f"""
        INSERT INTO loans (institution_id, borrower_id, product_id, external_id, principal,
            annual_rate, term_months, start_date, method, upfront_fee, periodic_fee, currency,
            disputed, nominal_apr, effective_apr, cap_flags, not_collectable, state_as_of,
            status, days_past_due, worst_days_past_due, bucket, paused, outstanding_principal,
            amount_past_due, payoff_amount, credit, total_paid, created_at, updated_at)
        SELECT {inst_id}, {borrower_id}, {product_id}, 'L' || CAST(n AS VARCHAR(20)),
            term * 100000, '0.12', term, start, 'equal_principal', 0, 0, 'CNY', :false,
            '0.12', '0.1268', '', 0, start, 'current', 0, 0, 'C', :false, term * 100000,
            0, 0, 0, 0, :now, :now
        FROM (
            SELECT n, term,
                {q.plus_days(q.day(AS_OF), "-(3 + (n * 7919) % (30 * term - 3))")} AS start
            FROM (SELECT CAST(n AS BIGINT) AS n, 6 * (1 + n % 3) AS term
                  FROM {q.seq("g", str(n_loans))}) t
        ) x
    """  # noqa: S608
    # Classes by a hash of the loan id: 75% pay every instalment due, 10% stop paying at
    # instalment s, 8% pay instalment s short by 50 (within tolerance) and 7% short by 500
    # (beyond it) and then stop. Paid instalments are paid on their due date.
    instalments_sql = f"""
        INSERT INTO instalments (loan_id, number, due_date, principal, interest, fee,
            not_collectable, interest_due, fee_due, principal_paid, interest_paid, fee_paid,
            penalty_accrued, penalty_paid, settled_date)
        SELECT loan_id, number, due, 100000, interest, 0, 0, interest, 0,
            CASE WHEN full_paid THEN 100000 WHEN part_paid THEN 100000 - gap ELSE 0 END,
            CASE WHEN full_paid OR part_paid THEN interest ELSE 0 END,
            0, 0, 0,
            CASE WHEN full_paid THEN due END
        FROM (
            SELECT loan_id, number, due, interest, gap,
                due < {cutoff} AND (cls < 75 OR number < s) AS full_paid,
                due < {cutoff} AND cls >= 85 AND number = s AS part_paid
            FROM (
                SELECT l.id AS loan_id, k.n AS number,
                    {q.plus_days("l.start_date", "30 * k.n")} AS due,
                    (l.term_months - k.n + 1) * 1000 AS interest,
                    (CAST(l.id AS BIGINT) * 104729) % 100 AS cls,
                    1 + (CAST(l.id AS BIGINT) * 15485863) % l.term_months AS s,
                    CASE WHEN (CAST(l.id AS BIGINT) * 104729) % 100 < 93
                         THEN 50 ELSE 500 END AS gap
                FROM loans l JOIN {q.seq("k", "18")} ON k.n <= l.term_months
            ) a
        ) b
    """  # noqa: S608
    payments_sql = """
        INSERT INTO loan_payments (loan_id, paid_date, amount, recorded_by, created_at,
            reversal_reason)
        SELECT loan_id, due_date, principal_paid + interest_paid, 'bench', :now, ''
        FROM instalments WHERE principal_paid + interest_paid > 0
    """
    # 2% of loans have a pause from day 40, half of them closed on day 70, half still open.
    pauses_sql = f"""
        INSERT INTO delinquency_pauses (loan_id, start_date, end_date, reason, note,
            created_by, created_at)
        SELECT id, {q.plus_days("start_date", "40")},
            CASE WHEN id % 100 = 0 THEN {q.plus_days("start_date", "70")} END,
            'hardship', '', 'bench', :now
        FROM loans WHERE id % 50 = 0
    """  # noqa: S608
    spells_sql = """
        INSERT INTO bucket_spells (loan_id, bucket, entered_date, left_date)
        SELECT id, 'C', start_date, NULL FROM loans
    """
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        for name, sql in (
            ("loans", loans_sql),
            ("instalments", instalments_sql),
            ("loan_payments", payments_sql),
            ("delinquency_pauses", pauses_sql),
            ("bucket_spells", spells_sql),
        ):
            t0 = time.perf_counter()
            binds = [b for b in (now, false) if f":{b.key}" in sql]
            stmt = text(sql).bindparams(*binds)
            used = {b.key: params[b.key] for b in binds}
            counts[name] = conn.execute(stmt, used).rowcount
            log(f"  {name}: {counts[name]:,} rows in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    log(f"  ANALYZE in {time.perf_counter() - t0:.1f} s")
    return counts


# --------------------------------------------------------------------------- runs


def time_batch(engine: Engine, as_of: date, n_loans: int, label: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    report = recompute_as_of(engine, as_of)
    seconds = time.perf_counter() - t0
    log(
        f"batch {label} as of {as_of}: {report.loans:,} loans in {seconds:.2f} s "
        f"({report.loans / seconds:,.0f} loans/s); {report.bucket_changes:,} bucket changes, "
        f"{report.spells_written:,} spells written"
    )
    return {
        "label": label,
        "as_of": as_of.isoformat(),
        "loans": report.loans,
        "seconds": round(seconds, 3),
        "loans_per_second": round(report.loans / seconds),
        "bucket_changes": report.bucket_changes,
        "spells_written": report.spells_written,
    }


def sample_ids(engine: Engine, size: int) -> list[int]:
    with engine.connect() as conn:
        lo, hi = conn.execute(text("SELECT MIN(id), MAX(id) FROM loans")).one()
    step = max(1, (hi - lo + 1) // size)
    return list(range(lo, hi + 1, step))[:size]


def time_naive(engine: Engine, ids: list[int], as_of: date, n_loans: int) -> dict[str, Any]:
    """Loan by loan through the ORM, as service.recompute does it."""
    factory = session_factory(engine)
    agree = 0
    t0 = time.perf_counter()
    with factory() as session:
        for loan_id in ids:
            loan = session.get(Loan, loan_id)
            assert loan is not None
            state = ledger.replay(service.ledger_input(session, loan), as_of)
            # The batch has just written this loan's state as of as_of: they must agree.
            if (loan.days_past_due, loan.bucket, loan.status, loan.paused) == (
                state.days_past_due,
                state.bucket,
                state.status.value,
                state.paused,
            ):
                agree += 1
    replay_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with factory() as session:
        for loan_id in ids:
            loan = session.get(Loan, loan_id)
            assert loan is not None
            service.recompute(session, loan, as_of)
        session.rollback()  # measured, not kept
    recompute_s = time.perf_counter() - t0
    per_replay, per_recompute = replay_s / len(ids), recompute_s / len(ids)
    log(
        f"naive on {len(ids):,} loans: load+replay {per_replay * 1e3:.2f} ms/loan, "
        f"load+replay+write {per_recompute * 1e3:.2f} ms/loan; "
        f"batch agrees with replay on {agree:,}/{len(ids):,}"
    )
    return {
        "sample": len(ids),
        "agree_with_batch": agree,
        "load_replay_ms_per_loan": round(per_replay * 1e3, 3),
        "load_replay_write_ms_per_loan": round(per_recompute * 1e3, 3),
        "load_replay_seconds_extrapolated": round(per_replay * n_loans, 1),
        "load_replay_write_seconds_extrapolated": round(per_recompute * n_loans, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", help="database URL (default: a file in /tmp, or fairdun_bench)")
    parser.add_argument("--sample", type=int, default=2_000, help="loans for the naive way")
    args = parser.parse_args()
    url = args.url or (SQLITE_URL if args.db == "sqlite" else PG_URL)

    log(f"generating {args.loans:,} loans into {args.db} ({make_url(url).database})")
    engine = fresh_engine(args.db, url)
    t0 = time.perf_counter()
    counts = generate(engine, args.loans)
    generate_s = time.perf_counter() - t0
    log(f"generated in {generate_s:.1f} s")
    rss_before = peak_rss_mb()

    catch_up = time_batch(engine, AS_OF - timedelta(days=1), args.loans, "catch-up")
    daily = time_batch(engine, AS_OF, args.loans, "daily")
    rss_batch = peak_rss_mb()
    naive = time_naive(engine, sample_ids(engine, args.sample), AS_OF, args.loans)
    ratio = {
        "load_replay_vs_daily": round(naive["load_replay_seconds_extrapolated"] / daily["seconds"]),
        "load_replay_write_vs_daily": round(
            naive["load_replay_write_seconds_extrapolated"] / daily["seconds"]
        ),
    }
    result = {
        "db": args.db,
        "loans": args.loans,
        "rows": counts,
        "generate_seconds": round(generate_s, 1),
        "batch": [catch_up, daily],
        "naive": naive,
        "ratio": ratio,
        "peak_rss_mb": {
            "after_generation": round(rss_before),
            "after_batch_runs": round(rss_batch),
            "at_end": round(peak_rss_mb()),
        },
        "machine": machine(engine),
    }
    log(f"ratio (naive extrapolated / daily batch): {ratio}")
    log(f"peak RSS: {result['peak_rss_mb']}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{args.db}-{args.loans}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"results in {out}")
    engine.dispose()


if __name__ == "__main__":
    main()
