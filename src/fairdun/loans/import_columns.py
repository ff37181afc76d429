"""The columns of the three import files (pure data, no I/O).

Every file has a header row (CSV) or schema (Parquet) naming its columns; the order does
not matter, an unknown column is an error and so is a missing required one. An optional
column may be left out of the file: on a re-import that leaves the stored value as it is,
while an empty cell in a column that is there clears it.

Types, the same in CSV (text cells) and Parquet (typed columns):

``text``
    A string (UTF-8). Surrounding spaces are removed. A Parquet integer column is accepted
    for a text column (numeric external ids) and read as its decimal digits.
``integer``
    A whole number, e.g. money in minor units: ``1200000`` is 12,000.00 CNY (分). A CSV cell
    is digits with an optional minus sign, nothing else (no ``1,200``, no ``12.5``); a
    Parquet column is an integer type. Floating-point money is refused.
``decimal``
    An exact decimal fraction: ``0.18`` is 18% a year. A CSV cell is plain digits with a
    point (no ``%``, no exponent); a Parquet column may be a string, a decimal or (read as
    its shortest decimal form) a double.
``date``
    A calendar date, ISO ``yyyy-mm-dd`` in CSV; a Parquet ``date32``/``date64`` column (a
    timestamp is refused: a date is meant, not an instant).

borrowers
---------
=================  =======  ========  ============================================================
column             type     required  meaning
=================  =======  ========  ============================================================
external_id        text     yes       your system's id of the borrower, unique per lender (≤ 100)
name               text     yes       full name (personal data, ≤ 100)
id_number          text     no        居民身份证号码, 18 characters, GB 11643 check character
phone              text     no        digits, spaces, hyphens, optional leading ``+`` (5-30)
email              text     no        e-mail address
address            text     no        postal address (≤ 500)
=================  =======  ========  ============================================================

loans
-----
=====================  =======  ========  ======================================================
column                 type     required  meaning
=====================  =======  ========  ======================================================
external_id            text     yes       your system's id of the loan, unique per lender
borrower_external_id   text     yes       the borrower's external_id (stored, or in the
                                          borrowers file of the same import)
product_code           text     yes       code of a product the lender has defined
principal              integer  yes       amount lent, minor units (分), > 0
annual_rate            decimal  yes       nominal annual rate as a fraction, 0 to 1 (0.18)
term_months            integer  yes       number of monthly periods, 1 to 360
start_date             date     yes       disbursement date, not after the as-of date
method                 text     yes       equal_instalment (等额本息), equal_principal (等额本金),
                                          interest_only (先息后本) or bullet (到期一次还本付息)
upfront_fee            integer  no        fee deducted at disbursement, minor units (default 0)
periodic_fee           integer  no        fee added to every instalment, minor units (default 0)
currency               text     no        ISO 4217 code (default CNY)
=====================  =======  ========  ======================================================

payments
--------
=================  =======  ========  ============================================================
column             type     required  meaning
=================  =======  ========  ============================================================
loan_external_id   text     yes       the loan's external_id (stored, or in the loans file of the
                                      same import)
external_id        text     yes       your system's id of the payment, unique per loan: a
                                      re-import recognises the payment by it
paid_date          date     yes       day the money was received: from the loan's start date to
                                      the as-of date
amount             integer  yes       minor units (分), > 0
=================  =======  ========  ============================================================

``examples/README.md`` shows the same tables with sample files; ``markdown_table`` renders
them from the specs below, and a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    BORROWERS = "borrowers"
    LOANS = "loans"
    PAYMENTS = "payments"


class ColumnType(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: ColumnType
    required: bool
    meaning: str
    # Personal data is never written in clear into an error report.
    personal: bool = False


_T, _I, _D, _DATE = ColumnType.TEXT, ColumnType.INTEGER, ColumnType.DECIMAL, ColumnType.DATE

COLUMNS: dict[Kind, tuple[ColumnSpec, ...]] = {
    Kind.BORROWERS: (
        ColumnSpec(
            "external_id", _T, True, "your system's id of the borrower, unique per lender (≤ 100)"
        ),
        ColumnSpec("name", _T, True, "full name (≤ 100)", personal=True),
        ColumnSpec(
            "id_number",
            _T,
            False,
            "居民身份证号码: 18 characters, GB 11643 check character",
            personal=True,
        ),
        ColumnSpec(
            "phone",
            _T,
            False,
            "digits, spaces, hyphens, optional leading `+` (5-30)",
            personal=True,
        ),
        ColumnSpec("email", _T, False, "e-mail address", personal=True),
        ColumnSpec("address", _T, False, "postal address (≤ 500)", personal=True),
    ),
    Kind.LOANS: (
        ColumnSpec("external_id", _T, True, "your system's id of the loan, unique per lender"),
        ColumnSpec(
            "borrower_external_id",
            _T,
            True,
            "the borrower's external_id (stored, or in the borrowers file of the same import)",
        ),
        ColumnSpec("product_code", _T, True, "code of a product the lender has defined"),
        ColumnSpec("principal", _I, True, "amount lent, minor units (分), > 0"),
        ColumnSpec("annual_rate", _D, True, "nominal annual rate as a fraction, 0 to 1 (0.18)"),
        ColumnSpec("term_months", _I, True, "number of monthly periods, 1 to 360"),
        ColumnSpec("start_date", _DATE, True, "disbursement date, not after the as-of date"),
        ColumnSpec(
            "method",
            _T,
            True,
            "equal_instalment (等额本息), equal_principal (等额本金), "
            "interest_only (先息后本) or bullet (到期一次还本付息)",
        ),
        ColumnSpec(
            "upfront_fee", _I, False, "fee deducted at disbursement, minor units (default 0)"
        ),
        ColumnSpec(
            "periodic_fee", _I, False, "fee added to every instalment, minor units (default 0)"
        ),
        ColumnSpec("currency", _T, False, "ISO 4217 code (default CNY)"),
    ),
    Kind.PAYMENTS: (
        ColumnSpec(
            "loan_external_id",
            _T,
            True,
            "the loan's external_id (stored, or in the loans file of the same import)",
        ),
        ColumnSpec(
            "external_id",
            _T,
            True,
            "your system's id of the payment, unique per loan: a re-import recognises it by it",
        ),
        ColumnSpec(
            "paid_date",
            _DATE,
            True,
            "day the money was received: from the loan's start date to the as-of date",
        ),
        ColumnSpec("amount", _I, True, "minor units (分), > 0"),
    ),
}


def spec_of(kind: Kind) -> dict[str, ColumnSpec]:
    return {c.name: c for c in COLUMNS[kind]}


def markdown_table(kind: Kind) -> str:
    """The columns of ``kind`` as a Markdown table (the one in ``examples/README.md``)."""
    lines = ["| column | type | required | meaning |", "|---|---|---|---|"]
    for c in COLUMNS[kind]:
        meaning = c.meaning + (" (personal data)" if c.personal else "")
        lines.append(
            f"| `{c.name}` | {c.type.value} | {'yes' if c.required else 'no'} | {meaning} |"
        )
    return "\n".join(lines)
