"""Reports of an audit replay: text, JSON, CSV and a one-page HTML report.

The text, JSON and CSV writers stream: each violation is written as it is found, so a
report of any size needs no memory. JSON is one object with the keys ``pack``,
``pack_version``, ``violations`` (streamed) and ``events`` (written last, once known)::

    {"pack": "us-regf", "pack_version": "2026.1",
     "violations": [{"event_id": "e7", "occurred_at": "...", "debt_id": "d1",
                     "rule": "us-regf.call-7in7", "message": "...", "message_zh": "..."}],
     "events": 1000}

The HTML report is a single self-contained page (inline CSS, no scripts, every value
escaped by Jinja2) that a compliance officer can send: a summary, the violations by
rule with the rule's title and citations, and a timeline per debt with violations. It
keeps at most ``max_listed`` violations and ``max_debts`` timelines; the counts are
always complete and the page says when a list was cut.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from jinja2 import Environment, FileSystemLoader, select_autoescape

from fairdun.compliance.engine import Decision
from fairdun.compliance.events import ContactEvent
from fairdun.compliance.packs import Pack
from fairdun.compliance.replay import AuditResult

TEMPLATES = Path(__file__).parent / "templates"
VIOLATION_FIELDS = (
    "event_id",
    "occurred_at",
    "debt_id",
    "person_id",
    "rule",
    "message",
    "message_zh",
)


def _rows(event: ContactEvent, decision: Decision) -> list[dict[str, str]]:
    return [
        {
            "event_id": event.event_id,
            "occurred_at": event.occurred_at.isoformat(),
            "debt_id": event.debt_id,
            "person_id": event.person_id,
            "rule": v.rule,
            "message": v.message,
            "message_zh": v.message_zh,
        }
        for v in decision.violations
    ]


class TextWriter:
    """One line per violation: event, time, debt, rule, reason; then a summary line."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def add(self, event: ContactEvent, decision: Decision) -> None:
        for row in _rows(event, decision):
            self.out.write(
                f"{row['event_id']}\t{row['occurred_at']}\tdebt {row['debt_id']}\t"
                f"{row['rule']}\t{row['message']}\n"
            )

    def finish(self, result: AuditResult) -> None:
        self.out.write(
            f"{result.events} events replayed through {result.pack_id} {result.pack_version}: "
            f"{result.violations} violations in {result.denied_events} events\n"
        )


class JsonWriter:
    def __init__(self, out: IO[str], pack: Pack) -> None:
        self.out = out
        self.first = True
        out.write(
            "{"
            f'"pack": {json.dumps(pack.id)}, '
            f'"pack_version": {json.dumps(pack.effective_version)}, '
            '"violations": ['
        )

    def add(self, event: ContactEvent, decision: Decision) -> None:
        for row in _rows(event, decision):
            self.out.write(
                ("\n  " if self.first else ",\n  ") + json.dumps(row, ensure_ascii=False)
            )
            self.first = False

    def finish(self, result: AuditResult) -> None:
        self.out.write(f'{"" if self.first else chr(10)}], "events": {result.events}}}\n')


class CsvWriter:
    def __init__(self, out: IO[str]) -> None:
        self.writer = csv.DictWriter(out, fieldnames=VIOLATION_FIELDS, lineterminator="\n")
        self.writer.writeheader()

    def add(self, event: ContactEvent, decision: Decision) -> None:
        self.writer.writerows(_rows(event, decision))

    def finish(self, result: AuditResult) -> None:
        return None


@dataclass(frozen=True, slots=True)
class _Listed:
    event: ContactEvent
    decision: Decision


class HtmlReport:
    """Collects what the page shows; :meth:`render` writes it once the replay is done."""

    def __init__(self, pack: Pack, log_name: str, max_listed: int = 5000, max_debts: int = 200):
        self.pack = pack
        self.log_name = log_name
        self.max_listed = max_listed
        self.max_debts = max_debts
        self.listed: list[_Listed] = []
        self.debts: dict[str, int] = {}

    def add(self, event: ContactEvent, decision: Decision) -> None:
        if len(self.listed) < self.max_listed:
            self.listed.append(_Listed(event, decision))
        if event.debt_id in self.debts or len(self.debts) < self.max_debts:
            self.debts[event.debt_id] = self.debts.get(event.debt_id, 0) + 1

    def render(
        self,
        result: AuditResult,
        timelines: dict[str, list[ContactEvent]],
        per_debt: int,
        generated_at: datetime,
    ) -> str:
        env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        by_rule: dict[str, list[_Listed]] = defaultdict(list)
        verdicts: dict[str, Decision] = {}
        for item in self.listed:
            for violation in item.decision.violations:
                by_rule[violation.rule].append(item)
            verdicts[item.event.event_id] = item.decision
        rules = []
        for rule in self.pack.rules:
            count = result.by_rule.get(rule.id, 0)
            rules.append({"rule": rule, "count": count, "listed": by_rule.get(rule.id, [])})
        others = sorted(set(result.by_rule) - {r.id for r in self.pack.rules})
        template = env.get_template("audit_report.html")
        return template.render(
            pack=self.pack,
            log_name=self.log_name,
            result=result,
            rules=rules,
            others=[(rule, result.by_rule[rule], by_rule.get(rule, [])) for rule in others],
            listed_total=len(self.listed),
            max_listed=self.max_listed,
            timelines=timelines,
            debts_with_violations=self.debts,
            max_debts=self.max_debts,
            per_debt=per_debt,
            verdicts=verdicts,
            generated_at=generated_at,
        )
