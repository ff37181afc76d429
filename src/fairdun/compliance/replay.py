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

**Speed.** A CSV log is read a block (1 MB) at a time: a block without quotes, NUL
bytes, blank lines or bare carriage returns (what a dialer export looks like) is split
into columns by ``pyarrow.csv``, each column converted to Python values once, the
vocabulary columns through their few distinct values, the timestamps parsed by
``datetime.fromisoformat`` and, as UTC microseconds for the time order and the local
times, by Arrow. The first block that is anything else, or has anything wrong in it (an
unknown value, a row out of order, an account event without what it needs ...), and
every block after it, go through the row-by-row reader of the csv module, which names
the row, column and reason; both readers accept the same rows as the same events.
"""

from __future__ import annotations

import csv
import gc
import io
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from itertools import repeat
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.csv as pcsv  # type: ignore[import-untyped]

from fairdun.compliance.engine import PRUNE_EVERY, Decision, History, epoch_us
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
    holds up to ``max_errors`` bad rows of the whole file. :meth:`batches` yields the same
    events in lists, each with its instant in UTC microseconds (for the replay).
    """

    def __init__(self, path: Path, fmt: LogFormat, max_errors: int = 20) -> None:
        self.path = path
        self.fmt = fmt
        self.max_errors = max_errors
        self.errors: list[LogError] = []
        self.rows = 0
        self._last_at: datetime | None = None
        self._last_us = 0
        self._last_row = 0

    def _error(self, row: int, column: str | None, reason: str) -> bool:
        """Record an error; True when enough have been collected to stop reading."""
        self.errors.append(LogError(str(self.path), row, column, reason))
        return len(self.errors) >= self.max_errors

    def __iter__(self) -> Iterator[ContactEvent]:
        for events, _ in self.batches():
            yield from events

    def batches(self) -> Iterator[tuple[Sequence[ContactEvent], Sequence[int]]]:
        """The good events in order, in lists, with ``epoch_us`` of each; as iterating."""
        if self.fmt == "csv":
            yield from self._csv_batches()
        else:
            yield from self._checked(self._jsonl())

    def _checked(
        self, rows: Iterable[tuple[int, ContactEvent | FieldError]]
    ) -> Iterator[tuple[list[ContactEvent], list[int]]]:
        """Row by row: record bad rows and rows out of time order; batch the good ones."""
        events: list[ContactEvent] = []
        stamps: list[int] = []
        for row, item in rows:
            self.rows += 1
            if isinstance(item, FieldError):
                if self._error(row, item.column, item.reason):
                    break
                continue
            at = item.occurred_at
            us = epoch_us(at)
            last = self._last_at
            if last is not None and us < self._last_us:
                if self._error(
                    row,
                    "occurred_at",
                    f"out of time order: {at.isoformat()} is earlier than row {self._last_row} "
                    f"({last.isoformat()}); sort the log by occurred_at",
                ):
                    break
                continue
            self._last_at, self._last_us, self._last_row = at, us, row
            if not self.errors:
                events.append(item)
                stamps.append(us)
                if len(events) >= _SLOW_BATCH:
                    yield events, stamps
                    events, stamps = [], []
        if events:
            yield events, stamps

    def _csv_batches(self) -> Iterator[tuple[Sequence[ContactEvent], Sequence[int]]]:
        with self.path.open("rb") as raw:
            head = raw.readline()
            header = _plain_header(head)
            if header is None or _check_header(header) is not None:
                yield from self._checked(self._csv())
                return
            columns = _Columns(header)
            row = 1
            offset = len(head)
            rest = b""
            while True:
                block = raw.read(_BLOCK)
                data = rest + block if rest else block
                if not data:
                    return
                cut = data.rfind(b"\n") + 1 if block else len(data)
                if not cut:
                    rest = data  # a line longer than a block: read on
                    continue
                chunk, rest = data[:cut], data[cut:]
                converted = columns.convert(chunk, self._last_us if self._last_at else None)
                if converted is None:
                    raw.seek(offset)
                    text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                    parse = _csv_row_parser(header)
                    yield from self._checked(_csv_records(csv.reader(text), parse, row))
                    return
                events, stamps = converted
                count = len(events)
                self.rows += count
                row += count
                offset += cut
                self._last_at, self._last_us, self._last_row = (
                    events[-1].occurred_at,
                    stamps[-1],
                    row,
                )
                yield events, stamps
                if not block:
                    return

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
            yield from _csv_records(reader, _csv_row_parser(header), 1)

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


def _csv_records(
    reader: Iterator[list[str]], parse: Callable[[list[str]], ContactEvent], row: int
) -> Iterator[tuple[int, ContactEvent | FieldError]]:
    """The records of a CSV reader after row ``row`` (the header is row 1), parsed."""
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


_BLOCK = 1 << 20  # bytes of CSV converted at a time
_SLOW_BATCH = 4096
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


def _plain_header(line: bytes) -> list[str] | None:
    """The header row, if it reads the same split on commas as with the csv module."""
    if not line.endswith(b"\n") or b'"' in line or b"\0" in line:
        return None
    if line.count(b"\r") != line.endswith(b"\r\n"):
        return None
    try:
        text = line.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        return None
    return text.split(",") if text else None


_STRING = pa.string()
_CODES = pa.dictionary(pa.int32(), pa.string())
_INSTANT = pa.timestamp("us", tz="UTC")
_STAFF: dict[str, object] = {"": None}
_make_event = partial(tuple.__new__, ContactEvent)


class _Columns:
    """Converts a block of plain CSV lines (no quotes) to events, a column at a time.

    :meth:`convert` returns None for a block that the row-by-row reader must read: one
    that is not plain, or that has anything the row-by-row reader would refuse or take
    another way. So a block it converts gives exactly the events of the row-by-row reader.
    """

    # Columns of few distinct values: read as Arrow dictionaries, converted once per value.
    TABLES: ClassVar[dict[str, dict[str, object]]] = {
        "kind": dict(KIND_BY_VALUE),
        "role": dict(_ROLE),
        "channel": dict(_CHANNEL),
        "direction": dict(_DIRECTION),
        "outcome": dict(_OUTCOME),
        "purpose": dict(_PURPOSE),
        "requested_by_person": dict(_REQUESTED),
    }
    CODED: ClassVar[frozenset[str]] = frozenset(
        {*TABLES, "collector_id", "creditor_id", "timezone", "staff_count", "content"}
    )
    DEFAULTS: ClassVar[dict[str, object]] = {
        "collector_id": "",
        "creditor_id": "",
        "debt_id": "",
        "person_id": "",
        "role": None,
        "channel": None,
        "direction": Direction.OUTBOUND,
        "address": "",
        "outcome": None,
        "purpose": Purpose.COLLECT,
        "timezone": "",
        "staff_count": None,
        "requested_by_person": False,
        "content": "",
    }

    def __init__(self, header: list[str]) -> None:
        self.header = header
        self.read_options = pcsv.ReadOptions(
            column_names=header, use_threads=False, block_size=_BLOCK * 2
        )
        self.parse_options = pcsv.ParseOptions(
            quote_char=False, newlines_in_values=False, ignore_empty_lines=False
        )
        self.convert_options = pcsv.ConvertOptions(
            column_types={name: _CODES if name in self.CODED else _STRING for name in header},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )

    def convert(
        self, chunk: bytes, last_us: int | None
    ) -> tuple[list[ContactEvent], list[int]] | None:
        # Without quotes a line is a record. A blank line, or a carriage return that does
        # not end a line, makes Arrow see a row of the wrong width (blank lines are not
        # skipped here), so the block goes to the csv module, which counts rows its way.
        if b'"' in chunk or b"\0" in chunk:
            return None
        try:
            table = pcsv.read_csv(
                pa.py_buffer(chunk),
                read_options=self.read_options,
                parse_options=self.parse_options,
                convert_options=self.convert_options,
            )
            if table.num_rows == 0:
                return None
            table = table.combine_chunks()
            return self._events(table, last_us)
        except (pa.ArrowException, ValueError, FieldError):
            return None

    def _events(
        self, table: pa.Table, last_us: int | None
    ) -> tuple[list[ContactEvent], list[int]] | None:
        n = table.num_rows
        values: list[Iterable[Any]] = []
        kinds: list[Any] = []
        for name in COLUMNS:
            if name not in self.header:
                values.append(repeat(self.DEFAULTS[name], n))
                continue
            column = table.column(name).chunk(0) if table.column(name).num_chunks else None
            if column is None:
                return None
            if name in self.CODED:
                distinct = column.dictionary.to_pylist()
                if name in self.TABLES:
                    known = self.TABLES[name]
                    mapped = [known.get(value, _BAD) for value in distinct]
                elif name == "staff_count":
                    mapped = [
                        int(value)
                        if value.isdigit() and value.isascii()
                        else _STAFF.get(value, _BAD)
                        for value in distinct
                    ]
                else:
                    mapped = distinct
                if _BAD in mapped or (name == "kind" and None in mapped):
                    return None
                if name == "kind":
                    kinds = list(map(mapped.__getitem__, column.indices.to_pylist()))
                    values.append(kinds)
                elif len(mapped) == 1:
                    values.append(repeat(mapped[0], n))
                else:
                    values.append(list(map(mapped.__getitem__, column.indices.to_pylist())))
            elif name == "occurred_at":
                stamps_array = pc.cast(column, _INSTANT)
                if n > 1 and pc.any(pc.less(stamps_array[1:], stamps_array[:-1])).as_py():
                    return None
                stamps = stamps_array.cast(pa.int64()).to_pylist()
                if last_us is not None and stamps[0] < last_us:
                    return None
                times = list(map(datetime.fromisoformat, column.to_pylist()))
                # Both parsers read ISO 8601 with an offset (Arrow refuses one without);
                # check that they agree, at the ends of the block.
                if epoch_us(times[0]) != stamps[0] or epoch_us(times[-1]) != stamps[-1]:
                    return None
                values.append(times)
            else:
                texts = column.to_pylist()
                if name == "event_id" and "" in texts:
                    return None
                values.append(texts)
        events = list(map(_make_event, zip(*values, strict=False)))
        contact = EventKind.CONTACT
        if kinds.count(contact) != n:
            for index, kind in enumerate(kinds):
                if kind is not contact:
                    check_account_event(events[index])
        return events, stamps


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
    # engine.replay, unrolled: the reader gives each instant in UTC microseconds.
    history = History(pack)
    step = history.step_at
    allowed = history._allowed
    prune_at = PRUNE_EVERY
    # The replay makes millions of small objects and no reference cycles: the cyclic
    # garbage collector would only rescan them (a fifth of the time), so it waits.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for batch, stamps in reader.batches():
            for event, us in zip(batch, stamps, strict=True):
                decision = step(event, us, facts)
                if decision is not allowed:
                    result.denied_events += 1
                    result.violations += len(decision.violations)
                    for violation in decision.violations:
                        by_rule[violation.rule] += 1
                    sink(event, decision)
            events += len(batch)
            if events >= prune_at:
                history.prune(batch[-1].occurred_at)
                prune_at = (events // PRUNE_EVERY + 1) * PRUNE_EVERY
    finally:
        if collecting:
            gc.enable()
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
