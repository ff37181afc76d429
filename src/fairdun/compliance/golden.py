"""Golden cases: the worked examples every pack ships, run by the test suite and by
``fairdun policy validate``.

A golden file (``packs/golden/<pack>.yaml``) holds defaults for every event and a list
of cases. Each case gives the history (events in time order), the proposed contact, the
facts (optional) and the expected decision: allowed or not, the ids of the rules that
deny (as a set), and optionally the earliest lawful time (``null`` to expect none)::

    pack: us-regf
    defaults: {collector_id: c1, debt_id: d1, person_id: p1, role: debtor,
               channel: call, timezone: America/New_York}
    cases:
      - name: an eighth call within seven days is denied
        history:
          - {occurred_at: "2026-03-02T10:00:00-05:00", outcome: no_answer}
        propose: {occurred_at: "2026-03-02T11:00:00-05:00"}
        expect: {allowed: false, rules: [us-regf.call-7in7],
                 earliest_lawful_at: "2026-03-09T13:00:00Z"}

Event fields are the contact-log columns, parsed by the same code as a log row; set a
default back to empty with ``null``. Event ids default to ``h1``, ``h2`` ... and ``proposed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

from fairdun.compliance.engine import History, evaluate
from fairdun.compliance.events import ContactEvent, Facts, FieldError, parse_record, parse_timestamp
from fairdun.compliance.packs import (
    GOLDEN_DIR,
    Pack,
    PackError,
    Problem,
    _schema_problems,
    read_yaml_data,
)

_UNSET: Any = object()


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Expect(_Closed):
    allowed: StrictBool
    rules: list[StrictStr] = Field(default_factory=list)
    earliest_lawful_at: StrictStr | None = _UNSET


class _Case(_Closed):
    name: Annotated[StrictStr, Field(min_length=1)]
    # An item may itself be a list (a YAML alias of another case's history): it is spliced.
    history: list[dict[str, Any] | list[dict[str, Any]]] = Field(default_factory=list)
    propose: dict[str, Any]
    facts: dict[str, StrictBool] = Field(default_factory=dict)
    now: StrictStr | None = None
    expect: _Expect


class _GoldenFile(_Closed):
    pack: StrictStr
    defaults: dict[str, Any] = Field(default_factory=dict)
    cases: Annotated[list[_Case], Field(min_length=1)]


@dataclass(frozen=True, slots=True)
class GoldenCase:
    name: str
    history: tuple[ContactEvent, ...]
    proposed: ContactEvent
    facts: Facts
    now: datetime | None
    allowed: bool
    rules: frozenset[str]
    earliest_lawful_at: datetime | None
    check_earliest: bool
    line: int | None


def golden_path(pack_id: str) -> Path:
    return GOLDEN_DIR / f"{pack_id}.yaml"


def load_cases(path: Path) -> tuple[str, list[GoldenCase]]:
    """The pack id and cases of a golden file; raises PackError naming file and line."""
    data, doc = read_yaml_data(path)
    try:
        spec = _GoldenFile.model_validate(data)
    except ValidationError as exc:
        raise PackError(_schema_problems(doc, exc)) from None
    problems: list[Problem] = []
    cases: list[GoldenCase] = []
    fact_names = set(Facts.__dataclass_fields__)
    for index, case in enumerate(spec.cases):
        base: tuple[str | int, ...] = ("cases", index)
        label = f"case {case.name!r}"

        def event(
            values: dict[str, Any],
            path: tuple[str | int, ...],
            default_id: str,
            label: str = label,
        ) -> ContactEvent | None:
            merged = {"event_id": default_id, "kind": "contact", **spec.defaults, **values}
            merged = {k: v for k, v in merged.items() if v is not None}
            try:
                return parse_record(merged)
            except FieldError as exc:
                column = exc.column or ""
                where = (*path, column) if column in values else path
                problems.append(doc.problem(where, exc.reason, f"{label}: {column}"))
                return None

        flat: list[tuple[tuple[str | int, ...], dict[str, Any]]] = []
        for i, item in enumerate(case.history):
            for values in item if isinstance(item, list) else [item]:
                flat.append(((*base, "history", i), values))
        history = [event(values, at, f"h{n + 1}") for n, (at, values) in enumerate(flat)]
        proposed = event(case.propose, (*base, "propose"), "proposed")
        unknown = set(case.facts) - fact_names
        if unknown:
            problems.append(
                doc.problem((*base, "facts"), f"unknown fact(s) {sorted(unknown)}", label)
            )
        try:
            now = parse_timestamp(case.now, "now") if case.now else None
            expected = case.expect.earliest_lawful_at
            earliest = (
                parse_timestamp(expected, "earliest_lawful_at")
                if isinstance(expected, str)
                else None
            )
        except FieldError as exc:
            problems.append(doc.problem(base, exc.reason, f"{label}: {exc.column}"))
            continue
        if proposed is None or any(e is None for e in history) or unknown:
            continue
        cases.append(
            GoldenCase(
                name=case.name,
                history=tuple(e for e in history if e is not None),
                proposed=proposed,
                facts=Facts(**case.facts),
                now=now,
                allowed=case.expect.allowed,
                rules=frozenset(case.expect.rules),
                earliest_lawful_at=earliest,
                check_earliest=case.expect.earliest_lawful_at is not _UNSET,
                line=doc.position(base)[0],
            )
        )
    if problems:
        raise PackError(problems)
    return spec.pack, cases


def run_case(case: GoldenCase, pack: Pack) -> list[str]:
    """What differs between the case's expectation and the engine (empty: it passes)."""
    decision = evaluate(
        case.proposed, History.from_events(pack, case.history), pack, case.facts, now=case.now
    )
    found: list[str] = []
    if decision.allowed != case.allowed:
        found.append(f"expected allowed={case.allowed}, got allowed={decision.allowed}")
    if set(decision.rules) != case.rules:
        found.append(
            f"expected rules {sorted(case.rules)}, got {sorted(decision.rules)}: "
            + "; ".join(v.message for v in decision.violations)
        )
    if case.check_earliest and decision.earliest_lawful_at != case.earliest_lawful_at:
        shown = decision.earliest_lawful_at.isoformat() if decision.earliest_lawful_at else None
        wanted = case.earliest_lawful_at.isoformat() if case.earliest_lawful_at else None
        found.append(f"expected earliest_lawful_at {wanted}, got {shown}")
    return found
