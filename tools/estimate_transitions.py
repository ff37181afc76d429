r"""Estimate the month-to-month delinquency transition matrix from the Taiwan credit card data.

Usage::

    .venv/bin/python tools/estimate_transitions.py \
        ../shared/data/uci-taiwan-credit-default/UCI_Credit_Card.csv

The data ("Default of credit card clients", Yeh & Lien 2009, UCI, CC BY 4.0) gives, for
30,000 clients, the repayment status of six consecutive months: ``X11`` April 2005, ``X10``
May, ``X9`` June, ``X8`` July, ``X7`` August, ``X6`` September (some copies name them
``PAY_6 .. PAY_2, PAY_0``). Codes: -2 no consumption, -1 paid in full, 0 revolving (minimum
paid), 1..9 months of delay. Time runs X11 -> X6, so every client gives five transitions.

States: ``C`` (codes -2, -1, 0), ``M1``, ``M2``, ``M3``, ``M4+`` (4 or more months late).

Impossible jumps. A loan can only worsen by one month per month, but the data records a
client as 2 months late right after a month in which they were current about 6,200 times
(and records code 1 almost only in September: the coding of the earlier months rarely uses
1). Kept as data, those jumps would be transitions no ledger can produce; dropped, they
would leave M1 with 34 outgoing transitions, all M1 -> M1 (an absorbing state). We fold
each client's path instead: the recorded code is read as an upper bound on the delay and
replaced by the greatest path that never worsens by more than one state a month::

    s[0] = x[0];  s[t] = min(x[t], s[t-1] + 1)

so ``0, 2, 2, 0`` becomes ``C, M1, M2, C``. Improvements of any size are kept (paying all
arrears at once is real). The tool prints both the recorded and the folded counts; the
parameters are the folded ones, row-normalised and rounded to ``PLACES`` decimals by the
largest-remainder method so that every row sums to exactly 1 at that precision.

Standard library only; the data path is an argument and the data is never copied.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

STATES: tuple[str, ...] = ("C", "M1", "M2", "M3", "M4+")
PLACES = 4
# Oldest month first: April, May, June, July, August, September 2005.
COLUMN_SETS: tuple[tuple[str, ...], ...] = (
    ("X11", "X10", "X9", "X8", "X7", "X6"),
    ("PAY_6", "PAY_5", "PAY_4", "PAY_3", "PAY_2", "PAY_0"),
)
MONTHS: tuple[str, ...] = ("Apr", "May", "Jun", "Jul", "Aug", "Sep")


class DataError(ValueError):
    """The file is not the data set this tool expects; the message says where."""


def state_of(code: int) -> int:
    """Index into ``STATES`` of a repayment status code (-2..9)."""
    if code <= 0:
        return 0
    return min(code, 4)


def fold(path: list[int]) -> list[int]:
    """The greatest path not above ``path`` that worsens by at most one state a month."""
    folded = [path[0]]
    for state in path[1:]:
        folded.append(min(state, folded[-1] + 1))
    return folded


def _zero_counts() -> dict[str, dict[str, int]]:
    return {a: dict.fromkeys(STATES, 0) for a in STATES}


@dataclass(frozen=True)
class Matrix:
    """Transition counts between consecutive months, as recorded and after folding."""

    counts: dict[str, dict[str, int]]  # folded: what the parameters come from
    raw_counts: dict[str, dict[str, int]]  # as recorded
    clients: int
    folded_clients: int  # clients whose path the fold changed
    code_pairs: dict[tuple[int, int], int]  # raw (from code, to code) counts
    ones_by_month: dict[str, int]  # how often code 1 appears in each month
    places: int = PLACES

    @property
    def transitions(self) -> int:
        return sum(sum(row.values()) for row in self.counts.values())

    def skipped(self) -> dict[tuple[str, str], int]:
        """Recorded transitions that worsen by more than one state in a month."""
        out: dict[tuple[str, str], int] = {}
        for i, a in enumerate(STATES):
            for j, b in enumerate(STATES):
                if j > i + 1 and self.raw_counts[a][b]:
                    out[(a, b)] = self.raw_counts[a][b]
        return out

    def probabilities(self) -> dict[str, dict[str, float]]:
        """Folded counts row-normalised, rounded to ``places`` decimals, rows summing to 1."""
        return {a: _round_row(a, self.counts[a], self.places) for a in STATES}


def _round_row(state: str, row: dict[str, int], places: int) -> dict[str, float]:
    total = sum(row.values())
    if total == 0:
        raise DataError(f"no client was ever in {state} before the last month: no row for it")
    unit = 10**places
    exact = {b: Fraction(n * unit, total) for b, n in row.items()}
    floors = {b: int(q) for b, q in exact.items()}
    # Largest remainder: hand the missing units to the largest fractional parts (ties in
    # state order), so zero counts stay zero and the row sums to exactly 1.
    missing = unit - sum(floors.values())
    by_remainder = sorted(STATES, key=lambda b: (-(exact[b] - floors[b]), STATES.index(b)))
    for b in by_remainder[:missing]:
        floors[b] += 1
    return {b: float(Decimal(floors[b]) / unit) for b in STATES}


def _columns(header: list[str]) -> tuple[str, ...]:
    for columns in COLUMN_SETS:
        if all(c in header for c in columns):
            return columns
    wanted = " or ".join(", ".join(c) for c in COLUMN_SETS)
    raise DataError(f"header has none of the column sets {wanted}")


def estimate(path: str | Path) -> Matrix:
    """Count the transitions of every client in the CSV at ``path``."""
    raw = _zero_counts()
    folded = _zero_counts()
    code_pairs: Counter[tuple[int, int]] = Counter()
    ones: Counter[str] = Counter()
    clients = 0
    changed = 0
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = _columns(list(reader.fieldnames or []))
        for row in reader:
            values = [row[c] for c in columns]
            # The UCI spreadsheet carries a second header row (LIMIT_BAL, ..., PAY_0, ...).
            if clients == 0 and not any(v.lstrip("-").isdigit() for v in values):
                continue
            try:
                codes = [int(v) for v in values]
            except ValueError:
                raise DataError(
                    f"line {reader.line_num}: repayment status {values} is not a whole number"
                ) from None
            if any(not -2 <= c <= 9 for c in codes):
                raise DataError(f"line {reader.line_num}: repayment status {codes} not in -2..9")
            clients += 1
            for month, c in zip(MONTHS, codes, strict=True):
                if c == 1:
                    ones[month] += 1
            recorded = [state_of(c) for c in codes]
            cleaned = fold(recorded)
            changed += cleaned != recorded
            for t in range(1, len(codes)):
                code_pairs[(codes[t - 1], codes[t])] += 1
                raw[STATES[recorded[t - 1]]][STATES[recorded[t]]] += 1
                folded[STATES[cleaned[t - 1]]][STATES[cleaned[t]]] += 1
    if clients == 0:
        raise DataError(f"{path}: no clients")
    return Matrix(
        counts=folded,
        raw_counts=raw,
        clients=clients,
        folded_clients=changed,
        code_pairs=dict(code_pairs),
        ones_by_month={m: ones[m] for m in MONTHS},
    )


def _table(counts: dict[str, dict[str, int]], probabilities: dict[str, dict[str, float]]) -> str:
    width = 17
    lines = ["from \\ to".ljust(6) + "".join(b.rjust(width) for b in STATES) + "total".rjust(9)]
    for a in STATES:
        cells = "".join(
            f"{counts[a][b]:>7} ({probabilities[a][b]:.4f})".rjust(width) for b in STATES
        )
        lines.append(a.ljust(6) + cells + f"{sum(counts[a].values()):>9}")
    return "\n".join(lines)


def _plain(counts: dict[str, dict[str, int]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for a in STATES:
        total = sum(counts[a].values())
        out[a] = {b: counts[a][b] / total if total else 0.0 for b in STATES}
    return out


def python_block(matrix: Matrix, source: str, today: date) -> str:
    """The parameters as Python, ready to paste into ``fairdun.demo.portfolio``."""
    probabilities = matrix.probabilities()
    lines = [
        f"# Estimated on {today.isoformat()} by tools/estimate_transitions.py",
        f"# from {source}",
        f"# (X11..X6 = Apr..Sep 2005 repayment status; {matrix.clients:,} clients, "
        f"{matrix.transitions:,} transitions;",
        f"# {sum(matrix.skipped().values()):,} recorded jumps of more than one state folded, "
        f"{matrix.folded_clients:,} clients changed).",
        f"# Rows are folded counts row-normalised and rounded to {matrix.places} decimals "
        "(largest remainder): every row sums to 1.",
        "TRANSITION_COUNTS: dict[str, dict[str, int]] = {",
    ]
    for a in STATES:
        cells = ", ".join(f'"{b}": {matrix.counts[a][b]}' for b in STATES)
        lines.append(f'    "{a}": {{{cells}}},')
    lines.append("}")
    lines.append("TRANSITIONS: dict[str, dict[str, float]] = {")
    for a in STATES:
        cells = ", ".join(f'"{b}": {probabilities[a][b]}' for b in STATES)
        lines.append(f'    "{a}": {{{cells}}},')
    lines.append("}")
    return "\n".join(lines)


def report(matrix: Matrix, source: str, today: date) -> str:
    skipped = matrix.skipped()
    ones = ", ".join(f"{m} {n}" for m, n in matrix.ones_by_month.items())
    after_none = sum(matrix.code_pairs.get((a, 1), 0) for a in (-2, -1))
    after_zero = matrix.code_pairs.get((0, 1), 0)
    skip_text = ", ".join(f"{a}->{b} {n:,}" for (a, b), n in skipped.items()) or "none"
    parts = [
        f"{matrix.clients:,} clients, {matrix.transitions:,} transitions (5 per client)",
        "",
        "Recorded (counts and row shares):",
        _table(matrix.raw_counts, _plain(matrix.raw_counts)),
        "",
        f"Recorded jumps of more than one state in a month: {skip_text} "
        f"({sum(skipped.values()) / matrix.transitions:.2%} of all transitions).",
        f"Code 1 (one month late) by month: {ones}; it follows -2/-1 {after_none:,} times "
        f"but 0 only {after_zero:,} times.",
        f"Folding each path (s[t] = min(x[t], s[t-1] + 1)) changed {matrix.folded_clients:,} "
        "clients.",
        "",
        f"Folded (counts and probabilities, {matrix.places} decimals, rows sum to 1):",
        _table(matrix.counts, matrix.probabilities()),
        "",
        python_block(matrix, source, today),
    ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("path", type=Path, help="UCI_Credit_Card.csv")
    args = parser.parse_args(argv)
    try:
        matrix = estimate(args.path)
    except (OSError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    source = "uci-taiwan-credit-default/" + args.path.name
    print(report(matrix, source, date.today()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
