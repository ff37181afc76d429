"""Import of borrowers, loans and payments from CSV and Parquet files, all or nothing.

The columns of each kind of file are in ``fairdun.loans.import_columns`` (and, with sample
files, in ``examples/README.md``). How an import runs:

* **Two passes over a stream.** Pass 1 reads the file and validates every row; it only
  reads the database. If any row is bad, nothing is written: the errors go to
  ``<file>.errors.csv`` (columns ``file, row, column, value, reason``) beside the file (or
  in ``report_dir``), and one ``import.rejected`` audit record is written. Otherwise pass 2
  reads the file again and writes it in batches. Neither pass holds the file in memory:
  CSV goes through the ``csv`` module line by line, Parquet through
  ``ParquetFile.iter_batches``; rows are handled ``CHUNK_ROWS`` at a time. What does grow
  with the file is one set of its external ids (to find duplicates and references):
  about 150 bytes a row.
* **Row numbers.** CSV: the line of the file where the record starts (the header is line
  1, so the first data row is 2). Parquet: the 1-based row index. Row 0 is the file itself
  (unreadable, not UTF-8, a Parquet schema problem).
* **The same checks as the API.** Each row goes through the API's own schemas
  (``BorrowerCreate``, ``LoanCreate``, ``PaymentCreate``) and ``LoanTerms``, so a bad value
  gets the message the API would give; then the checks across rows: an external id twice
  in the file, a borrower, product or loan that does not exist at this lender, a loan that
  starts or a payment dated after the as-of date, a payment before its loan started.
* **Personal data stays out of the report.** A value in a personal column (name, identity
  number, phone, e-mail, address) is written as ``***``, and removed from the reason.
* **Re-import updates.** Borrowers are matched by external id and their fields updated. A
  loan that exists is skipped when nothing changed, re-booked (new schedule and state) when
  it has no payments, and refused (an error row) when it has: the terms of a loan with
  payments cannot change. A payment is matched by its loan and external id: skipped when
  the same, its date and amount updated otherwise (a reversed payment cannot change).
  Every loan that got a payment is recomputed once at the end, whatever the number of
  payments.
* **The caller is the boundary.** This module writes and flushes in the caller's session
  and never commits. A rejected import has written only its ``import.rejected`` record, so
  the boundary commits as usual and reports the rejection. An exception in pass 2
  (``ImportAborted``: the file changed between the passes, a concurrent write) leaves the
  transaction to be rolled back; the boundary then records the rejection with
  ``record_aborted`` in a new unit of work.

Several files can be imported together (``import_files``): borrowers, then loans, then
payments, all checked before any is written, in one transaction. A loan may then refer to
a borrower of the borrowers file and a payment to a loan of the loans file.
"""

from __future__ import annotations

import csv
import functools
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, Protocol, cast

from pydantic import ValidationError
from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fairdun.audit import service as audit
from fairdun.institutions import repository as institutions_repo
from fairdun.institutions.models import InstitutionKind
from fairdun.kit import crypto
from fairdun.kit.errors import Invalid
from fairdun.loans import bulk, import_bulk, ledger
from fairdun.loans import service as loans_service
from fairdun.loans.import_columns import COLUMNS, ColumnSpec, ColumnType, Kind, spec_of
from fairdun.loans.models import (
    Borrower,
    BucketSpellRow,
    DelinquencyPause,
    InstalmentRow,
    Loan,
    LoanPayment,
    LoanStatus,
    Product,
)
from fairdun.loans.schedule import add_months
from fairdun.loans.schemas import BorrowerCreate, LoanCreate, PaymentCreate
from fairdun.loans.terms import (
    Instalment,
    LedgerInput,
    LoanTerms,
    Pause,
    Payment,
    ProductRules,
    RepaymentMethod,
    TermsError,
)

__all__ = [
    "CHUNK_ROWS",
    "MAX_KEPT_ERRORS",
    "FileOutcome",
    "ImportAborted",
    "ImportOutcome",
    "ImportProgress",
    "Kind",
    "RowError",
    "Source",
    "csv_to_parquet",
    "import_file",
    "import_files",
    "record_aborted",
    "report_path",
    "resolve_lender",
]

CHUNK_ROWS = 1000  # rows validated / written per batch (one SELECT per lookup per batch)
RECOMPUTE_CHUNK = 500  # loans replayed per batch after a payments import
MAX_KEPT_ERRORS = 1000  # errors kept in memory for the caller; the report has them all
# Money columns are BIGINT; counts are bounded far lower by the domain checks.
MAX_STORED_INT = 2**63 - 1
MASK = "***"
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}

_ORDER = {Kind.BORROWERS: 0, Kind.LOANS: 1, Kind.PAYMENTS: 2}
_INT_RE = re.compile(r"[+-]?[0-9]+")
_DECIMAL_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Source:
    kind: Kind
    path: Path


@dataclass(frozen=True)
class RowError:
    """One line of the error report. ``value`` is masked for personal columns."""

    file: str
    row: int
    column: str
    value: str
    reason: str


@dataclass
class FileOutcome:
    kind: Kind
    path: Path
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    errors: int = 0
    first_errors: list[RowError] = field(default_factory=list)
    report: Path | None = None
    cap_flagged: int = 0  # loans whose cost is above a legal cap (flagged, not refused)

    @property
    def file(self) -> str:
        return self.path.name


@dataclass
class ImportOutcome:
    files: list[FileOutcome]
    as_of: date
    recomputed: int = 0  # loans replayed after their payments were imported

    @property
    def accepted(self) -> bool:
        return all(f.errors == 0 for f in self.files)

    @property
    def errors(self) -> int:
        return sum(f.errors for f in self.files)


class ImportAborted(Exception):
    """Pass 2 could not finish; the caller's transaction must be rolled back."""


class ImportProgress(Protocol):
    def begin(self, label: str, total: int | None) -> None: ...

    def advance(self, rows: int) -> None: ...


class _NoProgress:
    def begin(self, label: str, total: int | None) -> None:
        pass

    def advance(self, rows: int) -> None:
        pass


def report_path(source: Path, report_dir: Path | None = None) -> Path:
    return (report_dir or source.parent) / f"{source.name}.errors.csv"


# --------------------------------------------------------------------------- reading


class _FileProblem(Exception):
    def __init__(self, row: int, reason: str) -> None:
        super().__init__(reason)
        self.row = row
        self.reason = reason


# (row number, {column: raw value}, problem with the row as a whole or None)
_RawRow = tuple[int, dict[str, object], str | None]


class _Reader(Protocol):
    header_row: int

    def header(self) -> list[str]: ...

    def rows(self, columns: list[str]) -> Iterator[_RawRow]: ...

    def total(self) -> int | None: ...

    def close(self) -> None: ...


class _CsvReader:
    """UTF-8 CSV (a BOM is skipped), one record at a time."""

    header_row = 1

    def __init__(self, path: Path) -> None:
        self._file: IO[str] = path.open(newline="", encoding="utf-8-sig")
        self._reader = csv.reader(self._file)
        self._names: list[str] = []

    def header(self) -> list[str]:
        try:
            names = next(self._reader)
        except StopIteration:
            raise _FileProblem(
                0, "the file is empty: the first line must name the columns"
            ) from None
        except UnicodeDecodeError:
            raise _FileProblem(1, _NOT_UTF8) from None
        except csv.Error as exc:
            raise _FileProblem(1, f"unreadable CSV: {exc}") from None
        self._names = [n.strip() for n in names]
        return self._names

    def rows(self, columns: list[str]) -> Iterator[_RawRow]:
        width = len(self._names)
        previous = self._reader.line_num
        try:
            for cells in self._reader:
                start = previous + 1
                previous = self._reader.line_num
                if not any(c.strip() for c in cells):
                    continue  # a blank line is no row
                if len(cells) != width:
                    yield (
                        start,
                        {},
                        f"the row has {len(cells)} fields, the header names {width} columns",
                    )
                    continue
                yield start, dict(zip(self._names, cells, strict=True)), None
        except UnicodeDecodeError:
            raise _FileProblem(previous + 1, _NOT_UTF8) from None
        except csv.Error as exc:
            raise _FileProblem(previous + 1, f"unreadable CSV: {exc}") from None

    def total(self) -> int | None:
        return None

    def close(self) -> None:
        self._file.close()


_NOT_UTF8 = "the file is not UTF-8 text: save it as CSV UTF-8"


class _ParquetReader:
    """Parquet, one record batch at a time."""

    header_row = 0

    def __init__(self, path: Path, batch_rows: int) -> None:
        pa, pq = _arrow()
        self._path = path
        self._errors: tuple[type[Exception], ...] = (pa.ArrowException, OSError)
        self._batch_rows = batch_rows
        try:
            self._file: Any = pq.ParquetFile(path)
        except self._errors as exc:
            raise _FileProblem(0, f"not a readable Parquet file: {exc}") from None

    def header(self) -> list[str]:
        return [str(n) for n in self._file.schema_arrow.names]

    def rows(self, columns: list[str]) -> Iterator[_RawRow]:
        n = 0
        try:
            for batch in self._file.iter_batches(batch_size=self._batch_rows, columns=columns):
                for record in batch.to_pylist():
                    n += 1
                    yield n, record, None
        except self._errors as exc:
            raise _FileProblem(n + 1, f"unreadable Parquet data: {exc}") from None

    def total(self) -> int | None:
        return int(self._file.metadata.num_rows)

    @property
    def name(self) -> str:
        return self._path.name

    def polars_schema(self) -> dict[str, Any] | None:
        """The columns' Polars types, or None when Polars cannot read the schema."""
        import polars as pl

        try:
            empty = pl.from_arrow(self._file.schema_arrow.empty_table())
        except Exception:
            return None
        assert isinstance(empty, pl.DataFrame)
        return dict(empty.schema)

    def frames(self, columns: list[str]) -> Iterator[tuple[int, Any]]:
        try:
            yield from import_bulk.frames(self._file, columns)
        except self._errors as exc:
            raise _FileProblem(0, f"unreadable Parquet data: {exc}") from None

    def close(self) -> None:
        self._file.close()


def _arrow() -> tuple[Any, Any]:
    """pyarrow and pyarrow.parquet, imported when a Parquet file is met (pyarrow ships no
    type information, hence Any)."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    return pa, pq


def _open(path: Path, batch_rows: int = CHUNK_ROWS) -> _Reader:
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise _FileProblem(0, "unknown file type: name the file *.csv or *.parquet")
    try:
        return _CsvReader(path) if kind == "csv" else _ParquetReader(path, batch_rows)
    except OSError as exc:
        raise _FileProblem(0, f"cannot open the file: {exc.strerror or exc}") from None


def _header_problems(kind: Kind, names: list[str]) -> list[tuple[str, str]]:
    """(column, reason) for each unknown, repeated or missing required column."""
    spec = spec_of(kind)
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name in names:
        if name in seen:
            problems.append((name, "the column appears twice"))
        elif name not in spec:
            known = ", ".join(spec)
            problems.append((name, f"unknown column; the columns of a {kind} file are: {known}"))
        seen.add(name)
    for column in COLUMNS[kind]:
        if column.required and column.name not in seen:
            problems.append((column.name, "required column missing"))
    return problems


# --------------------------------------------------------------------------- cells


class _CellError(ValueError):
    pass


def _cell(spec: ColumnSpec, raw: object) -> object:
    """The typed value of a cell, None when empty; _CellError saying what is wrong."""
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = raw.strip()
        if raw == "":
            return None
    match spec.type:
        case ColumnType.TEXT:
            if isinstance(raw, str):
                return raw
            if isinstance(raw, int) and not isinstance(raw, bool):
                return str(raw)
            raise _CellError(f"must be text, not {type(raw).__name__}")
        case ColumnType.INTEGER:
            if isinstance(raw, bool | float | Decimal):
                raise _CellError(
                    "must be a whole number (money in minor units, 分): "
                    "floating-point and fractional values are refused"
                )
            if isinstance(raw, str):
                if not _INT_RE.fullmatch(raw):
                    raise _CellError(f"must be a whole number (minor units, 分), not {raw!r}")
                raw = int(raw)
            if not isinstance(raw, int):
                raise _CellError(f"must be a whole number, not {type(raw).__name__}")
            if abs(raw) > MAX_STORED_INT:
                raise _CellError(f"must be at most {MAX_STORED_INT} in size")
            return raw
        case ColumnType.DECIMAL:
            value: Decimal
            if isinstance(raw, bool):
                raise _CellError("must be a decimal fraction such as 0.18")
            if isinstance(raw, Decimal):
                value = raw
            elif isinstance(raw, int):
                value = Decimal(raw)
            elif isinstance(raw, float):
                value = Decimal(repr(raw))  # the shortest decimal that reads back as it
            elif isinstance(raw, str):
                if not _DECIMAL_RE.fullmatch(raw):
                    raise _CellError(f"must be a decimal fraction such as 0.18, not {raw!r}")
                value = Decimal(raw)
            else:
                raise _CellError(f"must be a decimal fraction, not {type(raw).__name__}")
            if not value.is_finite():
                raise _CellError("must be a finite decimal fraction such as 0.18")
            try:
                return value.normalize()
            except InvalidOperation:
                raise _CellError("has too many digits") from None
        case ColumnType.DATE:
            if isinstance(raw, datetime):
                raise _CellError("must be a date (yyyy-mm-dd), not a timestamp")
            if isinstance(raw, date):
                return raw
            if isinstance(raw, str):
                if not _DATE_RE.fullmatch(raw):
                    raise _CellError(f"must be a date written yyyy-mm-dd, not {raw!r}")
                try:
                    return date.fromisoformat(raw)
                except ValueError:
                    raise _CellError(f"{raw} is not a calendar date") from None
            raise _CellError(f"must be a date, not {type(raw).__name__}")
    raise AssertionError(spec.type)  # pragma: no cover


_Problems = list[tuple[str, str]]  # (column, reason)


def _typed(kind: Kind, values: dict[str, object]) -> tuple[dict[str, Any], _Problems]:
    """Typed cells of a row and the problems with them (types, required values)."""
    spec = spec_of(kind)
    typed: dict[str, Any] = {}
    problems: _Problems = []
    for name, raw in values.items():
        column = spec[name]
        try:
            typed[name] = _cell(column, raw)
        except _CellError as exc:
            problems.append((name, str(exc)))
            continue
        if column.required and typed[name] is None:
            problems.append((name, "a value is required"))
    return typed, problems


def _pydantic_problems(exc: ValidationError, columns: Iterable[str]) -> _Problems:
    known = set(columns)
    problems: _Problems = []
    for err in exc.errors():
        loc = str(err["loc"][0]) if err["loc"] else ""
        message = str(err["msg"]).removeprefix("Value error, ")
        problems.append((loc if loc in known else "", message))
    return problems


# --------------------------------------------------------------------------- error report


class _Report:
    """Writes the errors of one file as they are found; keeps the first few in memory."""

    FIELDS = ("file", "row", "column", "value", "reason")

    def __init__(self, kind: Kind, source: Path, path: Path) -> None:
        self.spec = spec_of(kind)
        self.file = source.name
        self.path = path
        self.count = 0
        self.kept: list[RowError] = []
        self._out: IO[str] | None = None
        self._writer: Any = None

    def add(self, row: int, column: str, raw: object, reason: str) -> None:
        spec = self.spec.get(column)
        shown = "" if raw is None else str(raw).strip()
        if spec is not None and spec.personal and shown:
            if len(shown) >= 3:
                reason = reason.replace(shown, MASK)
            shown = MASK
        elif len(shown) > 100:
            shown = shown[:97] + "..."
        error = RowError(self.file, row, column, shown, reason)
        self.count += 1
        if len(self.kept) < MAX_KEPT_ERRORS:
            self.kept.append(error)
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # With a BOM, so that spreadsheet programs read the Chinese text right.
            self._out = self.path.open("w", newline="", encoding="utf-8-sig")
            self._writer = csv.writer(self._out)
            self._writer.writerow(self.FIELDS)
        self._writer.writerow((error.file, error.row, error.column, error.value, error.reason))

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        elif self.path.exists():
            self.path.unlink()  # a report left by an earlier, rejected import of this file


# --------------------------------------------------------------------------- booking


@dataclass(frozen=True)
class _Booked:
    """What booking a loan without events computes: book_loan's values, for one insert."""

    loan: tuple[tuple[str, Any], ...]
    instalments: tuple[tuple[tuple[str, Any], ...], ...]
    spells: tuple[tuple[str, date, date | None], ...]
    flagged: bool


# Pricing is shared per set of terms without the start date (``bulk.priced``); the due
# dates are computed once per start date and term. Both caches are bounded and cleared
# after each import.


@functools.lru_cache(maxsize=65_536)
def _due_dates(start: date, term_months: int, bullet: bool) -> tuple[date, ...]:
    if bullet:
        return (add_months(start, term_months),)
    return tuple(add_months(start, k) for k in range(1, term_months + 1))


def _booking(
    terms: LoanTerms, rules: ProductRules, caps: loans_service.CapPolicy, as_of: date
) -> _Booked:
    """What book_loan computes for a loan without events, as plain values for an insert."""
    pricing = bulk.priced(replace(terms, start_date=bulk.ANCHOR), caps)
    dues = _due_dates(terms.start_date, terms.term_months, terms.method is RepaymentMethod.BULLET)
    schedule = tuple(
        Instalment(i.number, due, i.principal, i.interest, i.fee)
        for i, due in zip(pricing.schedule, dues, strict=True)
    )
    state = ledger.replay(LedgerInput(terms=terms, schedule=schedule, rules=rules), as_of)
    loan = {
        "principal": terms.principal,
        "annual_rate": terms.annual_rate,
        "term_months": terms.term_months,
        "start_date": terms.start_date,
        "method": terms.method.value,
        "upfront_fee": terms.upfront_fee,
        "periodic_fee": terms.periodic_fee,
        "currency": terms.currency,
        "nominal_apr": pricing.cost.nominal_apr,
        "effective_apr": pricing.cost.effective_apr,
        "cap_flags": pricing.cap_flags,
        "not_collectable": pricing.not_collectable,
        **_state_values(state),
    }
    instalments = tuple(
        tuple(
            {
                "number": i.number,
                "due_date": i.due_date,
                "principal": i.principal,
                "interest": i.interest,
                "fee": i.fee,
                "not_collectable": x,
                **_instalment_state(st),
            }.items()
        )
        for i, x, st in zip(schedule, pricing.excess, state.instalments, strict=True)
    )
    spells = tuple((s.bucket, s.entered, s.left) for s in state.history)
    return _Booked(tuple(loan.items()), instalments, spells, bool(pricing.exceeded))


def _state_values(state: ledger.LedgerState) -> dict[str, Any]:
    """The loan columns a replay rewrites, as plain values for a Core insert."""
    values = loans_service.state_values(state)
    values["status"] = values["status"].value
    return values


_instalment_state = loans_service.instalment_state_values


# --------------------------------------------------------------------------- context


@dataclass(frozen=True)
class _Product:
    id: int
    rules: ProductRules


@dataclass
class _Context:
    session: Session
    institution_id: int
    as_of: date
    caps: loans_service.CapPolicy
    actor: str
    products: dict[str, _Product]
    rules_by_id: dict[int, ProductRules]
    # External ids in the borrowers / loans file of this import (None: no such file).
    file_borrowers: set[str] | None = None
    file_loans: dict[str, date | None] | None = None  # None: the row is bad
    # A borrowers / loans file of this import could not be read: references to it
    # cannot be checked (the file's own errors say why).
    borrowers_unreadable: bool = False
    loans_unreadable: bool = False
    affected_loans: set[int] = field(default_factory=set)
    lanes: dict[Path, import_bulk.Lane] = field(default_factory=dict)  # per file, both passes


def _products(session: Session, institution_id: int) -> dict[str, _Product]:
    rows = session.scalars(select(Product).where(Product.institution_id == institution_id))
    return {p.code: _Product(p.id, loans_service.rules_of(p)) for p in rows}


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _in_chunks(values: Sequence[Any], size: int = CHUNK_ROWS) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


# Core statements on the tables, not ORM bulk statements: the ORM splits an executemany
# wherever consecutive rows differ in which values are None (one INSERT per bucket spell).
# Column defaults and onupdate (created_at, updated_at) and the column types (encryption)
# apply all the same.


def _insert(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(model.__table__), rows)


def _update(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """UPDATE by primary key ``id``, one executemany per set of changed columns."""
    table = model.__table__
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(k for k in row if k != "id")), []).append(row)
    for columns, group in groups.items():
        # Bound names differ from the column names, which SQLAlchemy reserves for SET.
        stmt = (
            update(table)
            .where(table.c.id == bindparam("pk_"))
            .values({c: bindparam(f"{c}_") for c in columns})
        )
        session.execute(stmt, [{"pk_": r["id"], **{f"{c}_": r[c] for c in columns}} for r in group])


# --------------------------------------------------------------------------- kinds


@dataclass(slots=True)
class _BorrowerRow:
    row: int
    external_id: str
    values: dict[str, str | None]  # the columns present in the file, normalised


@dataclass(slots=True)
class _LoanRow:
    row: int
    external_id: str
    borrower_external_id: str
    product_code: str
    terms: LoanTerms


@dataclass(slots=True)
class _PaymentRow:
    row: int
    loan_external_id: str
    external_id: str
    paid_date: date
    amount: int


_Bad = tuple[int, dict[str, object], _Problems]  # row, raw values, problems


class _Handler:
    """Parsing, cross-row checks and writing of one kind of file."""

    kind: Kind
    KEY: tuple[str, ...] = ("external_id",)  # the columns that identify a row

    def __init__(self, ctx: _Context, present: list[str]) -> None:
        self.ctx = ctx
        self.present = present
        self.seen: dict[Any, int] = {}  # key → first row, for every row of the file

    def duplicate(self, row: int, values: dict[str, object], report: _Report) -> bool:
        """Report a row whose key an earlier row (good or bad) of the file had."""
        parts = tuple(str(v).strip() if (v := values.get(c)) is not None else "" for c in self.KEY)
        if not all(parts):
            return False  # no key: the row's own check says the value is required
        key: Any = parts if len(parts) > 1 else parts[0]
        first = self.seen.get(key)
        if first is not None:
            report.add(row, "external_id", _key_text(key), f"appears again: first at row {first}")
            return True
        self.seen[key] = row
        return False

    def parse(self, row: int, values: dict[str, object]) -> Any:
        raise NotImplementedError

    def check(self, rows: list[Any], report: _Report) -> None:
        """Checks across rows and against the database (pass 1)."""
        raise NotImplementedError

    def write(self, rows: list[Any], outcome: FileOutcome) -> None:
        raise NotImplementedError


def _key_text(key: Any) -> str:
    return " / ".join(key) if isinstance(key, tuple) else str(key)


class _Borrowers(_Handler):
    kind = Kind.BORROWERS
    FIELDS = ("name", "id_number", "phone", "email", "address")

    def parse(self, row: int, values: dict[str, object]) -> _BorrowerRow | _Bad:
        typed, problems = _typed(self.kind, values)
        if problems:
            return row, values, problems
        try:
            data = BorrowerCreate.model_validate({k: v for k, v in typed.items() if v is not None})
        except ValidationError as exc:
            return row, values, _pydantic_problems(exc, self.present)
        normalised: dict[str, str | None] = {
            "name": data.name,
            "id_number": data.id_number.upper() if data.id_number else None,
            "phone": data.phone,
            "email": str(data.email) if data.email else None,
            "address": data.address,
        }
        present = {k: v for k, v in normalised.items() if k in self.present}
        return _BorrowerRow(row, data.external_id, present)

    def check(self, rows: list[_BorrowerRow], report: _Report) -> None:
        pass  # nothing to check against the database: a borrower is new or updated

    def write(self, rows: list[_BorrowerRow], outcome: FileOutcome) -> None:
        session, inst = self.ctx.session, self.ctx.institution_id
        existing = {
            row.external_id: row
            for row in session.execute(
                select(
                    Borrower.id,
                    Borrower.external_id,
                    Borrower.name,
                    Borrower.id_number,
                    Borrower.phone,
                    Borrower.email,
                    Borrower.address,
                ).where(
                    Borrower.institution_id == inst,
                    Borrower.external_id.in_([r.external_id for r in rows]),
                )
            )
        }
        ring = crypto.keyring()
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for r in rows:
            old = existing.get(r.external_id)
            if old is None:
                values: dict[str, Any] = dict.fromkeys(self.FIELDS)
                values.update(r.values)
                inserts.append(
                    {"institution_id": inst, "external_id": r.external_id, **_indexed(ring, values)}
                )
                continue
            changes = {k: v for k, v in r.values.items() if old._mapping[k] != v}
            if changes:
                updates.append({"id": old.id, **_indexed(ring, changes)})
            else:
                outcome.skipped += 1
        _insert(session, Borrower, inserts)
        _update(session, Borrower, updates)
        outcome.inserted += len(inserts)
        outcome.updated += len(updates)


def _indexed(ring: crypto.KeyRing, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` plus the blind index of a searchable column among them."""
    out = dict(values)
    for column in ("id_number", "phone"):
        if column in values:
            value = values[column]
            out[f"{column}_index"] = (
                ring.blind_index(value, f"borrowers.{column}") if value else None
            )
    return out


_CONTRACT = (
    "principal",
    "annual_rate",
    "term_months",
    "start_date",
    "method",
    "upfront_fee",
    "periodic_fee",
    "currency",
)


class _Loans(_Handler):
    kind = Kind.LOANS

    def parse(self, row: int, values: dict[str, object]) -> _LoanRow | _Bad:
        typed, problems = _typed(self.kind, values)
        if problems:
            return row, values, problems
        given = {k: v for k, v in typed.items() if v is not None}
        try:
            # The API's schema, so that a bad term gets the API's message; the ids are
            # resolved from the external ids below.
            data = LoanCreate.model_validate(
                {
                    **{k: v for k, v in given.items() if k not in _REFERENCES},
                    "borrower_id": 0,
                    "product_id": 0,
                }
            )
            terms = loans_service.terms_of(data)
        except ValidationError as exc:
            return row, values, _pydantic_problems(exc, self.present)
        except TermsError as exc:
            return row, values, [(exc.field, exc.message)]
        if terms.start_date > self.ctx.as_of:
            return (
                row,
                values,
                [("start_date", f"a loan cannot start in the future (as of {self.ctx.as_of})")],
            )
        if given["product_code"] not in self.ctx.products:
            return row, values, [("product_code", "no such product at this lender")]
        return _LoanRow(
            row, data.external_id, given["borrower_external_id"], given["product_code"], terms
        )

    def check(self, rows: list[_LoanRow], report: _Report) -> None:
        ctx, session = self.ctx, self.ctx.session
        fresh = rows
        if ctx.file_loans is not None:
            for r in rows:
                ctx.file_loans[r.external_id] = r.terms.start_date
        if not ctx.borrowers_unreadable:
            in_file = ctx.file_borrowers or set()
            wanted = {r.borrower_external_id for r in fresh} - in_file
            known = set(
                session.scalars(
                    select(Borrower.external_id).where(
                        Borrower.institution_id == ctx.institution_id,
                        Borrower.external_id.in_(sorted(wanted)),
                    )
                )
            )
            for r in fresh:
                if r.borrower_external_id not in known and r.borrower_external_id not in in_file:
                    report.add(
                        r.row,
                        "borrower_external_id",
                        r.borrower_external_id,
                        "no such borrower at this lender",
                    )
        existing = _existing_loans(session, ctx.institution_id, [r.external_id for r in fresh])
        changed: dict[int, tuple[_LoanRow, str]] = {}
        for r in fresh:
            old = existing.get(r.external_id)
            if old is not None:
                column = _changed_column(old, r, ctx.products[r.product_code].id)
                if column is not None:
                    changed[old.id] = (r, column)
        if changed:
            with_payments = set(
                session.scalars(
                    select(LoanPayment.loan_id)
                    .where(LoanPayment.loan_id.in_(sorted(changed)))
                    .distinct()
                )
            )
            for loan_id in sorted(with_payments):
                r, column = changed[loan_id]
                report.add(
                    r.row,
                    column,
                    _value_of(r, column),
                    "the terms of a loan with payments cannot change: this loan has payments",
                )

    def write(self, rows: list[_LoanRow], outcome: FileOutcome) -> None:
        ctx, session = self.ctx, self.ctx.session
        borrower_ids = {
            ext: borrower_id
            for ext, borrower_id in session.execute(
                select(Borrower.external_id, Borrower.id).where(
                    Borrower.institution_id == ctx.institution_id,
                    Borrower.external_id.in_(sorted({r.borrower_external_id for r in rows})),
                )
            )
        }
        existing = _existing_loans(session, ctx.institution_id, [r.external_id for r in rows])
        new: list[tuple[_LoanRow, _Booked]] = []
        for r in rows:
            borrower_id = borrower_ids.get(r.borrower_external_id)
            if borrower_id is None:
                raise ImportAborted(f"row {r.row}: borrower {r.borrower_external_id} vanished")
            product = ctx.products[r.product_code]
            old = existing.get(r.external_id)
            if old is None:
                new.append((r, _booking(r.terms, product.rules, ctx.caps, ctx.as_of)))
            elif _changed_column(old, r, product.id) is None:
                outcome.skipped += 1
            else:
                booked = _booking(r.terms, product.rules, ctx.caps, ctx.as_of)
                self._rebook(old.id, r, borrower_id, product, booked)
                outcome.updated += 1
                outcome.cap_flagged += booked.flagged
        if not new:
            return
        loan_rows = [
            {
                "institution_id": ctx.institution_id,
                "borrower_id": borrower_ids[r.borrower_external_id],
                "product_id": ctx.products[r.product_code].id,
                "external_id": r.external_id,
                **dict(booked.loan),
            }
            for r, booked in new
        ]
        table = cast(Table, Loan.__table__)
        ids = session.scalars(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), loan_rows
        ).all()
        instalments: list[dict[str, Any]] = []
        spells: list[dict[str, Any]] = []
        for loan_id, (_r, booked) in zip(ids, new, strict=True):
            instalments.extend({"loan_id": loan_id, **dict(i)} for i in booked.instalments)
            spells.extend(
                {"loan_id": loan_id, "bucket": b, "entered_date": e, "left_date": left}
                for b, e, left in booked.spells
            )
            outcome.cap_flagged += booked.flagged
        _insert(session, InstalmentRow, instalments)
        _insert(session, BucketSpellRow, spells)
        outcome.inserted += len(new)

    def _rebook(
        self, loan_id: int, r: _LoanRow, borrower_id: int, product: _Product, booked: _Booked
    ) -> None:
        """A loan without payments booked again on new terms: new schedule, cost, state.
        Rare, so done loan by loan through the service's recompute (pauses and a
        charge-off stay)."""
        session = self.ctx.session
        if session.scalar(select(LoanPayment.id).where(LoanPayment.loan_id == loan_id).limit(1)):
            raise ImportAborted(f"row {r.row}: loan {r.external_id} got a payment meanwhile")
        loan = session.get(Loan, loan_id)
        assert loan is not None
        values = dict(booked.loan)
        loan.borrower_id = borrower_id
        loan.product_id = product.id
        for column in (*_CONTRACT, "nominal_apr", "effective_apr", "cap_flags"):
            setattr(loan, column, values[column])
        loan.not_collectable = values["not_collectable"]
        session.execute(delete(InstalmentRow).where(InstalmentRow.loan_id == loan_id))
        _insert(
            session, InstalmentRow, [{"loan_id": loan_id, **dict(i)} for i in booked.instalments]
        )
        session.flush()
        loans_service.recompute(session, loan, self.ctx.as_of, product.rules)


_REFERENCES = ("borrower_external_id", "product_code")


@dataclass(frozen=True)
class _StoredLoan:
    id: int
    borrower_external_id: str
    product_id: int
    contract: tuple[Any, ...]


def _existing_loans(
    session: Session, institution_id: int, external_ids: list[str]
) -> dict[str, _StoredLoan]:
    columns = [getattr(Loan, c) for c in _CONTRACT]
    rows = session.execute(
        select(Loan.external_id, Loan.id, Borrower.external_id, Loan.product_id, *columns)
        .join(Borrower, Loan.borrower_id == Borrower.id)
        .where(Loan.institution_id == institution_id, Loan.external_id.in_(external_ids))
    )
    return {row[0]: _StoredLoan(row[1], row[2], row[3], tuple(row[4:])) for row in rows}


def _changed_column(old: _StoredLoan, r: _LoanRow, product_id: int) -> str | None:
    """The first column in which the file's loan differs from the stored one."""
    if old.borrower_external_id != r.borrower_external_id:
        return "borrower_external_id"
    if old.product_id != product_id:
        return "product_code"
    for column, stored in zip(_CONTRACT, old.contract, strict=True):
        value = getattr(r.terms, column)
        if column == "method":
            value = value.value
        if stored != value:
            return column
    return None


def _value_of(r: _LoanRow, column: str) -> object:
    if column in ("borrower_external_id", "product_code"):
        return getattr(r, column)
    value = getattr(r.terms, column)
    return value.value if column == "method" else value


@dataclass(frozen=True)
class _StoredPayment:
    id: int
    paid_date: date
    amount: int
    reversed: bool


class _Payments(_Handler):
    kind = Kind.PAYMENTS
    KEY = ("loan_external_id", "external_id")

    def parse(self, row: int, values: dict[str, object]) -> _PaymentRow | _Bad:
        typed, problems = _typed(self.kind, values)
        if problems:
            return row, values, problems
        try:
            data = PaymentCreate.model_validate(
                {k: v for k, v in typed.items() if k != "loan_external_id"}
            )
        except ValidationError as exc:
            return row, values, _pydantic_problems(exc, self.present)
        if data.paid_date > self.ctx.as_of:
            return (
                row,
                values,
                [
                    (
                        "paid_date",
                        f"a payment cannot be dated in the future (as of {self.ctx.as_of})",
                    )
                ],
            )
        assert data.external_id is not None
        return _PaymentRow(
            row, typed["loan_external_id"], data.external_id, data.paid_date, data.amount
        )

    def check(self, rows: list[_PaymentRow], report: _Report) -> None:
        ctx = self.ctx
        fresh = rows
        stored = self._loans([r.loan_external_id for r in fresh])
        payments = self._payments(fresh, stored)
        in_file = ctx.file_loans or {}
        for r in fresh:
            loan = stored.get(r.loan_external_id)
            if r.loan_external_id in in_file:
                start = in_file[r.loan_external_id]
                if start is None:
                    continue  # a bad row of the loans file: its own error says why
            elif loan is not None:
                start = loan[1]
            else:
                if not ctx.loans_unreadable:
                    report.add(
                        r.row, "loan_external_id", r.loan_external_id, "no such loan at this lender"
                    )
                continue
            if r.paid_date < start:
                report.add(
                    r.row,
                    "paid_date",
                    r.paid_date,
                    f"a payment cannot be dated before the loan started ({start})",
                )
                continue
            old = payments.get((r.loan_external_id, r.external_id))
            if old is None:
                if (
                    loan is not None
                    and r.loan_external_id not in in_file
                    and loan[2] == LoanStatus.PAID_OFF
                ):
                    report.add(
                        r.row,
                        "loan_external_id",
                        r.loan_external_id,
                        f"loan {r.loan_external_id} is paid off; the payment was not recorded",
                    )
            elif old.reversed and (old.paid_date, old.amount) != (r.paid_date, r.amount):
                report.add(
                    r.row,
                    "external_id",
                    r.external_id,
                    "this payment was reversed; a reversed payment cannot change",
                )

    def write(self, rows: list[_PaymentRow], outcome: FileOutcome) -> None:
        ctx, session = self.ctx, self.ctx.session
        stored = self._loans([r.loan_external_id for r in rows])
        payments = self._payments(rows, stored)
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for r in rows:
            loan = stored.get(r.loan_external_id)
            if loan is None:
                raise ImportAborted(f"row {r.row}: loan {r.loan_external_id} vanished")
            old = payments.get((r.loan_external_id, r.external_id))
            if old is None:
                inserts.append(
                    {
                        "loan_id": loan[0],
                        "external_id": r.external_id,
                        "paid_date": r.paid_date,
                        "amount": r.amount,
                        "recorded_by": f"import:{ctx.actor}"[:100],
                    }
                )
            elif (old.paid_date, old.amount) == (r.paid_date, r.amount):
                outcome.skipped += 1
                continue
            elif old.reversed:
                raise ImportAborted(f"row {r.row}: payment {r.external_id} was reversed meanwhile")
            else:
                updates.append({"id": old.id, "paid_date": r.paid_date, "amount": r.amount})
            ctx.affected_loans.add(loan[0])
        _insert(session, LoanPayment, inserts)
        _update(session, LoanPayment, updates)
        outcome.inserted += len(inserts)
        outcome.updated += len(updates)

    def _loans(self, external_ids: list[str]) -> dict[str, tuple[int, date, str]]:
        """external id → (id, start date, status) of the stored loans among them."""
        rows = self.ctx.session.execute(
            select(Loan.external_id, Loan.id, Loan.start_date, Loan.status).where(
                Loan.institution_id == self.ctx.institution_id,
                Loan.external_id.in_(sorted(set(external_ids))),
            )
        )
        return {row[0]: (row[1], row[2], str(row[3])) for row in rows}

    def _payments(
        self, rows: list[_PaymentRow], stored: dict[str, tuple[int, date, str]]
    ) -> dict[tuple[str, str], _StoredPayment]:
        ext_of = {loan[0]: ext for ext, loan in stored.items()}
        if not ext_of:
            return {}
        found = self.ctx.session.execute(
            select(
                LoanPayment.loan_id,
                LoanPayment.external_id,
                LoanPayment.id,
                LoanPayment.paid_date,
                LoanPayment.amount,
                LoanPayment.reversed_at,
            ).where(
                LoanPayment.loan_id.in_(sorted(ext_of)),
                LoanPayment.external_id.in_(sorted({r.external_id for r in rows})),
            )
        )
        return {
            (ext_of[loan_id], str(ext)): _StoredPayment(pid, paid, amount, reversed_at is not None)
            for loan_id, ext, pid, paid, amount, reversed_at in found
        }


_HANDLERS: dict[Kind, type[_Handler]] = {
    Kind.BORROWERS: _Borrowers,
    Kind.LOANS: _Loans,
    Kind.PAYMENTS: _Payments,
}


# --------------------------------------------------------------------------- passes


def _check_file(
    ctx: _Context, source: Source, progress: ImportProgress, report_dir: Path | None
) -> FileOutcome:
    """Pass 1: read and validate every row; write nothing but the error report."""
    outcome = FileOutcome(source.kind, source.path)
    report = _Report(source.kind, source.path, report_path(source.path, report_dir))
    readable = False
    try:
        reader = _open(source.path)
        try:
            names = reader.header()
            problems = _header_problems(source.kind, names)
            for column, reason in problems:
                report.add(reader.header_row, column, None, reason)
            if not problems:
                readable = True
                handler = _HANDLERS[source.kind](ctx, names)
                progress.begin(f"checking {source.path.name}", reader.total())
                lane = _fast_lane(ctx, source, reader)
                if lane is not None:
                    assert isinstance(handler, _Loans)
                    assert isinstance(reader, _ParquetReader)
                    _check_loans_fast(ctx, lane, reader, names, handler, report, outcome, progress)
                for chunk in _chunks(reader.rows(names) if lane is None else (), CHUNK_ROWS):
                    good: list[Any] = []
                    for row, values, problem in chunk:
                        outcome.rows += 1
                        _note_reference(ctx, source.kind, values)
                        if problem is not None:
                            report.add(row, "", None, problem)
                            continue
                        if handler.duplicate(row, values, report):
                            continue
                        parsed = handler.parse(row, values)
                        if isinstance(parsed, tuple):
                            _report_bad(report, parsed)
                        else:
                            good.append(parsed)
                    handler.check(good, report)
                    progress.advance(len(chunk))
        finally:
            reader.close()
    except _FileProblem as problem:
        readable = False
        report.add(problem.row, "", None, problem.reason)
    finally:
        report.close()
    if not readable:
        if source.kind is Kind.BORROWERS:
            ctx.borrowers_unreadable = True
        elif source.kind is Kind.LOANS:
            ctx.loans_unreadable = True
    outcome.errors = report.count
    outcome.first_errors = report.kept
    outcome.report = report.path if report.count else None
    return outcome


# --------------------------------------------------------------------------- fast lane


def _fast_lane(ctx: _Context, source: Source, reader: _Reader) -> import_bulk.Lane | None:
    """The fast lane for a loans file in Parquet with the documented column types."""
    if source.kind is not Kind.LOANS or not isinstance(reader, _ParquetReader):
        return None
    schema = reader.polars_schema()
    if schema is None or not import_bulk.canonical(schema):
        return None
    if source.path not in ctx.lanes:
        ctx.lanes[source.path] = import_bulk.Lane(
            institution_id=ctx.institution_id,
            as_of=ctx.as_of,
            caps=ctx.caps,
            products={code: p.id for code, p in ctx.products.items()},
            rules_by_id=ctx.rules_by_id,
        )
    return ctx.lanes[source.path]


def _check_loans_fast(
    ctx: _Context,
    lane: import_bulk.Lane,
    reader: _ParquetReader,
    names: list[str],
    handler: _Loans,
    report: _Report,
    outcome: FileOutcome,
    progress: ImportProgress,
) -> None:
    """Pass 1 of the fast lane: the row path's checks, vectorised for the rows that are
    certainly valid, row by row (``handler``) for the others."""
    connection = ctx.session.connection()
    for first, frame in reader.frames(names):
        outcome.rows += frame.height
        ok = lane.fast_mask(frame).to_list()
        raw_ids = frame["external_id"].to_list()
        fast: list[int] = []
        slow: list[_LoanRow] = []
        for i, raw in enumerate(raw_ids):
            row = first + i
            key = None if raw is None else raw.strip()
            if key is not None and ctx.file_loans is not None:
                ctx.file_loans.setdefault(key, None)
            if key:
                seen = handler.seen.get(key)
                if seen is not None:
                    report.add(row, "external_id", key, f"appears again: first at row {seen}")
                    continue
                handler.seen[key] = row
            if ok[i]:
                fast.append(i)
                continue
            parsed = handler.parse(row, frame.row(i, named=True))
            if isinstance(parsed, tuple):
                _report_bad(report, parsed)
            else:
                slow.append(parsed)
        # Stored loans are re-imports: the row path decides (skip, re-book or refuse).
        ids = [raw_ids[i] for i in fast]
        stored = import_bulk.existing_ids(connection, ctx.institution_id, ids)
        lane.met_stored = lane.met_stored or bool(stored)
        for i in fast:
            if raw_ids[i] in stored:
                parsed = handler.parse(first + i, frame.row(i, named=True))
                assert not isinstance(parsed, tuple), "a row the fast check passed is valid"
                slow.append(parsed)
        handler.check(slow, report)
        new = [i for i in fast if raw_ids[i] not in stored]
        if ctx.file_loans is not None:
            starts = frame["start_date"].to_list()
            for i in new:
                ctx.file_loans[raw_ids[i]] = starts[i]
        if not ctx.borrowers_unreadable and new:
            borrower_ids = frame["borrower_external_id"].to_list()
            in_file = ctx.file_borrowers or set()
            wanted = sorted({borrower_ids[i] for i in new} - in_file)
            known = import_bulk.known_borrowers(connection, ctx.institution_id, wanted)
            for i in new:
                if borrower_ids[i] not in known and borrower_ids[i] not in in_file:
                    report.add(
                        first + i,
                        "borrower_external_id",
                        borrower_ids[i],
                        "no such borrower at this lender",
                    )
        progress.advance(frame.height)


def _write_loans_fast(
    ctx: _Context,
    lane: import_bulk.Lane,
    reader: _ParquetReader,
    names: list[str],
    handler: _Loans,
    outcome: FileOutcome,
    progress: ImportProgress,
) -> int:
    """Pass 2 of the fast lane: new loans that passed the fast check are booked and
    written set-based; every other row goes through ``handler`` as in the row path.
    Returns the number of rows read."""
    ctx.session.flush()
    connection = ctx.session.connection()
    rows = 0
    for first, frame in reader.frames(names):
        ok = lane.fast_mask(frame).to_list()
        raw_ids = frame["external_id"].to_list()
        stored = (
            import_bulk.existing_ids(
                connection,
                ctx.institution_id,
                [r for r, good in zip(raw_ids, ok, strict=True) if good],
            )
            if lane.met_stored
            else set()
        )
        fast = [i for i, good in enumerate(ok) if good and raw_ids[i] not in stored]
        fast_set = set(fast)
        slow: list[_LoanRow] = []
        for i in range(frame.height):
            if i in fast_set:
                continue
            parsed = handler.parse(first + i, frame.row(i, named=True))
            if isinstance(parsed, tuple):
                raise ImportAborted(
                    f"{reader.name} row {first + i}: the file changed after it was checked"
                )
            slow.append(parsed)
        try:
            if fast:
                inserted, flagged = lane.write(connection, frame[fast])
                outcome.inserted += inserted
                outcome.cap_flagged += flagged
            if slow:
                handler.write(slow, outcome)
        except import_bulk.WriteConflict as exc:
            raise ImportAborted(f"{reader.name} rows from {first}: {exc}") from exc
        except (IntegrityError, LookupError, ledger.LedgerError, TermsError) as exc:
            raise ImportAborted(
                f"{reader.name} rows from {first}: {type(exc).__name__}: {exc}"
            ) from exc
        rows += frame.height
        progress.advance(frame.height)
    return rows


def _note_reference(ctx: _Context, kind: Kind, values: dict[str, object]) -> None:
    """Remember a borrower or loan of this import even when its row is bad, so that the
    rows referring to it are not reported too (the row's own error is the one to fix)."""
    raw = values.get("external_id")
    if raw is None:
        return
    if kind is Kind.BORROWERS and ctx.file_borrowers is not None:
        ctx.file_borrowers.add(str(raw).strip())
    elif kind is Kind.LOANS and ctx.file_loans is not None:
        ctx.file_loans.setdefault(str(raw).strip(), None)


def _report_bad(report: _Report, bad: _Bad) -> None:
    row, values, problems = bad
    for column, reason in problems:
        report.add(row, column, values.get(column), reason)


def _write_file(
    ctx: _Context, source: Source, outcome: FileOutcome, progress: ImportProgress
) -> None:
    """Pass 2: read the file again and write it in batches."""
    try:
        reader = _open(source.path)
    except _FileProblem as problem:
        raise ImportAborted(f"{source.path.name}: {problem.reason}") from None
    rows = 0
    try:
        names = reader.header()
        handler = _HANDLERS[source.kind](ctx, names)
        progress.begin(f"importing {source.path.name}", outcome.rows)
        lane = _fast_lane(ctx, source, reader)
        if lane is not None:
            assert isinstance(handler, _Loans)
            assert isinstance(reader, _ParquetReader)
            rows = _write_loans_fast(ctx, lane, reader, names, handler, outcome, progress)
        for chunk in _chunks(reader.rows(names) if lane is None else (), CHUNK_ROWS):
            parsed: list[Any] = []
            for row, values, row_problem in chunk:
                result = None if row_problem else handler.parse(row, values)
                if result is None or isinstance(result, tuple):
                    raise ImportAborted(
                        f"{source.path.name} row {row}: the file changed after it was checked"
                    )
                parsed.append(result)
            try:
                handler.write(parsed, outcome)
            except (IntegrityError, ledger.LedgerError, TermsError) as exc:
                first = parsed[0].row if parsed else 0
                raise ImportAborted(
                    f"{source.path.name} rows from {first}: {type(exc).__name__}: {exc}"
                ) from exc
            rows += len(chunk)
            progress.advance(len(chunk))
    except _FileProblem as problem:
        raise ImportAborted(f"{source.path.name} row {problem.row}: {problem.reason}") from None
    finally:
        reader.close()
    if rows != outcome.rows:
        raise ImportAborted(f"{source.path.name}: the file changed after it was checked")


def _recompute(ctx: _Context, progress: ImportProgress) -> int:
    """Replay every loan that got a payment, once, in batches; writes what
    service.recompute writes (instalment state, loan state, bucket spells)."""
    session = ctx.session
    loan_ids = sorted(ctx.affected_loans)
    progress.begin("recomputing loans", len(loan_ids))
    columns = [getattr(Loan, c) for c in _CONTRACT]
    for chunk in _in_chunks(loan_ids, RECOMPUTE_CHUNK):
        loans = session.execute(
            select(Loan.id, Loan.product_id, Loan.charged_off_date, *columns).where(
                Loan.id.in_(chunk)
            )
        ).all()
        schedules: dict[int, list[tuple[int, Instalment]]] = {}
        for ir in session.execute(
            select(
                InstalmentRow.loan_id,
                InstalmentRow.id,
                InstalmentRow.number,
                InstalmentRow.due_date,
                InstalmentRow.principal,
                InstalmentRow.interest,
                InstalmentRow.fee,
            )
            .where(InstalmentRow.loan_id.in_(chunk))
            .order_by(InstalmentRow.loan_id, InstalmentRow.number)
        ):
            schedules.setdefault(ir[0], []).append(
                (ir[1], Instalment(ir[2], ir[3], ir[4], ir[5], ir[6]))
            )
        payments: dict[int, list[Payment]] = {}
        for pr in session.execute(
            select(
                LoanPayment.loan_id,
                LoanPayment.id,
                LoanPayment.paid_date,
                LoanPayment.amount,
                LoanPayment.reversed_at,
            )
            .where(LoanPayment.loan_id.in_(chunk))
            .order_by(LoanPayment.paid_date, LoanPayment.id)
        ):
            payments.setdefault(pr[0], []).append(Payment(pr[1], pr[2], pr[3], pr[4] is not None))
        pauses: dict[int, list[Pause]] = {}
        for zr in session.execute(
            select(
                DelinquencyPause.loan_id,
                DelinquencyPause.start_date,
                DelinquencyPause.end_date,
                DelinquencyPause.reason,
            )
            .where(DelinquencyPause.loan_id.in_(chunk))
            .order_by(DelinquencyPause.start_date, DelinquencyPause.id)
        ):
            pauses.setdefault(zr[0], []).append(Pause(zr[1], zr[2], zr[3]))
        loan_updates: list[dict[str, Any]] = []
        instalment_updates: list[dict[str, Any]] = []
        spells: list[dict[str, Any]] = []
        for loan in loans:
            loan_id, product_id, charged_off = loan[0], loan[1], loan[2]
            contract = dict(zip(_CONTRACT, loan[3:], strict=True))
            terms = LoanTerms(**{**contract, "method": RepaymentMethod(contract["method"])})
            rows = schedules.get(loan_id, [])
            state = ledger.replay(
                LedgerInput(
                    terms=terms,
                    schedule=tuple(i for _, i in rows),
                    rules=ctx.rules_by_id[product_id],
                    payments=tuple(payments.get(loan_id, ())),
                    pauses=tuple(pauses.get(loan_id, ())),
                    charged_off_date=charged_off,
                ),
                ctx.as_of,
            )
            loan_updates.append({"id": loan_id, **_state_values(state)})
            row_ids = {i.number: row_id for row_id, i in rows}
            instalment_updates.extend(
                {"id": row_ids[s.number], **_instalment_state(s)} for s in state.instalments
            )
            spells.extend(
                {
                    "loan_id": loan_id,
                    "bucket": s.bucket,
                    "entered_date": s.entered,
                    "left_date": s.left,
                }
                for s in state.history
            )
        _update(session, Loan, loan_updates)
        _update(session, InstalmentRow, instalment_updates)
        session.execute(delete(BucketSpellRow).where(BucketSpellRow.loan_id.in_(chunk)))
        _insert(session, BucketSpellRow, spells)
        progress.advance(len(chunk))
    return len(loan_ids)


# --------------------------------------------------------------------------- entry points


def resolve_lender(session: Session, credit_code: str) -> int:
    """The id of the lender with this unified social credit code; Invalid otherwise."""
    inst = institutions_repo.by_credit_code(session, credit_code.strip().upper())
    if inst is None:
        raise Invalid("institution", "no institution has this unified social credit code")
    if not InstitutionKind(inst.kind).is_lender:
        raise Invalid("institution", f"loans belong to a lender, not a {inst.kind}")
    return inst.id


def import_files(
    session: Session,
    sources: Sequence[Source],
    *,
    institution_id: int,
    as_of: date,
    caps: loans_service.CapPolicy,
    actor: str = "cli",
    progress: ImportProgress | None = None,
    report_dir: Path | None = None,
) -> ImportOutcome:
    """Check every file, then import them all (borrowers, loans, payments) or none.

    Writes and flushes in ``session``; never commits. Rejected: nothing but one
    ``import.rejected`` audit record per file has been written, and each file with errors
    has its report. Accepted: the rows and one ``import.completed`` record per file.
    Raises ``ImportAborted`` if writing fails (roll back, then ``record_aborted``).
    """
    kinds = [s.kind for s in sources]
    if len(set(kinds)) != len(kinds):
        raise ValueError("one file of each kind at most")
    ordered = sorted(sources, key=lambda s: _ORDER[s.kind])
    progress = progress or _NoProgress()
    products = _products(session, institution_id)
    ctx = _Context(
        session=session,
        institution_id=institution_id,
        as_of=as_of,
        caps=caps,
        actor=actor,
        products=products,
        rules_by_id={p.id: p.rules for p in products.values()},
        file_borrowers=set() if Kind.BORROWERS in kinds else None,
        file_loans={} if Kind.LOANS in kinds and Kind.PAYMENTS in kinds else None,
    )
    outcome = ImportOutcome([_check_file(ctx, s, progress, report_dir) for s in ordered], as_of)
    # Pass 1 has only read, so a rejection writes nothing but its audit records.
    if not outcome.accepted:
        for f in outcome.files:
            _audit(session, ctx, "import.rejected", f, rows=f.rows, errors=f.errors)
        return outcome
    ctx.file_borrowers = None
    ctx.file_loans = None  # pass 2 finds every reference in the database
    for source, f in zip(ordered, outcome.files, strict=True):
        _write_file(ctx, source, f, progress)
    if ctx.affected_loans:
        try:
            outcome.recomputed = _recompute(ctx, progress)
        except ledger.LedgerError as exc:
            raise ImportAborted(f"recomputing the loans: {exc}") from exc
    session.flush()
    # A long-lived process should not keep a big import's schedules.
    bulk.priced.cache_clear()
    _due_dates.cache_clear()
    for f in outcome.files:
        details: dict[str, Any] = {
            "rows": f.rows,
            "inserted": f.inserted,
            "updated": f.updated,
            "skipped": f.skipped,
        }
        if f.kind is Kind.LOANS:
            details["cap_flagged"] = f.cap_flagged
        if f.kind is Kind.PAYMENTS:
            details["loans_recomputed"] = outcome.recomputed
        _audit(session, ctx, "import.completed", f, **details)
    return outcome


def import_file(
    session: Session,
    kind: Kind,
    path: Path,
    *,
    institution_id: int,
    as_of: date,
    caps: loans_service.CapPolicy,
    actor: str = "cli",
    progress: ImportProgress | None = None,
    report_dir: Path | None = None,
) -> FileOutcome:
    """One file: ``import_files`` with a single source."""
    outcome = import_files(
        session,
        [Source(kind, path)],
        institution_id=institution_id,
        as_of=as_of,
        caps=caps,
        actor=actor,
        progress=progress,
        report_dir=report_dir,
    )
    return outcome.files[0]


def _audit(session: Session, ctx: _Context, action: str, f: FileOutcome, **counts: Any) -> None:
    audit.record(
        session,
        actor=ctx.actor,
        action=action,
        target=f"institution:{ctx.institution_id}",
        institution_id=ctx.institution_id,
        details={"kind": f.kind.value, "file": f.file, "as_of": ctx.as_of.isoformat(), **counts},
    )


def record_aborted(
    session: Session,
    sources: Sequence[Source],
    *,
    institution_id: int,
    as_of: date,
    actor: str,
    error: BaseException,
) -> None:
    """After a failed pass 2 has been rolled back: the ``import.rejected`` records."""
    for source in sources:
        audit.record(
            session,
            actor=actor,
            action="import.rejected",
            target=f"institution:{institution_id}",
            institution_id=institution_id,
            details={
                "kind": source.kind.value,
                "file": source.path.name,
                "as_of": as_of.isoformat(),
                "aborted": type(error).__name__,
            },
        )


# --------------------------------------------------------------------------- convert


_ARROW_TYPES = {
    ColumnType.TEXT: "string",
    ColumnType.INTEGER: "int64",
    # Rates stay exact decimal text: a Parquet decimal fixes a scale, a double rounds.
    ColumnType.DECIMAL: "string",
    ColumnType.DATE: "date32",
}


class ConvertError(ValueError):
    pass


def csv_to_parquet(kind: Kind, source: Path, dest: Path) -> int:
    """Write the CSV file ``source`` of ``kind`` as Parquet, typed by the column specs
    (text and rates as strings, money and counts int64, dates date32), streaming.
    Returns the number of rows; ConvertError naming row and column on a bad cell."""
    pa, pq = _arrow()
    try:
        reader = _CsvReader(source)
        names = reader.header()
    except _FileProblem as problem:
        raise ConvertError(f"{source.name}: {problem.reason}") from None
    try:
        problems = _header_problems(kind, names)
        if problems:
            raise ConvertError(
                "; ".join(f"{source.name} column {c}: {reason}" for c, reason in problems)
            )
        spec = spec_of(kind)
        schema = pa.schema([(n, getattr(pa, _ARROW_TYPES[spec[n].type])()) for n in names])
        count = 0
        with pq.ParquetWriter(dest, schema, compression="zstd") as writer:
            for chunk in _chunks(reader.rows(names), CHUNK_ROWS):
                records = []
                for row, values, row_problem in chunk:
                    if row_problem:
                        raise ConvertError(f"{source.name} row {row}: {row_problem}")
                    record: dict[str, object] = {}
                    for name, raw in values.items():
                        try:
                            value = _cell(spec[name], raw)
                        except _CellError as exc:
                            raise ConvertError(
                                f"{source.name} row {row} column {name}: {exc}"
                            ) from None
                        record[name] = format(value, "f") if isinstance(value, Decimal) else value
                    records.append(record)
                writer.write_batch(pa.RecordBatch.from_pylist(records, schema=schema))
                count += len(records)
        return count
    except _FileProblem as problem:
        raise ConvertError(f"{source.name} row {problem.row}: {problem.reason}") from None
    finally:
        reader.close()
