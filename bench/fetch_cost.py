"""What a dataframe engine would pay before computing anything: moving the rule's inputs
out of the database into Python.

    .venv/bin/python bench/fetch_cost.py --db sqlite|postgresql [--url ...]

Run it after bench/recompute_dpd.py, on the portfolio that script generated. It reads the
columns ledger rule 4 needs for every instalment of an open loan due before the as-of date
(loan id, due date, unpaid amount, product id), as a dataframe approach has to:

- SQLite: through the sqlite3 driver, into a pyarrow table (the fastest path without an
  ADBC driver or a DuckDB extension, neither of which can be installed here);
- PostgreSQL: ``COPY (SELECT ...) TO STDOUT`` through psycopg, the fastest way out.

It prints the seconds and rows; nothing is computed or written back.
"""

from __future__ import annotations

import argparse
import time

import pyarrow as pa
from sqlalchemy.engine import make_url

from fairdun.kit.db import make_engine

QUERY = """
    SELECT i.loan_id, i.due_date,
        i.principal - i.principal_paid + i.interest_due - i.interest_paid + i.fee_due - i.fee_paid,
        l.product_id
    FROM instalments i JOIN loans l ON l.id = i.loan_id
    WHERE l.status IN ('current', 'delinquent', 'charged_off') AND i.due_date < '2026-11-29'
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.db == "sqlite":
        url = args.url or "sqlite:////tmp/fairdun_bench.sqlite"
        engine = make_engine(url)
        t0 = time.perf_counter()
        raw = engine.raw_connection()
        cur = raw.cursor()
        cur.execute(QUERY)
        columns: list[list[object]] = [[], [], [], []]
        while batch := cur.fetchmany(100_000):
            for col, values in zip(columns, zip(*batch, strict=True), strict=True):
                col.extend(values)
        table = pa.table({f"c{i}": c for i, c in enumerate(columns)})
        seconds = time.perf_counter() - t0
        raw.close()
        print(f"sqlite3 -> pyarrow: {table.num_rows:,} rows in {seconds:.1f} s")
    else:
        url = args.url or "postgresql+psycopg://postgres@localhost:5432/fairdun_bench"
        if not (make_url(url).database or "").startswith("fairdun_bench"):
            raise SystemExit("the bench reads fairdun_bench only")
        engine = make_engine(url)
        t0 = time.perf_counter()
        raw = engine.raw_connection()
        cur = raw.cursor()
        size = 0
        with cur.copy(f"COPY ({QUERY}) TO STDOUT") as copy:  # type: ignore[attr-defined]
            for chunk in copy:
                size += len(chunk)
        seconds = time.perf_counter() - t0
        raw.close()
        print(f"COPY TO STDOUT (text): {size / 1e6:,.0f} MB in {seconds:.1f} s")
    engine.dispose()


if __name__ == "__main__":
    main()
