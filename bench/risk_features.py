"""Benchmark: risk features of a whole portfolio, batch (polars) against loan by loan.

    .venv/bin/python bench/risk_features.py                      # 100,000 loans, SQLite
    .venv/bin/python bench/risk_features.py --loans 1000000
    .venv/bin/python bench/risk_features.py --database-url \\
        postgresql+psycopg://postgres@localhost:5432/fairdun_bench_risk

1. Builds the synthetic portfolio of ``bench/recompute_dpd.py`` set-based on the server
   (loans of 6, 12 or 18 instalments; 75% pay on time, 10% stop, 15% pay one instalment
   short within or beyond tolerance and stop; a pause on 2% of loans), adds promises to
   pay on 5% of loans (half of them kept) and a reversed payment on 1%, and moves every
   loan's stored state to 2026-11-29 with ``fairdun.loans.batch.recompute_as_of`` (the
   daily job). None of this is timed. **The database is emptied first**: the SQLite file
   is deleted, or the PostgreSQL ``public`` schema dropped (only for a database whose
   name starts with ``fairdun_bench``).
2. Times ``fairdun.risk.features.compute_features`` for the whole portfolio as of
   2026-11-29 (scoring) and as of 2026-06-30 (a past snapshot), split into the SQL reads
   and the polars work; ``borrower_features``; and ``training_frame`` over six monthly
   snapshots.
3. Times the naive way on ``--sample`` loans spread over the portfolio: each loan loaded
   through the ORM (loan, product, instalments, payments, pauses, promises), replayed with
   ``ledger.replay`` to 2026-11-29, its features computed in Python (the worst days past
   due from the replay's dpd line); the time per loan is **extrapolated** to the
   portfolio. The replay is the ledger's exact truth, so the sample also says how often
   the batch agrees with it (days past due now and worst over 3/6/12 months, balance).
4. Prints a markdown table (with peak RSS, ``ru_maxrss``) and the machine.
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl
from benchkit import fresh_engine, log, machine, peak_rss_mb
from recompute_dpd import generate
from sqlalchemy import Date, Engine, bindparam, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from fairdun.kit.clock import utcnow
from fairdun.kit.db import UTCDateTime, session_factory
from fairdun.loans import ledger, service
from fairdun.loans.batch import recompute_as_of
from fairdun.loans.models import Loan
from fairdun.risk import features
from fairdun.risk.features import WINDOWS
from fairdun.risk.models import PromiseToPay
from fairdun.risk.promises import GRACE_DAYS

AS_OF = date(2026, 11, 29)
PAST = date(2026, 6, 30)
DEFAULT_URL = "sqlite:////tmp/fairdun_bench_risk.sqlite"


# --------------------------------------------------------------------------- portfolio


def add_promises_and_reversals(engine: Engine) -> dict[str, int]:
    """Promises on 5% of loans (made 10 days before an instalment fell due, for its amount,
    by its due date: kept when that instalment was paid) and a reversed payment on 1%."""
    now = bindparam("now", type_=UTCDateTime())
    counts = {}
    with engine.begin() as conn:
        sqlite = conn.dialect.name == "sqlite"
        minus_10 = "date(i.due_date, '-10 days')" if sqlite else "(i.due_date - 10)"
        counts["promises_to_pay"] = conn.execute(
            text(
                f"""
                INSERT INTO promises_to_pay (institution_id, loan_id, made_on, promised_date,
                    amount, channel, created_by, created_at)
                SELECT l.institution_id, l.id, {minus_10}, i.due_date,
                       i.principal + i.interest, 'call', 'bench', :now
                FROM loans l JOIN instalments i ON i.loan_id = l.id AND i.number = 2
                WHERE l.id % 20 = 7 AND i.due_date <= :as_of
                """  # noqa: S608
            ).bindparams(now, bindparam("as_of", type_=Date())),
            {"now": utcnow(), "as_of": AS_OF},
        ).rowcount
        counts["reversed_payments"] = conn.execute(
            text(
                """
                INSERT INTO loan_payments (loan_id, paid_date, amount, recorded_by, created_at,
                    reversed_at, reversal_reason)
                SELECT l.id, l.start_date, 12345, 'bench', :now, :now, 'bounced'
                FROM loans l WHERE l.id % 100 = 3
                """
            ).bindparams(now),
            {"now": utcnow()},
        ).rowcount
    return counts


# --------------------------------------------------------------------------- naive


@dataclass(frozen=True)
class NaiveRow:
    loan_id: int
    dpd_now: int
    worst: tuple[int, ...]  # per WINDOWS
    balance: float
    promises_kept: int
    promises_broken: int


def _worst(points: tuple[tuple[date, int], ...], first: date, last: date) -> int:
    """The largest days past due over [first, last] of the replay's dpd line (the points
    joined by straight lines redraw it exactly, day for day)."""
    best = 0
    for (d0, v0), (d1, v1) in itertools.pairwise(points):
        lo, hi = max(d0, first), min(d1, last)
        if lo > hi:
            continue
        for day in (lo, hi):
            best = max(best, v0 + (v1 - v0) * (day - d0).days // max(1, (d1 - d0).days))
    for day, value in points:
        if first <= day <= last:
            best = max(best, value)
    return best


def naive_features(session: Session, loan_id: int, as_of: date) -> NaiveRow:
    """One loan the obvious way: the ORM loads it, the ledger replays it, Python counts."""
    loan = session.get(Loan, loan_id)
    assert loan is not None
    inp = service.ledger_input(session, loan)
    state = ledger.replay(inp, as_of)
    promises = session.scalars(select(PromiseToPay).where(PromiseToPay.loan_id == loan_id)).all()
    payments = [p for p in inp.payments if not p.reversed]
    kept = broken = 0
    for promise in promises:
        if promise.cancelled_at is not None or promise.made_on > as_of:
            continue
        closes = promise.promised_date + timedelta(days=GRACE_DAYS)
        paid = sum(
            p.amount for p in payments if promise.made_on <= p.paid_date <= min(as_of, closes)
        )
        kept += paid >= promise.amount
        broken += paid < promise.amount and closes < as_of
    worst = tuple(
        _worst(state.dpd_points, as_of - timedelta(days=window - 1), as_of)
        for _name, window in WINDOWS
    )
    return NaiveRow(
        loan_id, state.days_past_due, worst, state.outstanding_principal / 100, kept, broken
    )


def sample_ids(engine: Engine, size: int) -> list[int]:
    with engine.connect() as conn:
        lo, hi = conn.execute(text("SELECT MIN(id), MAX(id) FROM loans")).one()
    step = max(1, (hi - lo + 1) // size)
    return list(range(lo, hi + 1, step))[:size]


# --------------------------------------------------------------------------- runs


def timed(label: str, fn: Any, *args: Any, **kw: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    seconds = time.perf_counter() - t0
    log(f"{label}: {seconds:.2f} s")
    return out, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--sample", type=int, default=1_000, help="loans for the naive way")
    args = parser.parse_args()
    url = args.database_url
    db = "sqlite" if url.startswith("sqlite") else "postgresql"

    log(f"building {args.loans:,} loans in {db} ({make_url(url).database})")
    engine = fresh_engine(db, url)
    t0 = time.perf_counter()
    counts = generate(engine, args.loans)
    counts.update(add_promises_and_reversals(engine))
    recompute_as_of(engine, AS_OF)
    log(f"built in {time.perf_counter() - t0:.1f} s: {counts}")
    rss_built = peak_rss_mb()

    rows: list[tuple[str, int, float, float]] = []  # step, rows, seconds, peak RSS after
    for as_of in (AS_OF, PAST):
        whole, whole_s = timed(
            f"compute_features as of {as_of}", features.compute_features, engine, as_of
        )
        rss = peak_rss_mb()
        # The same work step by step, to split the time between the SQL reads into polars
        # and the polars computation (partition by partition, as compute_features does).
        load_s = polars_s = 0.0
        frames = []
        with engine.connect() as conn:
            books = features._books(conn, features._scope(None, None, as_of, as_of))
            while True:
                t0 = time.perf_counter()
                book = next(books, None)
                load_s += time.perf_counter() - t0
                if book is None:
                    break
                t0 = time.perf_counter()
                frames.append(features._features(book, as_of, open_only=True))
                polars_s += time.perf_counter() - t0
        assert whole.equals(pl.concat(frames).sort("loan_id"))
        label = "scoring" if as_of == AS_OF else "past snapshot"
        rows.append((f"`compute_features` as of {as_of} ({label})", whole.height, whole_s, rss))
        rows.append(("&nbsp;&nbsp;of which SQL reads into polars", whole.height, load_s, rss))
        rows.append(("&nbsp;&nbsp;of which polars", whole.height, polars_s, rss))
    scored = features.compute_features(engine, AS_OF)
    borrowers, borrowers_s = timed("borrower_features", features.borrower_features, scored)
    rows.append(("`borrower_features`", scored.height, borrowers_s, peak_rss_mb()))
    snapshots = [AS_OF - timedelta(days=30 + 30 * k) for k in range(6)][::-1]
    train, train_s = timed(
        "training_frame, 6 snapshots", features.training_frame, engine, snapshots
    )
    rows.append(("`training_frame`, 6 monthly snapshots", train.height, train_s, peak_rss_mb()))
    rss_batch = peak_rss_mb()

    ids = sample_ids(engine, args.sample)
    factory = session_factory(engine)
    t0 = time.perf_counter()
    with factory() as session:
        naive = [naive_features(session, loan_id, AS_OF) for loan_id in ids]
    naive_s = time.perf_counter() - t0
    per_loan = naive_s / len(ids)
    extrapolated = per_loan * scored.height
    log(f"naive: {per_loan * 1e3:.2f} ms/loan on {len(ids):,} loans -> {extrapolated:.0f} s")

    by_id = {r["loan_id"]: r for r in scored.iter_rows(named=True)}
    checked = [n for n in naive if n.loan_id in by_id]
    agree = {
        "dpd_now": sum(by_id[n.loan_id]["dpd_now"] == n.dpd_now for n in checked),
        **{
            name: sum(by_id[n.loan_id][name] == n.worst[k] for n in checked)
            for k, (name, _w) in enumerate(WINDOWS)
        },
        "balance": sum(abs(by_id[n.loan_id]["balance"] - n.balance) < 0.005 for n in checked),
    }
    batch_s = rows[0][2]
    print()
    print(f"### Risk features, {args.loans:,} loans, {db}")
    print()
    print("| step | rows | seconds | rows/s | peak RSS so far |")
    print("|---|---|---|---|---|")
    for name, n, seconds, rss in rows:
        print(f"| {name} | {n:,} | {seconds:.2f} | {n / seconds:,.0f} | {rss:,.0f} MB |")
    print(
        f"| naive: ORM load + `ledger.replay` + Python, {len(ids):,} loans "
        f"({per_loan * 1e3:.2f} ms/loan), **extrapolated** to {scored.height:,} | "
        f"{scored.height:,} | {extrapolated:.0f} | {1 / per_loan:,.0f} | {peak_rss_mb():,.0f} MB |"
    )
    ratio = extrapolated / batch_s
    print(f"| **ratio, naive (extrapolated) / batch scoring run** | | **{ratio:.0f}x** | | |")
    print()
    print(
        f"Sampled loans open on {AS_OF} where the batch equals the replay: "
        + ", ".join(f"{k} {v:,}/{len(checked):,}" for k, v in agree.items())
    )
    print(
        f"Training frame: {train.height:,} rows, positive rate "
        f"{train['rolled_30'].mean():.4f}; borrowers: {borrowers.height:,}"
    )
    print(
        f"Peak RSS: {rss_built:.0f} MB after building, {rss_batch:.0f} MB after the batch "
        f"runs, {peak_rss_mb():.0f} MB at the end."
    )
    print(f"Rows: {counts}")
    print(f"Machine: {machine(engine)}")
    engine.dispose()


if __name__ == "__main__":
    main()
