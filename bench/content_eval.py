"""Evaluation of the message content checker (issue 5), one command:

    .venv/bin/python bench/content_eval.py [--corpus corpus/content] \\
        [--cold ../shared/data/cold] [--cfpb ../shared/data/cfpb-debt-collection] \\
        [--out bench/results]

1. **Held-out split** (``corpus/content/*.heldout.jsonl``; training never sees it), all
   messages and each language, for three set-ups: the rules only
   (``checker.check(model=False)``), the model only (``model.model_findings`` with no rule
   findings) and both (``checker.check``, what every caller gets). Message level: the set
   of categories found against the labelled set. Per category precision, recall and F1;
   macro-F1 over the twelve categories (a category with neither a label nor a finding in
   a subset has no F1 and is left out of that subset's mean; the count is shown);
   ``missing-element`` on its own; and compliant messages (no labels): precision and
   recall of "no finding at all" and the false-alarm rate. Every message whose found set
   differs from its labels is listed in the report.
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
from fairdun.content.model import load_model, model_findings
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
TARGET_COMPLIANT_PRECISION = 0.95
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
    }


# --------------------------------------------------------------------------- held-out


def read_heldout(corpus: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(corpus.glob("*.heldout.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
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


def heldout(corpus: Path, runs: dict[str, Checker]) -> dict[str, Any]:
    rows = read_heldout(corpus)
    if not rows:
        return {"skipped": f"no *.heldout.jsonl files in {corpus}"}
    log(f"held-out: {len(rows)} messages from {corpus}")
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
    result: dict[str, Any] = {"messages": len(rows), "errors": errors, "scores": {}, "misses": {}}
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


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Content checker evaluation",
        "",
        f"Command: `{result['command']}`  ",
        f"Model artefact: `{result['model']['sha256'][:16]}…`, "
        f"{result['model']['size_bytes']:,} bytes. Python {result['python']}. "
        "Rule files: "
        + ", ".join(f"`{name}` `{digest[:12]}…`" for name, digest in result["rules"].items())
        + ".",
        "",
    ]
    h = result["heldout"]
    lines += ["## 1. Held-out split", ""]
    if "skipped" in h:
        lines += [f"Skipped: {h['skipped']}", ""]
    else:
        lines += [
            f"{h['messages']} messages. Targets (issue 5): macro-F1 ≥ {TARGET_MACRO_F1}, "
            f"precision on compliant messages ≥ {TARGET_COMPLIANT_PRECISION}. " + _targets(result),
            "",
            "| set-up | subset | messages | macro-F1 (12 cat.) | missing-element F1 | "
            "compliant precision | compliant recall | false-alarm rate | exact match |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for setup, subsets in h["scores"].items():
            for subset, s in subsets.items():
                c = s["compliant"]
                me = s["categories"][MISSING_ELEMENT]
                lines.append(
                    f"| {setup} | {subset} | {s['messages']} | {fmt(s['macro_f1'])} "
                    f"({s['macro_f1_categories']}) | {fmt(me['f1'])} | {fmt(c['precision'])} | "
                    f"{fmt(c['recall'])} | {fmt(c['false_alarm_rate'])} "
                    f"({c['false_alarms']}/{c['messages']}) | {fmt(s['exact_match'])} |"
                )
        lines += [
            "",
            "Macro-F1 in brackets: the number of categories with a label or a finding in that "
            'subset (the mean is over those). "Compliant" = no label at all; a message counts '
            "as passed when it gets no finding at all (missing-element included). The model "
            "never reports missing-element (the rules check required elements), so its own "
            "compliant precision counts messages missing only an element as wrongly passed.",
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
            lines += ["", f"### Misses, {setup} ({len(misses)} messages)", ""]
            if setup != "combined":
                lines += [f"Listed in full in the JSON (`heldout.misses.{setup}`).", ""]
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
    c = result["cold"]
    lines += ["## 2. COLD test set, `insult` (out of domain)", ""]
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
    lines += ["## 3. CFPB debt-collection narratives (English)", ""]
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
        return ""
    return (
        f"Combined: macro-F1 {fmt(t['macro_f1']['combined'])} "
        f"({'met' if t['macro_f1']['met'] else 'not met'}), compliant precision "
        f"{fmt(t['compliant_precision']['combined'])} "
        f"({'met' if t['compliant_precision']['met'] else 'not met'})."
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
    started = time.perf_counter()
    result: dict[str, Any] = {
        "command": " ".join(["python bench/content_eval.py", *sys.argv[1:]]),
        "python": platform.python_version(),
        "model": {
            "sha256": model.sha256,
            "size_bytes": model.size_bytes,
            "path": str(model.path),
            "thresholds": {lang: model.thresholds(lang) for lang in model.langs},
        },
    }
    result["rules"] = rules_fingerprint()
    result["heldout"] = heldout(Path(args.corpus), runs)
    result["cold"] = cold(_path(args.cold), runs)
    result["cfpb"] = cfpb(_path(args.cfpb), runs)
    combined = result["heldout"].get("scores", {}).get("combined", {}).get("all")
    if combined is not None:
        result["targets"] = {
            "macro_f1": {
                "target": TARGET_MACRO_F1,
                "combined": combined["macro_f1"],
                "met": (combined["macro_f1"] or 0) >= TARGET_MACRO_F1,
            },
            "compliant_precision": {
                "target": TARGET_COMPLIANT_PRECISION,
                "combined": combined["compliant"]["precision"],
                "met": (combined["compliant"]["precision"] or 0) >= TARGET_COMPLIANT_PRECISION,
            },
        }
    result["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "content-eval.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (out / "content-eval.md").write_text(markdown(result), encoding="utf-8")
    log(f"wrote {out / 'content-eval.json'} and {out / 'content-eval.md'}")
    for setup, subsets in result["heldout"].get("scores", {}).items():
        s = subsets["all"]
        log(
            f"held-out {setup}: macro-F1 {fmt(s['macro_f1'])}, compliant precision "
            f"{fmt(s['compliant']['precision'])}, false-alarm rate "
            f"{fmt(s['compliant']['false_alarm_rate'])}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
