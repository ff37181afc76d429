"""The fast lane of a loans import: Parquet files read as column batches, new loans booked
set-based (``loans.bulk``) and written with PostgreSQL ``COPY`` (SQLite: one
``executemany`` a table).

It changes how fast, never what: the importer (``loans.importer``) sends a loans file here
only when it is Parquet with the documented column types, and every row that the lane is
not sure about goes through the importer's own row-by-row code, with its messages:

* **Accept fast, explain slowly.** A vectorised check (``fast_mask``) passes a row only when
  it is certainly valid: every value already in canonical form (no surrounding spaces),
  inside the bounds of ``LoanCreate`` and ``LoanTerms``. It may be stricter than the API,
  never looser (``tests/loans/test_import_bulk.py`` checks both lanes agree on random
  rows). Any other row is parsed by the importer's ``_Loans.parse``, which gives the API's
  message for a bad row and accepts a good one the check was only unsure about.
* **New loans only.** A row whose loan is already stored (a re-import) is handled row by
  row as before (skipped, re-booked or refused). So is every row the check did not pass.
* **The same checks across rows**: a repeated external id, a borrower that does not
  exist, as in the row path. Row numbers are the 1-based row index, as for any Parquet
  file.

Memory is one batch (``BATCH_ROWS`` rows and their instalments) plus the set of external
ids seen (to find repeats), and the priced templates (one row per instalment of each
distinct set of terms).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import polars as pl
from sqlalchemy import Connection, Table, select

from fairdun.kit.clock import utcnow
from fairdun.loans import bulk
from fairdun.loans.models import Borrower, BucketSpellRow, InstalmentRow, Loan
from fairdun.loans.terms import MAX_PRINCIPAL, MAX_TERM_MONTHS, LoanTerms, RepaymentMethod

if TYPE_CHECKING:
    from fairdun.loans import service as loans_service

BATCH_ROWS = 50_000
LOOKUP_CHUNK = 5_000  # external ids per IN (...) list: far below SQLite's variable limit
_EARLIEST = date(1900, 1, 1)

_TEXT = ("external_id", "borrower_external_id", "product_code", "annual_rate", "method")
_OPTIONAL_TEXT = ("currency",)
_INTS = ("principal", "term_months")
_OPTIONAL_INTS = ("upfront_fee", "periodic_fee")
_FITS_INT64 = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32)
_KEY = (
    "principal",
    "rate_text",
    "term_months",
    "method",
    "upfront_fee",
    "periodic_fee",
    "currency",
)


def canonical(schema: dict[str, pl.DataType]) -> bool:
    """Whether a file's columns have the types the fast lane reads (what ``fairdun import
    convert`` writes): text as strings, money and counts as integers, dates as dates."""
    for name, dtype in schema.items():
        if name in _TEXT or name in _OPTIONAL_TEXT:
            if dtype != pl.String:
                return False
        elif name in _INTS or name in _OPTIONAL_INTS:
            if dtype not in _FITS_INT64:  # UInt64 may not: the row path reports such a value
                return False
        elif name == "start_date":
            if dtype != pl.Date:
                return False
        else:
            return False
    return True


def frames(parquet: Any, columns: list[str]) -> Iterator[tuple[int, pl.DataFrame]]:
    """(first row number, batch) over a ``pyarrow.parquet.ParquetFile``, every optional
    column present (null when the file has none)."""
    first = 1
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns):
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        missing = [
            pl.lit(None, dtype=pl.String if c in _OPTIONAL_TEXT else pl.Int64).alias(c)
            for c in (*_OPTIONAL_TEXT, *_OPTIONAL_INTS)
            if c not in frame.columns
        ]
        frame = frame.with_columns(missing).with_columns(
            [pl.col(c).cast(pl.Int64) for c in (*_INTS, *_OPTIONAL_INTS)]
        )
        yield first, frame
        first += frame.height


def _plain(column: str) -> pl.Expr:
    """A text value already in canonical form: present, no surrounding spaces, not the
    COPY null marker."""
    c = pl.col(column)
    return c.is_not_null() & (c.str.strip_chars() == c) & (c.str.len_chars() > 0) & (c != r"\N")


def _rate_text(raw: str) -> str | None:
    """The stored text of a rate the row path would accept (normalised, 0 to 1), or None."""
    if raw != raw.strip() or not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0 or value > 1 or "e" in raw.lower():
        return None
    try:
        return format(value.normalize(), "f")
    except InvalidOperation:  # pragma: no cover - a rate within 0..1 always normalises
        return None


@dataclass
class Lane:
    """State of the fast lane over one file (both passes)."""

    institution_id: int
    as_of: date
    caps: loans_service.CapPolicy
    products: dict[str, int]  # code → id
    rules_by_id: dict[int, Any]  # id → ProductRules
    # Pass 1 met a loan of the file that is already stored (a re-import): pass 2 looks
    # every batch up again. Otherwise pass 2 writes the new loans without looking (a
    # loan stored by a concurrent import meanwhile breaks the unique constraint and the
    # whole import is rolled back).
    met_stored: bool = False
    key_ids: dict[tuple[Any, ...], int] = field(default_factory=dict)
    key_info: list[tuple[int, str, str, str, int, bool]] = field(default_factory=list)
    templates: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=bulk.TEMPLATE_SCHEMA)
    )

    def fast_mask(self, frame: pl.DataFrame) -> pl.Series:
        """True for the rows certainly valid (see the module docstring)."""
        rates = {r: _rate_text(r) for r in frame["annual_rate"].drop_nulls().unique()}
        good_rates = [r for r, text in rates.items() if text is not None]
        principal = pl.col("principal")
        up, periodic = pl.col("upfront_fee"), pl.col("periodic_fee")
        currency = pl.col("currency")
        mask = (
            _plain("external_id")
            & (pl.col("external_id").str.len_chars() <= 100)
            & _plain("borrower_external_id")
            & pl.col("product_code").is_in(list(self.products))
            & principal.is_between(1, MAX_PRINCIPAL)
            & pl.col("annual_rate").is_in(good_rates)
            & pl.col("term_months").is_between(1, MAX_TERM_MONTHS)
            & pl.col("start_date").is_between(_EARLIEST, self.as_of)
            & pl.col("method").is_in([m.value for m in RepaymentMethod])
            & (up.is_null() | up.is_between(0, principal // 2))
            & (periodic.is_null() | periodic.is_between(0, principal))
            & (currency.is_null() | currency.str.contains(r"^[A-Z]{3}$"))
        )
        result = frame.select(mask.fill_null(False).alias("ok"))["ok"]
        return result

    def _normalised(self, frame: pl.DataFrame) -> pl.DataFrame:
        rates = {r: _rate_text(r) for r in frame["annual_rate"].unique()}
        return frame.with_columns(
            pl.col("annual_rate").replace_strict(rates, return_dtype=pl.String).alias("rate_text"),
            pl.col("upfront_fee").fill_null(0),
            pl.col("periodic_fee").fill_null(0),
            pl.col("currency").fill_null("CNY"),
            pl.col("product_code")
            .replace_strict(self.products, return_dtype=pl.Int64)
            .alias("product_id"),
        )

    def _price(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with its ``key_id``; new sets of terms priced and their templates kept."""
        fresh: list[tuple[int, ...]] = []
        keys = frame.select(_KEY).unique()
        ids: list[int] = []
        for key in keys.iter_rows():
            key_id = self.key_ids.get(key)
            if key_id is None:
                principal, rate, term, method, upfront, periodic, currency = key
                terms = LoanTerms(
                    principal=principal,
                    annual_rate=Decimal(rate),
                    term_months=term,
                    start_date=bulk.ANCHOR,
                    method=RepaymentMethod(method),
                    upfront_fee=upfront,
                    periodic_fee=periodic,
                    currency=currency,
                )
                pricing = bulk.priced(terms, self.caps)
                key_id = len(self.key_info)
                self.key_ids[key] = key_id
                self.key_info.append(
                    (
                        key_id,
                        format(pricing.cost.nominal_apr, "f"),
                        format(pricing.cost.effective_apr, "f"),
                        pricing.cap_flags,
                        pricing.not_collectable,
                        bool(pricing.exceeded),
                    )
                )
                fresh += bulk.template_rows(
                    key_id,
                    pricing.schedule,
                    pricing.excess,
                    term,
                    terms.method is RepaymentMethod.BULLET,
                )
            ids.append(key_id)
        if fresh:
            self.templates = pl.concat(
                [self.templates, pl.DataFrame(fresh, schema=bulk.TEMPLATE_SCHEMA, orient="row")]
            )
        keys = keys.with_columns(pl.Series("key_id", ids, dtype=pl.Int64))
        return frame.join(keys, on=list(_KEY), how="left")

    def write(self, connection: Connection, frame: pl.DataFrame) -> tuple[int, int]:
        """Book and insert the new loans of ``frame`` (all passed ``fast_mask`` and none is
        stored). Returns (loans inserted, loans above a cap)."""
        frame = self._price(self._normalised(frame)).with_row_index("idx")
        frame = frame.with_columns(pl.col("idx").cast(pl.Int64))
        borrowers = _lookup(
            connection,
            Borrower.__table__,
            "external_id",
            frame["borrower_external_id"].unique().to_list(),
            self.institution_id,
        )
        frame = frame.join(
            borrowers.rename({"external_id": "borrower_external_id", "id": "borrower_id"}),
            on="borrower_external_id",
            how="left",
        )
        missing = frame.filter(pl.col("borrower_id").is_null())
        if missing.height:
            raise LookupError(
                f"borrower {missing['borrower_external_id'][0]} vanished after the check"
            )
        booked = bulk.book(
            frame.select("idx", "key_id", "product_id", "principal", "start_date"),
            self.templates,
            bulk.product_frame(self.rules_by_id),
            {pid: bulk.bucket_plan(pid, rules) for pid, rules in self.rules_by_id.items()},
            self.as_of,
        )
        info = pl.DataFrame(
            self.key_info,
            schema={
                "key_id": pl.Int64,
                "nominal_apr": pl.String,
                "effective_apr": pl.String,
                "cap_flags": pl.String,
                "not_collectable": pl.Int64,
                "flagged": pl.Boolean,
            },
            orient="row",
        )
        frame = frame.join(info, on="key_id", how="left")
        now = utcnow()
        loans = frame.join(booked.loans, on="idx", how="left").select(
            pl.lit(self.institution_id, dtype=pl.Int64).alias("institution_id"),
            "borrower_id",
            "product_id",
            "external_id",
            "principal",
            pl.col("rate_text").alias("annual_rate"),
            "term_months",
            "start_date",
            "method",
            "upfront_fee",
            "periodic_fee",
            "currency",
            pl.lit(False).alias("disputed"),
            "nominal_apr",
            "effective_apr",
            "cap_flags",
            "not_collectable",
            *[c for c in booked.loans.columns if c != "idx"],
            pl.lit(now).alias("created_at"),
            pl.lit(now).alias("updated_at"),
        )
        if connection.dialect.name == "postgresql":
            # Ids drawn from the table's own sequence, so that COPY can write them.
            drawn = connection.exec_driver_sql(
                "SELECT nextval(pg_get_serial_sequence('loans', 'id')) "
                "FROM generate_series(1, %(n)s)",
                {"n": frame.height},
            )
            loan_ids = pl.DataFrame(
                {"idx": frame["idx"], "loan_id": [int(r[0]) for r in drawn]},
                schema={"idx": pl.Int64, "loan_id": pl.Int64},
            )
            _insert(
                connection,
                Loan.__table__,
                loans.with_columns(loan_ids["loan_id"].alias("id")),
            )
        else:
            _insert(connection, Loan.__table__, loans)
            ids = _lookup(
                connection,
                Loan.__table__,
                "external_id",
                frame["external_id"].to_list(),
                self.institution_id,
            )
            loan_ids = (
                frame.select("idx", "external_id")
                .join(ids, on="external_id")
                .select("idx", pl.col("id").alias("loan_id"))
            )
            if loan_ids.height != frame.height:
                raise LookupError("a loan just inserted was not found again")
        _insert(
            connection,
            InstalmentRow.__table__,
            booked.instalments.join(loan_ids, on="idx").drop("idx"),
        )
        _insert(
            connection,
            BucketSpellRow.__table__,
            booked.spells.join(loan_ids, on="idx").drop("idx"),
        )
        return frame.height, int(frame["flagged"].sum())


def existing_ids(connection: Connection, institution_id: int, external_ids: list[str]) -> set[str]:
    """The external ids among ``external_ids`` of loans stored at this lender."""
    found = _lookup(connection, Loan.__table__, "external_id", external_ids, institution_id)
    return set(found["external_id"].to_list())


def known_borrowers(
    connection: Connection, institution_id: int, external_ids: list[str]
) -> set[str]:
    found = _lookup(connection, Borrower.__table__, "external_id", external_ids, institution_id)
    return set(found["external_id"].to_list())


def _lookup(
    connection: Connection, table: Any, column: str, values: list[str], institution_id: int
) -> pl.DataFrame:
    """(column, id) of the rows of ``table`` at this lender whose ``column`` is in
    ``values``, in chunks."""
    t: Table = table
    rows: list[tuple[str, int]] = []
    if connection.dialect.name == "postgresql":
        # One array parameter instead of thousands of bound values, joined (not "= ANY"):
        # statistics taken before this import began say the table is small, and with a
        # sequential scan "= ANY(array)" compares every row with the whole array.
        found = connection.exec_driver_sql(
            f"SELECT t.{column}, t.id FROM unnest(%(values)s::text[]) AS v(value) "  # noqa: S608
            f"JOIN {t.name} AS t ON t.institution_id = %(inst)s AND t.{column} = v.value",
            {"inst": institution_id, "values": values},
        )
        rows = [(str(r[0]), int(r[1])) for r in found]
        return pl.DataFrame(rows, schema={column: pl.String, "id": pl.Int64}, orient="row")
    for start in range(0, len(values), LOOKUP_CHUNK):
        chunk = values[start : start + LOOKUP_CHUNK]
        rows.extend(
            (str(r[0]), int(r[1]))
            for r in connection.execute(
                select(t.c[column], t.c.id).where(
                    t.c.institution_id == institution_id, t.c[column].in_(chunk)
                )
            )
        )
    return pl.DataFrame(rows, schema={column: pl.String, "id": pl.Int64}, orient="row")


class WriteConflict(Exception):
    """The database refused a row (a unique or foreign key constraint): rows changed between
    the passes, for instance a concurrent import stored the same loan."""


def _insert(connection: Connection, table: Any, frame: pl.DataFrame) -> None:
    """Rows of ``frame`` (its columns named as the table's) into ``table``, in the
    connection's transaction: ``COPY`` on PostgreSQL, ``executemany`` on SQLite. A
    constraint violation raises ``WriteConflict``."""
    if frame.height == 0:
        return
    dbapi_module: Any = connection.dialect.dbapi
    try:
        _write(connection, table, frame)
    except dbapi_module.IntegrityError as exc:
        raise WriteConflict(f"IntegrityError: {exc}".strip()) from exc


def _write(connection: Connection, table: Any, frame: pl.DataFrame) -> None:
    t: Table = table
    names = frame.columns
    unknown = [n for n in names if n not in t.c]
    if unknown:  # pragma: no cover - a programming error, caught by the tests
        raise ValueError(f"{t.name} has no column(s) {unknown}")
    dbapi = connection.connection.driver_connection
    assert dbapi is not None
    quoted = ", ".join(names)
    if connection.dialect.name == "postgresql":
        buffer = io.BytesIO()
        frame.write_csv(
            buffer,
            include_header=False,
            null_value=r"\N",
            date_format="%Y-%m-%d",
            datetime_format="%Y-%m-%d %H:%M:%S.%6f%z",
        )
        with dbapi.cursor() as cursor:
            sql = f"COPY {t.name} ({quoted}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
            with cursor.copy(sql) as copy:
                copy.write(buffer.getvalue())
        return
    # SQLite: dates and timestamps as the text SQLAlchemy stores, booleans as 0/1.
    processors: dict[str, Any] = {}
    for name in names:
        dtype = frame.schema[name]
        if dtype == pl.Date:
            processors[name] = pl.col(name).dt.strftime("%Y-%m-%d")
        elif isinstance(dtype, pl.Datetime):
            processors[name] = pl.col(name).dt.strftime("%Y-%m-%d %H:%M:%S.%6f")
        elif dtype == pl.Boolean:
            processors[name] = pl.col(name).cast(pl.Int64)
    if processors:
        frame = frame.with_columns(list(processors.values()))
    placeholders = ", ".join("?" for _ in names)
    cursor = dbapi.cursor()
    try:
        cursor.executemany(
            f"INSERT INTO {t.name} ({quoted}) VALUES ({placeholders})",  # noqa: S608
            frame.iter_rows(),
        )
    finally:
        cursor.close()
