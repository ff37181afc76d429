"""Audit replay of a contact log: stream the rows, judge each event, report violations.

Input: CSV with a header (UTF-8, a BOM is allowed) or JSON Lines (one object per line),
with the columns of ``events.COLUMNS``; ``event_id``, ``occurred_at`` and ``kind`` are
required, the other columns may be left out. Values are taken literally.

The log is read as a stream and never held in memory. **It must be in time order**:
each row's ``occurred_at`` must not be earlier than the row before it (rows at the same
instant keep their order). A row out of order is bad input, named by its row, because
caps and waiting periods across debts, persons and numbers can only be judged in time
order; sort an export first (``sort`` the CSV by ``occurred_at`` as UTC, for example).

Rows are numbered as a spreadsheet shows them: in CSV the header is row 1 and the first
record row 2 (a record with a quoted line break still counts once); in JSON Lines the
row is the line number. After the first bad row no more events are judged, but reading
goes on to report up to ``max_errors`` bad rows at once.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from fairdun.compliance.engine import Decision, replay
from fairdun.compliance.events import (
    CHANNEL_BY_VALUE,
    COLUMNS,
    DIRECTION_BY_VALUE,
    KIND_BY_VALUE,
    NO_FACTS,
    OUTCOME_BY_VALUE,
    PURPOSE_BY_VALUE,
    REQUIRED_COLUMNS,
    ROLE_BY_VALUE,
    ContactEvent,
    Direction,
    EventKind,
    Facts,
    FieldError,
    Purpose,
    check_account_event,
    parse_record,
)
from fairdun.compliance.packs import Pack

LogFormat = Literal["csv", "jsonl"]
_SUFFIXES: dict[str, LogFormat] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True, slots=True)
class LogError:
    """A bad row of a contact log: where it is and what is wrong."""

    file: str
    row: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        column = f", column {self.column}" if self.column else ""
        return f"{self.file}: row {self.row}{column}: {self.reason}"


def detect_format(path: Path) -> LogFormat | None:
    return _SUFFIXES.get(path.suffix.lower())


class LogReader:
    """The events of a log file, in order, checking each row; collects :class:`LogError`.

    Iterating yields the events of the good rows until the first bad one; ``errors`` then
    holds up to ``max_errors`` bad rows of the whole file.
    """

    def __init__(self, path: Path, fmt: LogFormat, max_errors: int = 20) -> None:
        self.path = path
        self.fmt = fmt
        self.max_errors = max_errors
        self.errors: list[LogError] = []
        self.rows = 0

    def _error(self, row: int, column: str | None, reason: str) -> bool:
        """Record an error; True when enough have been collected to stop reading."""
        self.errors.append(LogError(str(self.path), row, column, reason))
        return len(self.errors) >= self.max_errors

    def __iter__(self) -> Iterator[ContactEvent]:
        rows = self._csv() if self.fmt == "csv" else self._jsonl()
        last: datetime | None = None
        last_row = 0
        for row, item in rows:
            self.rows += 1
            if isinstance(item, FieldError):
                if self._error(row, item.column, item.reason):
                    return
                continue
            at = item.occurred_at
            if last is not None and at < last:
                if self._error(
                    row,
                    "occurred_at",
                    f"out of time order: {at.isoformat()} is earlier than row {last_row} "
                    f"({last.isoformat()}); sort the log by occurred_at",
                ):
                    return
                continue
            last, last_row = at, row
            if not self.errors:
                yield item

    def _csv(self) -> Iterator[tuple[int, ContactEvent | FieldError]]:
        with self.path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            try:
                header = next(reader, None)
            except (csv.Error, UnicodeDecodeError) as exc:
                yield 1, FieldError(None, f"unreadable header: {exc}")
                return
            if header is None:
                yield 1, FieldError(None, "empty file: no header row")
                return
            problem = _check_header(header)
            if problem is not None:
                yield 1, problem
                return
            parse = _csv_row_parser(header)
            row = 1
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except (csv.Error, UnicodeDecodeError) as exc:
                    yield row + 1, FieldError(None, f"not readable as CSV: {exc}")
                    return
                row += 1
                if not values:
                    continue
                try:
                    yield row, parse(values)
                except FieldError as exc:
                    yield row, exc

    def _jsonl(self) -> Iterator[tuple[int, ContactEvent | FieldError]]:
        with self.path.open(encoding="utf-8-sig") as handle:
            row = 0
            while True:
                try:
                    line = handle.readline()
                except UnicodeDecodeError as exc:
                    yield row + 1, FieldError(None, f"not UTF-8: {exc}")
                    return
                if not line:
                    return
                row += 1
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield (
                        row,
                        FieldError(None, f"not valid JSON: {exc.msg} at character {exc.pos + 1}"),
                    )
                    continue
                if not isinstance(data, dict):
                    yield row, FieldError(None, "each line must be a JSON object")
                    continue
                try:
                    yield row, parse_record(data)
                except FieldError as exc:
                    yield row, exc


def _check_header(header: list[str]) -> FieldError | None:
    seen: set[str] = set()
    for name in header:
        if name not in COLUMNS:
            return FieldError(name, f"unknown column {name!r}; columns: {', '.join(COLUMNS)}")
        if name in seen:
            return FieldError(name, "column given twice")
        seen.add(name)
    for name in REQUIRED_COLUMNS:
        if name not in seen:
            return FieldError(name, "required column missing")
    return None


_BAD = object()
_ROLE = {"": None, **ROLE_BY_VALUE}
_CHANNEL = {"": None, **CHANNEL_BY_VALUE}
_OUTCOME = {"": None, **OUTCOME_BY_VALUE}
_DIRECTION = {"": Direction.OUTBOUND, **DIRECTION_BY_VALUE}
_PURPOSE = {"": Purpose.COLLECT, **PURPOSE_BY_VALUE}
_REQUESTED = {"": False, "true": True, "false": False}


def _csv_row_parser(header: list[str]) -> Callable[[list[str]], ContactEvent]:
    """A fast parser of one CSV record for this header.

    It handles the common, well-formed row itself and hands anything unusual to
    :func:`~fairdun.compliance.events.parse_record`, which either accepts it the same way
    or raises the :class:`FieldError` that names the column; so both give one result.
    """
    n = len(header)
    index = {name: i for i, name in enumerate(header)}

    def at(name: str) -> int:
        return index.get(name, n)  # a missing column reads the "" appended to each row

    i_id, i_at, i_kind = at("event_id"), at("occurred_at"), at("kind")
    i_collector, i_creditor, i_debt, i_person = (
        at("collector_id"),
        at("creditor_id"),
        at("debt_id"),
        at("person_id"),
    )
    i_role, i_channel, i_direction, i_address = (
        at("role"),
        at("channel"),
        at("direction"),
        at("address"),
    )
    i_outcome, i_purpose, i_tz, i_staff = (
        at("outcome"),
        at("purpose"),
        at("timezone"),
        at("staff_count"),
    )
    i_requested, i_content = at("requested_by_person"), at("content")
    fromiso = datetime.fromisoformat
    contact = EventKind.CONTACT
    kinds, roles, channels, outcomes = KIND_BY_VALUE, _ROLE, _CHANNEL, _OUTCOME
    directions, purposes, requested_values = _DIRECTION, _PURPOSE, _REQUESTED
    bad = _BAD
    make = ContactEvent

    def slow(values: list[str]) -> ContactEvent:
        return parse_record(dict(zip(header, values, strict=False)))

    def parse(values: list[str]) -> ContactEvent:
        if len(values) != n:
            raise FieldError(None, f"{len(values)} fields; the header has {n}")
        values.append("")
        event_id = values[i_id]
        try:
            occurred_at = fromiso(values[i_at])
        except ValueError:
            return slow(values)
        kind = kinds.get(values[i_kind])
        role = roles.get(values[i_role], bad)
        channel = channels.get(values[i_channel], bad)
        direction = directions.get(values[i_direction], bad)
        outcome = outcomes.get(values[i_outcome], bad)
        purpose = purposes.get(values[i_purpose], bad)
        requested = requested_values.get(values[i_requested], bad)
        staff_text = values[i_staff]
        if (
            not event_id
            or occurred_at.tzinfo is None
            or kind is None
            or role is bad
            or channel is bad
            or direction is bad
            or outcome is bad
            or purpose is bad
            or requested is bad
            or (staff_text and not (staff_text.isdigit() and staff_text.isascii()))
        ):
            return slow(values)
        event = make(
            event_id,
            occurred_at,
            kind,
            values[i_collector],
            values[i_creditor],
            values[i_debt],
            values[i_person],
            role,  # type: ignore[arg-type]
            channel,  # type: ignore[arg-type]
            direction,  # type: ignore[arg-type]
            values[i_address],
            outcome,  # type: ignore[arg-type]
            purpose,  # type: ignore[arg-type]
            values[i_tz],
            int(staff_text) if staff_text else None,
            requested,  # type: ignore[arg-type]
            values[i_content],
        )
        if kind is not contact:
            check_account_event(event)
        return event

    return parse


@dataclass
class AuditResult:
    """What a replay found (counts are exact whatever the report keeps)."""

    pack_id: str
    pack_version: str
    events: int = 0
    denied_events: int = 0
    violations: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    errors: list[LogError] = field(default_factory=list)


Sink = Callable[[ContactEvent, Decision], None]


def audit_log(
    path: Path,
    pack: Pack,
    sink: Sink,
    *,
    fmt: LogFormat,
    facts: Facts = NO_FACTS,
    max_errors: int = 20,
) -> AuditResult:
    """Replay the log at ``path`` through ``pack``; pass every denied event to ``sink``.

    On bad input, ``errors`` is filled and the counts cover only the rows before the
    first bad one: the caller must not use the verdicts.
    """
    reader = LogReader(path, fmt, max_errors)
    result = AuditResult(pack.id, pack.effective_version)
    by_rule = result.by_rule
    events = 0
    for event, decision in replay(reader, pack, facts):
        events += 1
        if not decision.allowed:
            result.denied_events += 1
            result.violations += len(decision.violations)
            for violation in decision.violations:
                by_rule[violation.rule] += 1
            sink(event, decision)
    result.events = events
    result.errors = reader.errors
    return result


def events_of_debts(
    path: Path, fmt: LogFormat, debts: set[str], per_debt: int
) -> dict[str, list[ContactEvent]]:
    """A second pass over a log that replayed cleanly as input: the first ``per_debt``
    events of each of ``debts`` (for the timelines of the HTML report)."""
    found: dict[str, list[ContactEvent]] = {debt: [] for debt in debts}
    for event in LogReader(path, fmt):
        timeline = found.get(event.debt_id)
        if timeline is not None and len(timeline) < per_debt:
            timeline.append(event)
    return found
