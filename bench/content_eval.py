"""Evaluation of the message content checker (issue 5), one command:

    .venv/bin/python bench/content_eval.py [--corpus corpus/content] \\
        [--cold ../shared/data/cold] [--cfpb ../shared/data/cfpb-debt-collection] \\
        [--out bench/results]

1. **Corpus splits**, all messages and each language, for three set-ups: the rules only
   (``checker.check(model=False)``), the model only (``model.model_findings`` with no rule
   findings) and both (``checker.check``, what every caller gets). The splits, each named
   for what it is:

   * ``test`` (``corpus/content/*.test.jsonl``): the **blind** split, written after the
     development was done and never opened while tuning the rules or the model. Its
     figures are the headline and the only ones the targets are judged on. When its files
     do not exist yet, the section is skipped with a note.
   * ``heldout`` (``*.heldout.jsonl``): the **dev** split. It was held out for the first
     evaluation, then looked at: the rules were tuned with it in view and the shipped
     model is trained on train + heldout (the manifest's ``training_data.splits``). Its
     figures are a development check, **not a blind measure**.
   * ``train``: no scoring of the checker here (the rules were written on it and the model
     fitted to it); the model's out-of-fold cross-validation figures on its training
     splits are copied from the model manifest.

   Message level: the set of categories found against the labelled set. Per category
   precision, recall and F1; macro-F1 over the twelve categories (a category with neither
   a label nor a finding in a subset has no F1 and is left out of that subset's mean; the
   count is shown); ``missing-element`` on its own. Two message-level figures about false
   alarms, both reported:

   * **flag precision**: of the messages with at least one finding, the share that truly
     violate (carry at least one label, ``missing-element`` included). This is the
     definition the target "precision ≥ 0.95 on compliant messages (a false alarm blocks
     a lawful reminder)" is judged with: a flag that is wrong is a lawful message blocked.
   * **compliant precision / recall**: "no finding at all" as the prediction of
     "compliant" (no label): precision = of the messages passed clean, the share that are
     compliant; recall = of the compliant messages, the share passed clean; the
     false-alarm rate is 1 - that recall.

   Every message whose found set differs from its labels is listed in the report.
2. **COLD test set** (``test.csv``, ``label`` 1 = offensive), out of domain: is ``insult``
   found? Accuracy and macro-F1 (both classes) for the rules only and for both layers,
   beside the published figures (COLD paper's fine-tuned detector, accuracy 0.81; a
   character n-gram TF-IDF + logistic regression, about 0.80 accuracy / 0.795 macro-F1,
   as the data README states), with recall per fine-grained class.
3. **CFPB debt-collection narratives** (rows with a narrative): the share with at least
   one finding (``missing-element`` left out: a narrative is not a collector's message)
   and with a matching finding, for three issues against all other issues as a baseline.
   The map (FDCPA section behind each issue):

   * "Threatened to contact someone or share information improperly" (1692b, 1692c(b))
     -> third-party-disclosure, expose;
   * "Communication tactics" (harassment, 1692d) -> threat, insult, expose, pretext;
   * "False statements or representation" (1692e) -> false-legal, impersonation,
     unlawful-amount, pretext, collective-liability.

   The narratives are the consumer's own account, not the collector's words, so these
   rates are not precision or recall.

A data set whose path is missing is skipped with a note. Writes
``content-eval.json`` and ``content-eval.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from fairdun.content import checker
from fairdun.content.model import ARTEFACT_DIR, MANIFEST_NAME, load_model, model_findings
from fairdun.content.types import (
    CATEGORIES,
    MAX_CHARS,
    MISSING_ELEMENT,
    ContentInputError,
    Context,
    Finding,
)

ROOT = Path(__file__).resolve().parent.parent
SETUPS = ("rules", "model", "combined")
TARGET_MACRO_F1 = 0.90
TARGET_FLAG_PRECISION = 0.95
COLD_PUBLISHED = {
    "COLD paper, fine-tuned detector (Deng et al. 2022)": {"accuracy": 0.81, "macro_f1": None},
    "char n-gram TF-IDF + logistic regression (data README)": {
        "accuracy": 0.80,
        "macro_f1": 0.795,
    },
}
CFPB_MAP: dict[str, tuple[str, ...]] = {
    "Threatened to contact someone or share information improperly": (
        "third-party-disclosure",
        "expose",
    ),
    "Communication tactics": ("threat", "insult", "expose", "pretext"),
    "False statements or representation": (
        "false-legal",
        "impersonation",
        "unlawful-amount",
        "pretext",
        "collective-liability",
    ),
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


Checker = Callable[[str, Context], list[Finding]]


def setups() -> dict[str, Checker]:
    model = load_model()

    def rules(text: str, ctx: Context) -> list[Finding]:
        return checker.check(text, ctx, model=False)

    def model_only(text: str, ctx: Context) -> list[Finding]:
        return model_findings(checker.validate_text(text), ctx, [], model)

    def combined(text: str, ctx: Context) -> list[Finding]:
        return checker.check(text, ctx, model=True)

    return {"rules": rules, "model": model_only, "combined": combined}


# --------------------------------------------------------------------------- metrics


def prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f1 = None if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
    return {
        "support": tp + fn,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": _r(p),
        "recall": _r(r),
        "f1": _r(f1),
    }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def score(expected: Sequence[set[str]], got: Sequence[set[str]]) -> dict[str, Any]:
    cats: dict[str, Any] = {}
    for cat in (*CATEGORIES, MISSING_ELEMENT):
        tp = sum(1 for e, g in zip(expected, got, strict=True) if cat in e and cat in g)
        fp = sum(1 for e, g in zip(expected, got, strict=True) if cat not in e and cat in g)
        fn = sum(1 for e, g in zip(expected, got, strict=True) if cat in e and cat not in g)
        cats[cat] = prf(tp, fp, fn)
    f1s = [cats[c]["f1"] for c in CATEGORIES if cats[c]["f1"] is not None]
    compliant = [not e for e in expected]
    clean = [not g for g in got]
    tp = sum(1 for c, k in zip(compliant, clean, strict=True) if c and k)
    fp = sum(1 for c, k in zip(compliant, clean, strict=True) if not c and k)
    fn = sum(1 for c, k in zip(compliant, clean, strict=True) if c and not k)
    n_compliant = sum(compliant)
    flagged = [bool(g) for g in got]
    n_flagged = sum(flagged)
    true_flags = sum(1 for e, g in zip(expected, flagged, strict=True) if g and e)
    return {
        "messages": len(expected),
        "macro_f1": _r(sum(f1s) / len(f1s)) if f1s else None,
        "macro_f1_categories": len(f1s),
        "exact_match": _r(
            sum(1 for e, g in zip(expected, got, strict=True) if e == g) / max(len(expected), 1)
        ),
        "categories": cats,
        "compliant": {
            **prf(tp, fp, fn),
            "messages": n_compliant,
            "false_alarms": fn,
            "false_alarm_rate": _r(fn / n_compliant) if n_compliant else None,
        },
        "flag_precision": {
            "flagged": n_flagged,
            "violating": true_flags,
            "false_flags": n_flagged - true_flags,
            "precision": _r(true_flags / n_flagged) if n_flagged else None,
        },
    }


# --------------------------------------------------------------------------- held-out


SPLIT_LABELS = {
    "test2": "test2 (blind: written after the second round of tuning, never seen during "
    "development)",
    "test": "test (blind for the first measurement, kept in content-eval-round1.md; tuned on "
    "in the second round, so no longer a blind measure)",
    "heldout": "dev (seen during development; not a blind measure)",
}
EVAL_SPLITS = ("test2", "test", "heldout")


class SplitError(ValueError):
    """A split file that cannot be read as corpus lines."""


def split_files(corpus: Path, split: str) -> list[Path]:
    return sorted(corpus.glob(f"*.{split}.jsonl"))


def read_split(corpus: Path, split: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in split_files(corpus, split):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or "text" not in row or "id" not in row:
                    raise ValueError("no id or text")
            except ValueError as exc:
                raise SplitError(f"{path.name}:{n}: not a corpus line ({exc})") from None
            rows.append(row)
    return rows


def context_of(row: dict[str, Any]) -> Context:
    return checker.make_context(
        lang=row.get("lang"),
        recipient_role=row.get("recipient_role", "debtor"),
        channel=row.get("channel", "sms"),
        jurisdiction=row.get("jurisdiction", "cn"),
        facts=row.get("facts") or {},
        text=row["text"],
    )


def describe(f: Finding) -> str:
    return f"{f.category} [{f.rule}] «{f.span}»" if f.span else f"{f.category} [{f.rule}]"


def evaluate_split(corpus: Path, split: str, runs: dict[str, Checker]) -> dict[str, Any]:
    """Every set-up on one split of the corpus (``skipped`` when it has no files)."""
    import hashlib

    files = split_files(corpus, split)
    if not files:
        return {
            "split": split,
            "label": SPLIT_LABELS.get(split, split),
            "skipped": f"no *.{split}.jsonl files in {corpus} (not written yet)",
        }
    try:
        rows = read_split(corpus, split)
    except SplitError as exc:
        return {"split": split, "label": SPLIT_LABELS.get(split, split), "skipped": str(exc)}
    if not rows:
        return {"split": split, "label": SPLIT_LABELS.get(split, split), "skipped": "empty"}
    log(f"{split}: {len(rows)} messages from {corpus}")
    found: dict[str, list[list[Finding]]] = {s: [] for s in runs}
    errors: list[dict[str, str]] = []
    for row in rows:
        try:
            ctx = context_of(row)
        except ContentInputError as exc:
            errors.append({"id": row["id"], "error": str(exc)})
            ctx = Context(lang=row.get("lang", "zh"))
        for name, run in runs.items():
            try:
                found[name].append(run(row["text"], ctx))
            except ContentInputError as exc:
                errors.append({"id": row["id"], "setup": name, "error": str(exc)})
                found[name].append([])
    expected = [set(r.get("labels") or ()) for r in rows]
    result: dict[str, Any] = {
        "split": split,
        "label": SPLIT_LABELS.get(split, split),
        "files": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
        "messages": len(rows),
        "errors": errors,
        "scores": {},
        "misses": {},
    }
    for name in runs:
        got = [{f.category for f in fs} for fs in found[name]]
        result["scores"][name] = {}
        for subset in ("all", "zh", "en"):
            idx = [i for i, r in enumerate(rows) if subset in ("all", r.get("lang"))]
            if idx:
                result["scores"][name][subset] = score(
                    [expected[i] for i in idx], [got[i] for i in idx]
                )
        misses = []
        for i, row in enumerate(rows):
            if got[i] != expected[i]:
                misses.append(
                    {
                        "id": row["id"],
                        "kind": row.get("kind", ""),
                        "text": row["text"],
                        "expected": sorted(expected[i]),
                        "got": sorted(got[i]),
                        "false_negatives": sorted(expected[i] - got[i]),
                        "false_positives": sorted(got[i] - expected[i]),
                        "findings": [describe(f) for f in found[name][i]],
                    }
                )
        result["misses"][name] = misses
    return result


# --------------------------------------------------------------------------- COLD


def binary_scores(y: Sequence[int], p: Sequence[int]) -> dict[str, Any]:
    n = len(y)
    acc = sum(1 for a, b in zip(y, p, strict=True) if a == b) / n
    f1s = []
    per: dict[str, Any] = {}
    for cls in (1, 0):
        tp = sum(1 for a, b in zip(y, p, strict=True) if a == cls and b == cls)
        fp = sum(1 for a, b in zip(y, p, strict=True) if a != cls and b == cls)
        fn = sum(1 for a, b in zip(y, p, strict=True) if a == cls and b != cls)
        m = prf(tp, fp, fn)
        per["offensive" if cls else "safe"] = m
        f1s.append(m["f1"] or 0.0)
    return {"accuracy": _r(acc), "macro_f1": _r(sum(f1s) / 2), "classes": per}


def cold(cold_dir: Path | None, runs: dict[str, Checker]) -> dict[str, Any]:
    if cold_dir is None:
        return {"skipped": "no --cold path given"}
    path = cold_dir / "test.csv" if cold_dir.is_dir() else cold_dir
    if not path.is_file():
        return {"skipped": f"COLD test set not found at {path}"}
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.DictReader(f) if (r.get("TEXT") or "").strip()]
    log(f"COLD: {len(rows)} test texts from {path}")
    ctx = checker.make_context(lang="zh", recipient_role="debtor", channel="im", jurisdiction="cn")
    y = [int(r["label"]) for r in rows]
    fine = [r.get("fine-grained-label", "") for r in rows]
    out: dict[str, Any] = {"file": str(path), "texts": len(rows), "published": COLD_PUBLISHED}
    names = {
        0: "safe",
        1: "offensive, attacks an individual",
        2: "offensive, attacks a group",
        3: "anti-bias (safe)",
    }
    for name in ("rules", "combined", "model"):
        run = runs[name]
        pred: list[int] = []
        errors = 0
        started = time.perf_counter()
        for r in rows:
            try:
                cats = {fd.category for fd in run(r["TEXT"], ctx)}
            except ContentInputError:
                errors += 1
                cats = set()
            pred.append(int("insult" in cats))
        m = binary_scores(y, pred)
        m["errors"] = errors
        m["seconds"] = round(time.perf_counter() - started, 2)
        m["flagged_by_fine_label"] = {
            names.get(int(k), k): {
                "texts": sum(1 for g in fine if g == k),
                "flagged": sum(1 for g, p in zip(fine, pred, strict=True) if g == k and p),
            }
            for k in sorted(set(fine))
            if k != ""
        }
        out[name] = m
    return out


# --------------------------------------------------------------------------- CFPB


def cfpb(cfpb_dir: Path | None, runs: dict[str, Checker]) -> dict[str, Any]:
    if cfpb_dir is None:
        return {"skipped": "no --cfpb path given"}
    path = cfpb_dir / "complaints_debt_collection.csv" if cfpb_dir.is_dir() else cfpb_dir
    if not path.is_file():
        return {"skipped": f"CFPB file not found at {path}"}
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = [
            r for r in csv.DictReader(f) if (r.get("Consumer complaint narrative") or "").strip()
        ]
    log(f"CFPB: {len(rows)} narratives from {path}")
    ctx = checker.make_context(
        lang="en", recipient_role="debtor", channel="letter", jurisdiction="us"
    )
    truncated = sum(1 for r in rows if len(r["Consumer complaint narrative"]) > MAX_CHARS)
    out: dict[str, Any] = {
        "file": str(path),
        "narratives": len(rows),
        "truncated_to_max_chars": truncated,
        "map": {k: list(v) for k, v in CFPB_MAP.items()},
        "issues": dict(Counter(r["Issue"] for r in rows).most_common()),
    }
    for name in ("rules", "combined"):
        run = runs[name]
        cats_per_row: list[set[str]] = []
        for r in rows:
            text = r["Consumer complaint narrative"][:MAX_CHARS]
            try:
                cats = {f.category for f in run(text, ctx)} - {MISSING_ELEMENT}
            except ContentInputError:
                cats = set()
            cats_per_row.append(cats)
        groups: dict[str, Any] = {}
        for issue, wanted in CFPB_MAP.items():
            idx = [i for i, r in enumerate(rows) if r["Issue"] == issue]
            other = [i for i, r in enumerate(rows) if r["Issue"] not in CFPB_MAP]
            groups[issue] = {
                "narratives": len(idx),
                "any_finding": _share(cats_per_row, idx, None),
                "matching_finding": _share(cats_per_row, idx, set(wanted)),
                "baseline_other_issues": {
                    "narratives": len(other),
                    "any_finding": _share(cats_per_row, other, None),
                    "matching_finding": _share(cats_per_row, other, set(wanted)),
                },
                "categories_found": dict(
                    Counter(c for i in idx for c in sorted(cats_per_row[i])).most_common()
                ),
            }
        out[name] = groups
    return out


def _share(cats: list[set[str]], idx: list[int], wanted: set[str] | None) -> dict[str, Any]:
    hits = sum(1 for i in idx if (cats[i] & wanted if wanted is not None else cats[i]))
    return {"count": hits, "share": _r(hits / len(idx)) if idx else None}


# --------------------------------------------------------------------------- report


def fmt(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.3f}"
    return str(x)


def split_markdown(h: dict[str, Any], number: int, trained_on: Sequence[str]) -> list[str]:
    """The report section of one corpus split."""
    split = h["split"]
    lines = [f"## {number}. Split `{split}`: {h['label']}", ""]
    if "skipped" in h:
        return [*lines, f"Skipped: {h['skipped']}", ""]
    files = ", ".join(f"`{n}` `{d[:12]}…`" for n, d in h["files"].items())
    lines += [f"Files: {files}.", ""]
    if split in trained_on:
        lines += [
            f"**The shipped model was trained on this split** (training splits: "
            f"{', '.join(trained_on)}), so the `model` and `combined` rows below are "
            "in-sample figures, not an estimate of anything; the rules were also tuned with "
            "this split in view. Use the blind `test` split and the model's cross-validation "
            "figures instead.",
            "",
        ]
    lines += [
        f"{h['messages']} messages. Targets (issue 5, judged on the newest blind split only): "
        f"macro-F1 ≥ {TARGET_MACRO_F1}; flag precision ≥ {TARGET_FLAG_PRECISION}.",
        "",
        "| set-up | subset | messages | macro-F1 (12 cat.) | missing-element F1 | "
        "flag precision | compliant precision | compliant recall | false-alarm rate | "
        "exact match |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for setup, subsets in h["scores"].items():
        for subset, s in subsets.items():
            c = s["compliant"]
            fp = s["flag_precision"]
            me = s["categories"][MISSING_ELEMENT]
            lines.append(
                f"| {setup} | {subset} | {s['messages']} | {fmt(s['macro_f1'])} "
                f"({s['macro_f1_categories']}) | {fmt(me['f1'])} | {fmt(fp['precision'])} "
                f"({fp['violating']}/{fp['flagged']}) | {fmt(c['precision'])} | "
                f"{fmt(c['recall'])} | {fmt(c['false_alarm_rate'])} "
                f"({c['false_alarms']}/{c['messages']}) | {fmt(s['exact_match'])} |"
            )
    lines += [
        "",
        "Macro-F1 in brackets: the number of categories with a label or a finding in that "
        'subset (the mean is over those). "Compliant" = no label at all. **Flag precision** '
        "(the figure the target is judged with): of the messages with at least one finding "
        "(missing-element included), the share that carry at least one label (a violation "
        "or a missing element); in brackets, truly violating / flagged. **Compliant "
        'precision / recall**: "no finding at all" as the prediction of "compliant": '
        "precision = of the messages passed clean, the share with no label; recall = of the "
        "compliant messages, the share passed clean; false-alarm rate = compliant messages "
        "with a finding / compliant messages. The model never reports missing-element (the "
        "rules check required elements), so its own compliant precision counts messages "
        "missing only an element as wrongly passed.",
        "",
        "Per category, all languages (precision / recall / F1, support):",
        "",
    ]
    lines += ["| category | " + " | ".join(SETUPS) + " |", "|---|---|---|---|"]
    for cat in (*CATEGORIES, MISSING_ELEMENT):
        cells = []
        for setup in SETUPS:
            m = h["scores"][setup]["all"]["categories"][cat]
            cells.append(
                f"{fmt(m['precision'])} / {fmt(m['recall'])} / {fmt(m['f1'])} ({m['support']})"
            )
        lines.append(f"| {cat} | " + " | ".join(cells) + " |")
    for setup in ("combined", "rules", "model"):
        misses = h["misses"][setup]
        lines += ["", f"### Misses on `{split}`, {setup} ({len(misses)} messages)", ""]
        if setup != "combined":
            lines += [f"Listed in full in the JSON (`splits.{split}.misses.{setup}`).", ""]
            continue
        lines += [
            "| id | kind | text | expected | got | findings |",
            "|---|---|---|---|---|---|",
        ]
        for m in misses:
            text = m["text"].replace("|", "\\|").replace("\n", " ")
            finds = "; ".join(m["findings"]).replace("|", "\\|").replace("\n", " ")
            lines.append(
                f"| {m['id']} | {m['kind']} | {text} | {', '.join(m['expected']) or '—'} | "
                f"{', '.join(m['got']) or '—'} | {finds} |"
            )
    if h["errors"]:
        lines += ["", f"Input errors: {len(h['errors'])} (see the JSON)."]
    lines.append("")
    return lines


def train_cv_markdown(cv: dict[str, Any], number: int) -> list[str]:
    """The model's out-of-fold figures on its training splits (from the manifest)."""
    lines = [f"## {number}. Model cross-validation on its training splits (out of fold)", ""]
    if not cv.get("cv"):
        return [*lines, "The model manifest records no cross-validation figures.", ""]
    data = cv.get("training_data", {})
    lines += [
        f"From the model manifest: {cv.get('folds', '?')}-fold cross-validation on the "
        f"splits {', '.join(data.get('splits', ['train']))} (folds grouped by text, so a "
        "text written twice with other facts stays on one side), the model layer alone, "
        "thresholds chosen on these same out-of-fold probabilities (so the F1 is slightly "
        "optimistic; average precision does not depend on them; the cross-fitted column "
        "chooses each fold's cuts on the other folds only). Flag precision: of the "
        "messages the model flags, the share with a violation label (missing-element, which "
        "the model never reports, left out).",
        "",
        "| lang | macro-F1 (12 cat.) | macro-F1, cuts cross-fitted | mean average precision "
        "| flag precision | false alarms on compliant | violations flagged |",
        "|---|---|---|---|---|---|---|",
    ]
    for lang, c in cv["cv"].items():
        fp = c.get("flag_precision", {})
        crossfit = c.get("thresholds_crossfit", {})
        lines.append(
            f"| {lang} | {fmt(c.get('macro_f1_all', c.get('macro_f1_enabled')))} | "
            f"{fmt(crossfit.get('macro_f1'))} ({crossfit.get('false_alarms', '?')} false "
            f"alarms, flag precision {fmt(crossfit.get('flag_precision'))}) | "
            f"{fmt(c.get('mean_average_precision'))} | {fmt(fp.get('precision'))} | "
            f"{c['compliant']['false_alarms']}/{c['compliant']['messages']} | "
            f"{c['violations_flagged']['flagged']}/{c['violations_flagged']['messages']} |"
        )
    lines += ["", "Per category (precision / recall / F1, average precision):", ""]
    langs = list(cv["cv"])
    lines += ["| category | " + " | ".join(langs) + " |", "|---|" + "---|" * len(langs)]
    for cat in CATEGORIES:
        cells = []
        for lang in langs:
            m = cv["cv"][lang].get(cat)
            cells.append(
                "off"
                if m is None
                else f"{fmt(m['precision'])} / {fmt(m['recall'])} / {fmt(m['f1'])}, "
                f"{fmt(m.get('average_precision'))}"
            )
        lines.append(f"| {cat} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def markdown(result: dict[str, Any]) -> str:
    model = result["model"]
    trained_on = model.get("training_splits", [])
    lines = [
        "# Content checker evaluation",
        "",
        f"Command: `{result['command']}`  ",
        f"Model artefact: `{model['sha256'][:16]}…`, {model['size_bytes']:,} bytes, trained "
        f"on the splits {', '.join(trained_on) or '?'}. Python {result['python']}. "
        "Rule files: "
        + ", ".join(f"`{name}` `{digest[:12]}…`" for name, digest in result["rules"].items())
        + ".",
        "",
        f"Headline: the blind `{result.get('targets', {}).get('split', 'test2')}` split. "
        + _targets(result),
        "",
    ]
    number = 1
    for split in EVAL_SPLITS:
        lines += split_markdown(result["splits"][split], number, trained_on)
        number += 1
    lines += train_cv_markdown(result["train_cv"], number)
    number += 1
    c = result["cold"]
    lines += [f"## {number}. COLD test set, `insult` (out of domain)", ""]
    number += 1
    if "skipped" in c:
        lines += [f"Skipped: {c['skipped']}", ""]
    else:
        lines += [
            f"{c['texts']:,} texts (`{c['file']}`), offensive = label 1. A text counts as "
            "offensive when the checker finds `insult` in it.",
            "",
            "| detector | accuracy | macro-F1 | offensive P / R | seconds |",
            "|---|---|---|---|---|",
        ]
        for name in ("rules", "combined", "model"):
            m = c[name]
            o = m["classes"]["offensive"]
            lines.append(
                f"| fairdun {name} | {fmt(m['accuracy'])} | {fmt(m['macro_f1'])} | "
                f"{fmt(o['precision'])} / {fmt(o['recall'])} | {m['seconds']} |"
            )
        for name, m in c["published"].items():
            lines.append(
                f"| {name} (published) | {fmt(m['accuracy'])} | {fmt(m['macro_f1'])} | – | – |"
            )
        lines += ["", "Flagged per fine-grained class (combined):", ""]
        lines += ["| class | texts | flagged |", "|---|---|---|"]
        for k, v in c["combined"]["flagged_by_fine_label"].items():
            lines.append(f"| {k} | {v['texts']} | {v['flagged']} |")
        lines.append("")
    p = result["cfpb"]
    lines += [f"## {number}. CFPB debt-collection narratives (English)", ""]
    if "skipped" in p:
        lines += [f"Skipped: {p['skipped']}", ""]
    else:
        lines += [
            f"{p['narratives']} narratives (`{p['file']}`); {p['truncated_to_max_chars']} cut "
            f"to {MAX_CHARS:,} characters. Context: English, debtor, letter, US. "
            "`missing-element` is not counted. These are consumers' accounts, not collector "
            "messages: the rates say how often the checker recognises the conduct described, "
            "they are not precision or recall.",
            "",
            "| issue | matching categories | set-up | narratives | any finding | "
            "matching finding | other issues: any | other issues: matching |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for issue, wanted in p["map"].items():
            for name in ("rules", "combined"):
                g = p[name][issue]
                b = g["baseline_other_issues"]
                lines.append(
                    f"| {issue} | {', '.join(wanted)} | {name} | {g['narratives']} | "
                    f"{_pct(g['any_finding'])} | {_pct(g['matching_finding'])} | "
                    f"{_pct(b['any_finding'])} | {_pct(b['matching_finding'])} |"
                )
        lines += ["", "Categories found per issue (combined; narratives with that category):", ""]
        for issue in p["map"]:
            found = p["combined"][issue]["categories_found"]
            listed = ", ".join(f"{c} {n}" for c, n in found.items()) or "none"
            lines.append(f"* {issue}: {listed}")
        lines.append("")
    return "\n".join(lines)


def _targets(result: dict[str, Any]) -> str:
    t = result.get("targets")
    if not t:
        return (
            "Targets not judged: the blind split has no files yet, and the dev splits "
            "are not a blind measure."
        )
    return (
        f"Combined, on `{t['split']}`: macro-F1 {fmt(t['macro_f1']['combined'])} "
        f"(target ≥ {t['macro_f1']['target']}: "
        f"{'met' if t['macro_f1']['met'] else 'not met'}); flag precision "
        f"{fmt(t['flag_precision']['combined'])} (target ≥ {t['flag_precision']['target']}: "
        f"{'met' if t['flag_precision']['met'] else 'not met'}; the issue's \"precision ≥ "
        '0.95 on compliant messages" read as: of the messages flagged, the share that truly '
        f"violate). Compliant precision (the other reading) "
        f"{fmt(t['compliant_precision']['combined'])}, false-alarm rate "
        f"{fmt(t['false_alarm_rate']['combined'])}."
    )


def _pct(s: dict[str, Any]) -> str:
    return "–" if s["share"] is None else f"{s['count']} ({100 * s['share']:.1f}%)"


def rules_fingerprint() -> dict[str, str]:
    """SHA-256 of the rule layer's code and lexicons: which rules these figures are for."""
    import hashlib

    base = ROOT / "src" / "fairdun" / "content"
    files = [base / "rules.py", base / "lexicon.py", *sorted((base / "lexicon").glob("*.yaml"))]
    return {
        str(f.relative_to(ROOT)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in files
        if f.is_file()
    }


def _path(p: str | None) -> Path | None:
    return None if p is None or p == "" else Path(p)


def manifest_of(model_dir: Path | None) -> dict[str, Any]:
    path = (model_dir or ARTEFACT_DIR) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus", default=str(ROOT / "corpus" / "content"))
    ap.add_argument("--cold", default=str(ROOT.parent / "shared" / "data" / "cold"))
    ap.add_argument("--cfpb", default=str(ROOT.parent / "shared" / "data" / "cfpb-debt-collection"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args(list(argv) if argv is not None else None)
    runs = setups()
    model = load_model()
    manifest = manifest_of(model.path)
    training = manifest.get("training_data", {})
    trained_on = list(training.get("splits") or ["train"])
    started = time.perf_counter()
    result: dict[str, Any] = {
        "command": " ".join(["python bench/content_eval.py", *sys.argv[1:]]),
        "python": platform.python_version(),
        "model": {
            "sha256": model.sha256,
            "size_bytes": model.size_bytes,
            "path": str(model.path),
            "training_splits": trained_on,
            "training_files": training.get("files", {}),
            "thresholds": {lang: model.thresholds(lang) for lang in model.langs},
        },
    }
    result["rules"] = rules_fingerprint()
    corpus = Path(args.corpus)
    result["splits"] = {split: evaluate_split(corpus, split, runs) for split in EVAL_SPLITS}
    result["train_cv"] = {
        "source": f"model manifest ({MANIFEST_NAME})",
        "training_data": training,
        "folds": manifest.get("options", {}).get("folds"),
        "cv": manifest.get("cv", {}),
    }
    result["cold"] = cold(_path(args.cold), runs)
    result["cfpb"] = cfpb(_path(args.cfpb), runs)
    headline = next((s for s in ("test2", "test") if "scores" in result["splits"][s]), "test2")
    combined = result["splits"][headline].get("scores", {}).get("combined", {}).get("all")
    if combined is not None:
        result["targets"] = {
            "split": headline,
            "macro_f1": {
                "target": TARGET_MACRO_F1,
                "combined": combined["macro_f1"],
                "met": (combined["macro_f1"] or 0) >= TARGET_MACRO_F1,
            },
            "flag_precision": {
                "target": TARGET_FLAG_PRECISION,
                "definition": "of the messages with at least one finding, the share with at "
                "least one label",
                "combined": combined["flag_precision"]["precision"],
                "met": (combined["flag_precision"]["precision"] or 0) >= TARGET_FLAG_PRECISION,
            },
            "compliant_precision": {
                "definition": "of the messages with no finding, the share with no label "
                "(reported, not the target)",
                "combined": combined["compliant"]["precision"],
            },
            "false_alarm_rate": {"combined": combined["compliant"]["false_alarm_rate"]},
        }
    result["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "content-eval.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (out / "content-eval.md").write_text(markdown(result), encoding="utf-8")
    log(f"wrote {out / 'content-eval.json'} and {out / 'content-eval.md'}")
    for split, h in result["splits"].items():
        if "skipped" in h:
            log(f"{h['label']}: skipped: {h['skipped']}")
            continue
        for setup, subsets in h["scores"].items():
            s = subsets["all"]
            log(
                f"{split} {setup}: macro-F1 {fmt(s['macro_f1'])}, flag precision "
                f"{fmt(s['flag_precision']['precision'])}, compliant precision "
                f"{fmt(s['compliant']['precision'])}, false-alarm rate "
                f"{fmt(s['compliant']['false_alarm_rate'])}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
