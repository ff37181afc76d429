"""The fast lane of a loans import (Parquet, set-based) must give what the row path gives.

The row path (CSV, row by row through the API's schemas and ``service.price`` /
``ledger.replay``) is the reference: the same loans imported as CSV into one lender and as
Parquet into another must leave identical books, and a bad row must be reported with the
same column and reason.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from fairdun.institutions.models import Institution
from fairdun.loans import import_bulk, importer
from fairdun.loans.import_columns import Kind
from fairdun.loans.terms import RepaymentMethod
from tests.factories import TODAY, caps, make_institution, make_loan, make_product
from tests.loans.test_importer import (
    BAD_LOANS,
    EXAMPLES,
    book_snapshot,
    counts,
    report_rows,
    run_import,
    to_parquet,
    with_cell,
    write_csv,
)

COLUMNS = [
    "external_id",
    "borrower_external_id",
    "product_code",
    "principal",
    "annual_rate",
    "term_months",
    "start_date",
    "method",
    "upfront_fee",
    "periodic_fee",
    "currency",
]
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


@pytest.fixture
def lanes(db: Session) -> tuple[Institution, Institution]:
    """Two lenders with the same product and the example borrowers."""
    pair = (make_institution(db, name="甲银行"), make_institution(db, name="乙银行"))
    for inst in pair:
        make_product(db, inst, code="cash")
    db.commit()
    for inst in pair:
        assert run_import(db, inst, (Kind.BORROWERS, EXAMPLES / "borrowers.csv")).accepted
    return pair


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_bulk, "BATCH_ROWS", 7)


@pytest.fixture
def lane_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of loans each call of the fast lane's writer booked."""
    calls: list[int] = []
    original = import_bulk.Lane.write

    def counted(self: import_bulk.Lane, connection: Any, frame: Any) -> tuple[int, int]:
        result = original(self, connection, frame)
        calls.append(result[0])
        return result

    monkeypatch.setattr(import_bulk.Lane, "write", counted)
    return calls


def random_rows(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Loans with every method and awkward but valid values: spaces around ids, rates
    written with trailing zeros, absent optional cells, month-end starts."""
    rows = []
    for i in range(n):
        principal = rng.choice([1, 57, 100_000, 1_200_000, rng.randint(1, 10**9)])
        ext = f"RL-{i:04d}"
        if rng.random() < 0.15:
            ext = f" {ext} "  # the row path strips it; the fast lane sends it there
        rows.append(
            {
                "external_id": ext,
                "borrower_external_id": f"EXB-000{rng.randint(1, 5)}",
                "product_code": "cash",
                "principal": principal,
                "annual_rate": rng.choice(["0", "0.18", "0.180", "0.2399", "0.36", "1", ".05"]),
                "term_months": rng.choice([1, 3, 12, 24, rng.randint(1, 360)]),
                "start_date": rng.choice(
                    [
                        date(2023, 1, 31),
                        date(2024, 2, 29),
                        TODAY,
                        TODAY - timedelta(days=45),
                        TODAY - timedelta(days=rng.randint(0, 2000)),
                    ]
                ),
                "method": rng.choice([m.value for m in RepaymentMethod]),
                "upfront_fee": rng.choice([None, 0, principal // 100, principal // 2]),
                "periodic_fee": rng.choice([None, 0, 1, principal // 50]),
                "currency": rng.choice([None, "CNY", "USD"]),
            }
        )
    return rows


def write_both(tmp_path: Path, rows: list[dict[str, Any]]) -> tuple[Path, Path]:
    csv_path = write_csv(
        tmp_path / "loans.csv",
        [COLUMNS] + [["" if r[c] is None else str(r[c]) for c in COLUMNS] for r in rows],
    )
    parquet_path = tmp_path / "loans.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), parquet_path)
    return csv_path, parquet_path


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_fast_lane_leaves_the_book_the_row_path_leaves(
    db: Session,
    lanes: tuple[Institution, Institution],
    tmp_path: Path,
    small_batches: None,
    lane_calls: list[int],
    seed: int,
) -> None:
    rows = random_rows(random.Random(seed), 40)
    csv_path, parquet_path = write_both(tmp_path, rows)
    by_rows, by_lane = lanes
    first = run_import(db, by_rows, (Kind.LOANS, csv_path))
    second = run_import(db, by_lane, (Kind.LOANS, parquet_path))
    assert first.accepted, first.files[0].first_errors
    assert second.accepted, second.files[0].first_errors
    assert sum(lane_calls) > 20, "most rows must have taken the fast lane"
    assert sum(lane_calls) < 40, "the rows with spaces must have taken the row path"
    assert (first.files[0].inserted, first.files[0].cap_flagged) == (
        second.files[0].inserted,
        second.files[0].cap_flagged,
    )
    assert book_snapshot(db, by_rows.id) == book_snapshot(db, by_lane.id)

    # A re-import finds every loan stored: all skipped, nothing written.
    before = counts(db)
    again = run_import(db, by_lane, (Kind.LOANS, parquet_path)).files[0]
    assert (again.inserted, again.skipped) == (0, 40)
    assert counts(db) == before


@pytest.mark.parametrize(("line", "column", "value", "reason"), BAD_LOANS)
def test_a_bad_row_in_parquet_gets_the_row_paths_report(
    db: Session,
    lanes: tuple[Institution, Institution],
    tmp_path: Path,
    line: int,
    column: str,
    value: str,
    reason: str,
) -> None:
    lender = lanes[0]
    source = write_csv(tmp_path / "loans.csv", with_cell(Kind.LOANS, line, column, value))
    try:
        path = to_parquet(Kind.LOANS, source)
    except importer.ConvertError:
        pytest.skip("a typed Parquet column cannot hold this value")
    before = counts(db)
    outcome = run_import(db, lender, (Kind.LOANS, path)).files[0]
    [error] = report_rows(outcome)
    # Parquet rows are numbered from 1, CSV lines from 2 (the header is line 1).
    assert (error["row"], error["column"], error["value"]) == (str(line - 1), column, value)
    assert reason in error["reason"].replace("row 1", "row 2")
    assert counts(db) == before


def test_a_repeated_external_id_is_found_across_batches(
    db: Session, lanes: tuple[Institution, Institution], tmp_path: Path, small_batches: None
) -> None:
    rows = random_rows(random.Random(9), 20)
    for r in rows:
        r["external_id"] = r["external_id"].strip()
    rows[15]["external_id"] = rows[2]["external_id"]
    _, parquet_path = write_both(tmp_path, rows)
    before = counts(db)
    outcome = run_import(db, lanes[0], (Kind.LOANS, parquet_path)).files[0]
    assert [(e["row"], e["column"], e["reason"]) for e in report_rows(outcome)] == [
        ("16", "external_id", "appears again: first at row 3")
    ]
    assert counts(db) == before


def test_a_missing_borrower_is_reported_by_the_fast_lane(
    db: Session, lanes: tuple[Institution, Institution], tmp_path: Path, small_batches: None
) -> None:
    rows = random_rows(random.Random(4), 12)
    for r in rows:
        r["external_id"] = r["external_id"].strip()
    rows[9]["borrower_external_id"] = "EXB-4040"
    _, parquet_path = write_both(tmp_path, rows)
    outcome = run_import(db, lanes[0], (Kind.LOANS, parquet_path)).files[0]
    assert [(e["row"], e["column"], e["reason"]) for e in report_rows(outcome)] == [
        ("10", "borrower_external_id", "no such borrower at this lender")
    ]


def test_a_file_with_other_column_types_takes_the_row_path(
    db: Session, lanes: tuple[Institution, Institution], tmp_path: Path, lane_calls: list[int]
) -> None:
    rows = random_rows(random.Random(5), 6)
    for r in rows:
        r["external_id"] = r["external_id"].strip()
    schema = SCHEMA.set(SCHEMA.get_field_index("principal"), pa.field("principal", pa.int32()))
    schema = schema.set(
        schema.get_field_index("annual_rate"), pa.field("annual_rate", pa.float64())
    )
    for r in rows:
        r["principal"] = min(r["principal"], 2**31 - 1)
        r["annual_rate"] = float(r["annual_rate"])
    path = tmp_path / "loans.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    outcome = run_import(db, lanes[0], (Kind.LOANS, path))
    assert outcome.accepted, outcome.files[0].first_errors
    assert outcome.files[0].inserted == 6
    assert lane_calls == []  # a double rate is not the documented type: the row path read it


CELLS: dict[str, list[Any]] = {
    "external_id": ["L1", " L1", "", "x" * 100, "x" * 101, r"\N", "贷-1", None],
    "borrower_external_id": ["EXB-0001", "", " B", "EXB-4040", None],
    "product_code": ["cash", "gold", " cash", None],
    "principal": [-1, 0, 1, 10**12, 10**12 + 1, None],
    "annual_rate": ["0.18", "0.1800", ".5", "1", "1.0001", "-0.1", "1e-1", "NaN", " 0.1", "", None],
    "term_months": [0, 1, 360, 361, None],
    "start_date": [TODAY, TODAY + timedelta(days=1), date(1899, 12, 31), date(1900, 1, 1), None],
    "method": [*(m.value for m in RepaymentMethod), "weekly", " bullet", None],
    "upfront_fee": [None, -1, 0, 1, 5 * 10**11, 5 * 10**11 + 1],
    "periodic_fee": [None, -1, 0, 10**12, 10**12 + 1],
    "currency": [None, "CNY", "cny", "CN", " CNY", "USD"],
}


VALID = {
    "external_id": "L1",
    "borrower_external_id": "EXB-0001",
    "product_code": "cash",
    "principal": 100_000,
    "annual_rate": "0.18",
    "term_months": 12,
    "start_date": TODAY,
    "method": "bullet",
    "upfront_fee": None,
    "periodic_fee": None,
    "currency": None,
}


@st.composite
def near_valid_rows(draw: st.DrawFn) -> dict[str, Any]:
    """A valid row with up to two cells replaced by values from ``CELLS``."""
    row = dict(VALID)
    for column in draw(st.lists(st.sampled_from(list(CELLS)), max_size=2, unique=True)):
        row[column] = draw(st.sampled_from(CELLS[column]))
    return row


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(near_valid_rows(), min_size=1, max_size=12))
def test_the_fast_check_never_passes_a_row_the_row_path_refuses(
    db: Session, lanes: tuple[Institution, Institution], rows: list[dict[str, Any]]
) -> None:
    """The fast lane books only rows its vectorised check passes: each of them must be a
    row the row path accepts, with the same terms."""
    lender = lanes[0]
    ctx = importer._Context(
        session=db,
        institution_id=lender.id,
        as_of=TODAY,
        caps=caps(),
        actor="test",
        products=importer._products(db, lender.id),
        rules_by_id={},
    )
    lane = import_bulk.Lane(
        institution_id=lender.id,
        as_of=TODAY,
        caps=caps(),
        products={code: p.id for code, p in ctx.products.items()},
        rules_by_id={},
    )
    frame = pl.from_arrow(pa.Table.from_pylist(rows, schema=SCHEMA))
    assert isinstance(frame, pl.DataFrame)
    handler = importer._Loans(ctx, COLUMNS)
    for i, ok in enumerate(lane.fast_mask(frame).to_list()):
        if ok:
            parsed = handler.parse(i + 1, rows[i])
            assert not isinstance(parsed, tuple), (rows[i], parsed)


def test_a_loan_stored_between_the_passes_aborts_the_whole_import(
    db: Session,
    lanes: tuple[Institution, Institution],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pass 2 writes new loans without looking them up again; a loan that a concurrent
    import stored meanwhile breaks the unique constraint and nothing is imported."""
    rows = random_rows(random.Random(6), 10)
    for r in rows:
        r["external_id"] = r["external_id"].strip()
    _, parquet_path = write_both(tmp_path, rows)
    lender = lanes[0]
    original = importer._write_file

    def meanwhile(ctx: Any, source: Any, outcome: Any, progress: Any) -> None:
        make_loan(db, lender, external_id=rows[4]["external_id"])
        original(ctx, source, outcome, progress)

    monkeypatch.setattr(importer, "_write_file", meanwhile)
    with pytest.raises(importer.ImportAborted, match="IntegrityError"):
        importer.import_files(
            db,
            [importer.Source(Kind.LOANS, parquet_path)],
            institution_id=lender.id,
            as_of=TODAY,
            caps=caps(),
        )
    db.rollback()
    assert counts(db)["loans"] == 0
