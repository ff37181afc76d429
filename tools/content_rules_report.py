"""Precision, recall and speed of the content checker's RULE layer on labelled splits.

Usage::

    .venv/bin/python tools/content_rules_report.py --split train,heldout [--lang zh,en] \
        [--misses] [--category threat] [--speed]
    .venv/bin/python tools/content_rules_report.py corpus/content/zh.train.jsonl [...]

``--split`` names splits of ``corpus/content`` (``train``, ``heldout``, ``test``); each is
read for every language of ``--lang``. Files may also be given by path. The ``test`` split
has been measured once and is development data now; the blind split that replaces it
(``*.test2*``) is refused: it is the final measure and must not be used for tuning.

Each line of a split is ``{"id", "text", "lang", "recipient_role", "channel",
"jurisdiction", "facts"?, "labels": [category, ...], "kind"}``. A message counts as a hit
for a category when the rule layer reports at least one finding of that category.
Reported per split and language, and for all languages together: per category precision /
recall / F1 (message level), macro-F1 over the twelve violation categories (a category
with no label and no finding counts as F1 1.0; ``missing-element`` is shown apart), and
the false-alarm rate on lawful messages (no labels: compliant and hard negatives), the
share with any finding. ``--misses`` lists every missed label and every false finding
(``--category`` narrows it to one category). ``--speed`` measures the rule layer's rate
on the texts read (one core, lexicons and jieba loaded first).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from fairdun.content.rules import check_rules, warm_up
from fairdun.content.types import CATEGORIES, MISSING_ELEMENT, Context, Facts

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "content"
SPLITS = ("train", "heldout", "test")

_FACT_FIELDS = {
    "legal_action_intended",
    "time_barred",
    "judgment_obtained",
    "allowed_fees",
    "institution_name",
    "first_contact",
}

Row = dict[str, object]


def context(row: Row) -> Context:
    raw = row.get("facts") or {}
    assert isinstance(raw, dict)
    facts = {k: v for k, v in raw.items() if k in _FACT_FIELDS}
    if "allowed_fees" in facts:
        facts["allowed_fees"] = tuple(facts["allowed_fees"])
    return Context(
        lang=str(row["lang"]),
        recipient_role=str(row.get("recipient_role", "debtor")),
        channel=str(row.get("channel", "sms")),
        jurisdiction=str(row.get("jurisdiction", "cn" if row["lang"] == "zh" else "us")),
        facts=Facts(**facts),
    )


def _refuse_blind(path: Path) -> None:
    if ".test2" in path.name:
        sys.exit(f"{path}: refusing to read the blind test2 split")


def read(paths: list[Path]) -> list[Row]:
    rows: list[Row] = []
    for path in paths:
        _refuse_blind(path)
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


class Score:
    """Message-level counts per category and the false alarms on lawful messages."""

    def __init__(self) -> None:
        self.tp: Counter[str] = Counter()
        self.fp: Counter[str] = Counter()
        self.fn: Counter[str] = Counter()
        self.lawful = 0
        self.alarms = 0
        self.messages = 0

    def add(self, labels: set[str], got: set[str]) -> None:
        self.messages += 1
        for category in (*CATEGORIES, MISSING_ELEMENT):
            if category in got and category in labels:
                self.tp[category] += 1
            elif category in got:
                self.fp[category] += 1
            elif category in labels:
                self.fn[category] += 1
        if not labels:
            self.lawful += 1
            self.alarms += bool(got)

    def prf(self, category: str) -> tuple[float, float, float]:
        t, p, n = self.tp[category], self.fp[category], self.fn[category]
        if t + p + n == 0:
            return 1.0, 1.0, 1.0
        precision = t / (t + p) if t + p else 0.0
        recall = t / (t + n) if t + n else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1

    def macro_f1(self) -> float:
        return sum(self.prf(c)[2] for c in CATEGORIES) / len(CATEGORIES)

    def false_alarm_rate(self) -> float:
        return self.alarms / self.lawful if self.lawful else 0.0

    def print(self, title: str, detail: bool = True) -> None:
        print(f"\n{title}: {self.messages} messages")
        if detail:
            print(f"  {'category':24} {'P':>6} {'R':>6} {'F1':>6}   tp  fp  fn")
            for category in (*CATEGORIES, MISSING_ELEMENT):
                t, p, n = self.tp[category], self.fp[category], self.fn[category]
                precision, recall, f1 = self.prf(category)
                print(f"  {category:24} {precision:6.3f} {recall:6.3f} {f1:6.3f} {t:4} {p:3} {n:3}")
        print(f"  macro-F1 (12 categories) {self.macro_f1():.3f}")
        print(
            f"  false alarms on lawful messages: {self.alarms}/{self.lawful} "
            f"({self.false_alarm_rate():.1%})"
        )


def _split_paths(splits: list[str], langs: list[str]) -> list[tuple[str, Path]]:
    out = []
    for split in splits:
        if split not in SPLITS:
            sys.exit(f"unknown split {split!r}; known: {', '.join(SPLITS)} (test2 is blind)")
        for lang in langs:
            out.append((split, CORPUS / f"{lang}.{split}.jsonl"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="split files (instead of --split)")
    parser.add_argument("--split", default="", help="comma-separated: train,heldout,test")
    parser.add_argument("--lang", default="zh,en", help="comma-separated: zh,en")
    parser.add_argument("--misses", action="store_true")
    parser.add_argument("--category", default="", help="with --misses: only this category")
    parser.add_argument("--speed", action="store_true")
    args = parser.parse_args(argv)
    langs = [x for x in args.lang.split(",") if x]
    sources = _split_paths([x for x in args.split.split(",") if x], langs)
    sources += [(path.stem.split(".")[-1], path) for path in args.paths]
    if not sources:
        parser.error("give --split or split files")
    warm_up()
    total = Score()
    every: list[Row] = []
    for split in dict.fromkeys(name for name, _ in sources):
        rows = read([path for name, path in sources if name == split])
        every.extend(rows)
        split_score = Score()
        for lang in sorted({str(r["lang"]) for r in rows}):
            score = Score()
            for row in (r for r in rows if r["lang"] == lang):
                text = str(row["text"])
                labels = set(row["labels"])  # type: ignore[call-overload]
                findings = check_rules(text, context(row))
                got = {f.category for f in findings}
                for each in (score, split_score, total):
                    each.add(labels, got)
                wanted = args.category
                if (
                    args.misses
                    and got != labels
                    and (not wanted or (wanted in got) != (wanted in labels))
                ):
                    shown = [(f.category, f.span, f.rule) for f in findings]
                    print(f"  {row['id']} labels={sorted(labels)} got={shown}\n    {text}")
            score.print(f"{split} {lang}")
        if len(langs) > 1:
            split_score.print(f"{split} all languages", detail=False)
    if len(sources) > len(langs):
        total.print("all splits, all languages", detail=False)
    if args.speed:
        for lang in sorted({str(r["lang"]) for r in every}):
            texts = [(str(r["text"]), context(r)) for r in every if r["lang"] == lang]
            rounds = max(1, 20000 // max(1, len(texts)))
            started = time.perf_counter()
            for _ in range(rounds):
                for text, ctx in texts:
                    check_rules(text, ctx)
            elapsed = time.perf_counter() - started
            count = rounds * len(texts)
            mean = sum(len(t) for t, _ in texts) / len(texts)
            print(
                f"speed {lang}: {count / elapsed:,.0f} messages/s "
                f"({count} checks, mean {mean:.0f} chars)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
