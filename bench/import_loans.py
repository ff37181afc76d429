"""Benchmark: import loans with their schedules from Parquet, through the real CLI.

    .venv/bin/python bench/import_loans.py --loans 1000000 --db sqlite
    .venv/bin/python bench/import_loans.py --loans 1000000 --db postgresql

1. Writes a synthetic loans file ``/tmp/fairdun_bench_loans-<N>.parquet`` (kept and
   reused; deterministic for a given N and seed), streamed in batches. The mix is set in
   ``MIX`` below and described in bench/README.md.
2. Empties the bench database, migrates it, creates one lender and its product through the
   services, and writes the N borrowers the loans refer to with one set-based statement
   (not timed: borrowers are not what this measures).
3. Runs ``fairdun import loans FILE --institution CODE --as-of 2026-11-29`` as a child
   process, exactly as a user would, and times it from start to exit: both passes (check
   every row, then write), schedules, true cost, caps, state as of the date, bucket
   spells, the commit. Peak memory is the child's ``ru_maxrss``.
4. Checks what landed (row counts, and that a sample of loans replays to the stored
   state) and writes ``bench/results/import-<db>-<N>.json``.

``--distinct-principals`` makes every loan's principal different (worst case for the
importer's per-terms cache; see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from benchkit import (
    PG_URL,
    RESULTS,
    SQLITE_URL,
    bench_keys,
    bench_lender,
    children_peak_rss_mb,
    fresh_engine,
    log,
    machine,
)
from sqlalchemy import Engine, func, select, text

from fairdun.institutions import uscc
from fairdun.kit.db import session_factory
from fairdun.loans import ledger, service
from fairdun.loans.models import Borrower, InstalmentRow, Loan

AS_OF = date(2026, 11, 29)
CREDIT_CODE = uscc.make("91110000100000001")
BATCH = 50_000

# The synthetic book: what a consumer lender's portfolio looks like. Principals are whole
# thousands of yuan (apps offer limits in round steps), rates and fees come from a small
# price menu, start dates spread over the 400 days before the as-of date, so some loans
# are current, some past due, some past their last instalment. Weights in parentheses.
MIX: dict[str, Any] = {
    "principal_yuan": list(range(1_000, 50_001, 1_000)),
    "annual_rate": [("0.0720", 3), ("0.1080", 3), ("0.1440", 3), ("0.1800", 2), ("0.2350", 1)],
    "method_terms": [
        ("equal_instalment", [3, 6, 12, 24, 36], 6),
        ("equal_principal", [6, 12, 24], 2),
        ("interest_only", [3, 6, 12], 1),
        ("bullet", [1, 3, 6], 1),
    ],
    # upfront fee as a share of principal, periodic fee in yuan a month
    "upfront_fee_pct": [(0, 7), (1, 2), (2, 1)],
    "periodic_fee_yuan": [(0, 8), (10, 1), (30, 1)],
    "start_days_back": 400,
}

SCHEMA = pa.schema(
    [
        ("external_id", pa.string()),
        ("borrower_external_id", pa.string()),
        ("product_code", pa.string()),
        ("principal", pa.int64()),
        ("annual_rate", pa.string()),
        ("term_months", pa.int64()),
        ("start_date", pa.date32()),
        ("method", pa.string()),
        ("upfront_fee", pa.int64()),
        ("periodic_fee", pa.int64()),
        ("currency", pa.string()),
    ]
)


def _weighted(rng: random.Random, options: list[Any]) -> Any:
    return rng.choices([o[0] for o in options], weights=[o[-1] for o in options])[0]


def loan_rows(n: int, seed: int, distinct: bool) -> Any:
    """Yield record batches of the loans file."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible synthetic book
    methods = MIX["method_terms"]
    method_weights = [m[2] for m in methods]
    for first in range(0, n, BATCH):
        cols: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
        for i in range(first, min(n, first + BATCH)):
            method, terms, _ = rng.choices(methods, weights=method_weights)[0]
            principal = rng.choice(MIX["principal_yuan"]) * 100
            if distinct:
                principal += i  # every principal different, still whole minor units
            cols["external_id"].append(f"L{i + 1:08d}")
            cols["borrower_external_id"].append(f"B{i + 1:08d}")
            cols["product_code"].append("cash")
            cols["principal"].append(principal)
            cols["annual_rate"].append(_weighted(rng, MIX["annual_rate"]))
            cols["term_months"].append(rng.choice(terms))
            cols["start_date"].append(
                AS_OF - timedelta(days=rng.randint(0, MIX["start_days_back"]))
            )
            cols["method"].append(method)
            cols["upfront_fee"].append(principal * _weighted(rng, MIX["upfront_fee_pct"]) // 100)
            cols["periodic_fee"].append(_weighted(rng, MIX["periodic_fee_yuan"]) * 100)
            cols["currency"].append("CNY")
        yield pa.RecordBatch.from_pydict(cols, schema=SCHEMA)


def write_file(n: int, seed: int, distinct: bool) -> Path:
    suffix = "-distinct" if distinct else ""
    path = Path(f"/tmp/fairdun_bench_loans-{n}-{seed}{suffix}.parquet")  # noqa: S108
    if path.exists():
        log(f"reusing {path}")
        return path
    log(f"writing {path}")
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, SCHEMA, compression="zstd") as writer:
        for batch in loan_rows(n, seed, distinct):
            writer.write_batch(batch)
    tmp.rename(path)
    return path


def seed_lender(engine: Engine, n: int) -> None:
    """The lender, its product (default rules) and the N borrowers the loans refer to."""
    factory = session_factory(engine)
    with factory() as session:
        inst_id, _, _ = bench_lender(session, "Bench Bank", CREDIT_CODE)
        session.flush()
        # One encrypted name, shared: the column must hold ciphertext, not what it says.
        name = Borrower.__table__.c.name.type.process_bind_param("Bench Borrower", None)
        if engine.dialect.name == "sqlite":
            series = (
                "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s "
                "WHERE n < :n) SELECT n FROM s) AS g"
            )
            ext = "'B' || substr('0000000' || g.n, -8, 8)"
        else:
            series = "generate_series(1, :n) AS g(n)"
            ext = "'B' || lpad(g.n::text, 8, '0')"
        session.execute(
            text(
                "INSERT INTO borrowers (institution_id, external_id, name, created_at) "  # noqa: S608
                f"SELECT :inst, {ext}, :name, :now FROM {series}"
            ),
            {"inst": inst_id, "name": name, "now": "2026-11-29 00:00:00", "n": n},
        )
        session.commit()


def run_import(
    url: str, path: Path, env_keys: dict[str, str], profile: Path | None
) -> tuple[float, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FAIRDUN_")},
        "FAIRDUN_DATABASE_URL": url,
        **env_keys,
    }
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile else []
    cmd = [
        sys.executable,
        *profiler,
        "-m",
        "fairdun",
        "import",
        "loans",
        str(path),
        "--institution",
        CREDIT_CODE,
        "--as-of",
        AS_OF.isoformat(),
    ]
    log("running: fairdun import loans " + path.name)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"import failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return seconds, proc.stdout


def verify(engine: Engine, n: int, sample: int) -> dict[str, Any]:
    """Row counts, and a sample of loans replayed from the stored rows: the stored state
    must be what ledger.replay computes."""
    factory = session_factory(engine)
    with factory() as session:
        loans = session.scalar(select(func.count()).select_from(Loan))
        instalments = session.scalar(select(func.count()).select_from(InstalmentRow))
        step = max(1, n // sample)
        ids = session.scalars(select(Loan.id).where(Loan.id % step == 0).limit(sample)).all()
        agree = 0
        for loan_id in ids:
            loan = session.get(Loan, loan_id)
            assert loan is not None
            state = ledger.replay(service.ledger_input(session, loan), AS_OF)
            stored = (loan.status, loan.days_past_due, loan.bucket, loan.payoff_amount)
            replayed = (
                state.status.value,
                state.days_past_due,
                state.bucket,
                state.payoff_amount,
            )
            agree += stored == replayed
        return {
            "loans": loans,
            "instalments": instalments,
            "sample": len(ids),
            "sample_agrees": agree,
        }


def time_row_path(url: str, path: Path, env_keys: dict[str, str], sample: int) -> dict[str, Any]:
    """The naive way: the first ``sample`` loans of the file, as new loans in a CSV file,
    through the same command (CSV takes the row path: one loan at a time through the API's
    schema, ``service.price`` and ``ledger.replay``, inserted with SQLAlchemy Core)."""
    table = pq.ParquetFile(path).read_row_group(0).slice(0, sample).to_pylist()
    csv_path = Path(f"/tmp/fairdun_bench_rowpath-{sample}.csv")  # noqa: S108
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(SCHEMA.names)
        for row in table:
            row["external_id"] = "N" + row["external_id"]
            writer.writerow(["" if row[c] is None else row[c] for c in SCHEMA.names])
    empty = Path("/tmp/fairdun_bench_rowpath-empty.csv")  # noqa: S108
    empty.write_text(",".join(SCHEMA.names) + "\n", encoding="utf-8")
    start_up, _ = run_import(url, empty, env_keys, None)  # the command with no rows
    seconds, _ = run_import(url, csv_path, env_keys, None)
    return {
        "sample": sample,
        "seconds": round(seconds, 1),
        "command_start_up_seconds": round(start_up, 1),
        # A sample too small to outlast the start-up's noise gives no figure.
        "loans_per_second": round(sample / (seconds - start_up))
        if seconds > 2 * start_up
        else None,
    }


def time_pg_floor(engine: Engine) -> dict[str, Any]:
    """What PostgreSQL itself needs for the rows the import wrote: they are copied out, then
    COPY'd into empty clones of the three tables (same columns, indexes and foreign keys)
    from memory, with no application code at all, and rolled back."""
    tables = ("loans", "instalments", "bucket_spells")
    raw = engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        data: dict[str, bytes] = {}
        with conn.cursor() as cur:
            for t in tables:
                chunks = []
                with cur.copy(f"COPY {t} TO STDOUT") as copy:
                    chunks.extend(bytes(c) for c in copy)
                data[t] = b"".join(chunks)
        conn.commit()
        timings: dict[str, float] = {}
        with conn.cursor() as cur:
            for t in tables:
                cur.execute(f"CREATE TABLE floor_{t} (LIKE {t} INCLUDING ALL)")
                cur.execute(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = %s::regclass AND contype = 'f'",
                    (t,),
                )
                for (definition,) in cur.fetchall():
                    cur.execute(f"ALTER TABLE floor_{t} ADD {definition}")
            for t in tables:
                t0 = time.perf_counter()
                with cur.copy(f"COPY floor_{t} FROM STDIN") as copy:
                    copy.write(data[t])
                timings[t] = round(time.perf_counter() - t0, 1)
        conn.rollback()
    finally:
        raw.close()
    timings["total"] = round(sum(timings.values()), 1)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", help="database URL (default: a file in /tmp, or fairdun_bench)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--distinct-principals", action="store_true")
    parser.add_argument("--sample", type=int, default=500, help="loans replayed to verify")
    parser.add_argument("--profile", type=Path, help="run the import under cProfile, to this file")
    parser.add_argument(
        "--row-path-sample", type=int, default=2_000, help="loans for the naive way"
    )
    args = parser.parse_args()
    url = args.url or (SQLITE_URL if args.db == "sqlite" else PG_URL)

    path = write_file(args.loans, args.seed, args.distinct_principals)
    env_keys = bench_keys()
    engine = fresh_engine(args.db, url)
    log(f"seeding the lender and {args.loans:,} borrowers")
    seed_lender(engine, args.loans)
    if args.db == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    seconds, output = run_import(url, path, env_keys, args.profile)
    peak = children_peak_rss_mb()  # before the naive run, also a child
    log(f"imported in {seconds:.1f} s: {args.loans / seconds:,.0f} loans/s, peak {peak:.0f} MB")
    landed = verify(engine, args.loans, args.sample)
    log(f"landed: {landed}")
    floor = time_pg_floor(engine) if args.db == "postgresql" else None
    if floor:
        log(f"PostgreSQL COPY of the same rows, no application code: {floor} s")
    row_path = time_row_path(url, path, env_keys, args.row_path_sample)
    log(f"row path (naive): {row_path}")
    result = {
        "db": args.db,
        "loans": args.loans,
        "file": path.name,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "distinct_principals": args.distinct_principals,
        "seconds": round(seconds, 1),
        "loans_per_second": round(args.loans / seconds),
        "instalments_per_second": round(landed["instalments"] / seconds),
        "peak_rss_mb": round(peak),
        "landed": landed,
        "database_floor_seconds": floor,
        "row_path": row_path,
        "ratio_fast_lane_vs_row_path": (
            round((args.loans / seconds) / row_path["loans_per_second"], 1)
            if row_path["loans_per_second"]
            else None
        ),
        "cli_output": output.strip().splitlines()[-6:],
        "machine": machine(engine),
    }
    RESULTS.mkdir(exist_ok=True)
    suffix = "-distinct" if args.distinct_principals else ""
    out = RESULTS / f"import-{args.db}-{args.loans}{suffix}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"results in {out}")
    engine.dispose()


if __name__ == "__main__":
    main()
