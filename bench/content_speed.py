"""Throughput of the content checker's layers, one process on one core.

    .venv/bin/python bench/content_speed.py [--corpus corpus/content] [--messages 20000]
        [--model-messages 5000] [--out bench/results]

1. Pins the process to one CPU and BLAS to one thread; reads every corpus message of the
   train and dev (``heldout``) splits, both languages (never the blind ``test`` split),
   with its recipient, channel, jurisdiction and facts.
2. Warms up (lexicons compiled, jieba's dictionary and the model loaded): the time of the
   first call is reported as the cold start.
3. Times, on the corpus messages repeated in order up to ``--messages``:

   * **the rule layer**: ``rules.check_rules`` (normalisation, jieba, every category's
     combined pattern, negation and quotation handling, fact conditions, required
     elements);
   * **naive baseline**: every lexicon pattern and term of the message's language compiled
     on its own and tried with ``re.search`` one after the other (no normalisation,
     negation or facts: it does less than the rule layer and is still the slow way);

   and on ``--model-messages`` of them:

   * **the model layer**: ``model.model_findings`` with no rule findings (the worst case:
     every category may fire, and the best sentence is searched for each that does);
   * **the whole checker**: ``checker.check`` (validation, rules, model).

4. Prints messages per second, wall and CPU time, peak RSS (``ru_maxrss``), and writes
   ``content-speed.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from fairdun.content.types import Context

# One thread for BLAS, set before numpy is first imported (the fairdun imports are lazy).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parent.parent
LEXICON_DIR = ROOT / "src" / "fairdun" / "content" / "lexicon"
_MACRO = re.compile(r"\{\{([a-z][a-z0-9_]*)\}\}")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def pin_one_core() -> int | None:
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return cpu
    except (AttributeError, OSError):
        return None


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def read_messages(corpus: Path) -> list[tuple[str, Context]]:
    from fairdun.content import checker

    out: list[tuple[str, Context]] = []
    # The train and dev (heldout) splits only: the blind test split is read by
    # bench/content_eval.py and nothing else.
    paths = [p for split in ("train", "heldout") for p in sorted(corpus.glob(f"*.{split}.jsonl"))]
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            ctx = checker.make_context(
                lang=row.get("lang"),
                recipient_role=row.get("recipient_role", "debtor"),
                channel=row.get("channel", "sms"),
                jurisdiction=row.get("jurisdiction", "cn"),
                facts=row.get("facts") or {},
                text=row["text"],
            )
            out.append((row["text"], ctx))
    return out


def naive_patterns(lang: str) -> list[re.Pattern[str]]:
    """Every pattern and term of the shipped lexicon, compiled one by one."""
    data = yaml.safe_load((LEXICON_DIR / f"{lang}.yaml").read_text(encoding="utf-8"))
    macros: dict[str, str] = data.get("macros") or {}

    def expand(text: str, depth: int = 0) -> str:
        if depth > 20:
            return text
        return _MACRO.sub(lambda m: f"(?:{expand(macros[m.group(1)], depth + 1)})", text)

    flags = re.IGNORECASE if lang == "en" else 0
    out: list[re.Pattern[str]] = []
    for rules in (data.get("categories") or {}).values():
        for rule in rules:
            out.extend(re.compile(expand(p), flags) for p in rule.get("patterns") or ())
            out.extend(re.compile(re.escape(t), flags) for t in rule.get("terms") or ())
    return out


def timed(
    name: str, fn: Callable[[str, Context], object], items: Sequence[tuple[str, Context]]
) -> dict[str, Any]:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for text, ctx in items:
        fn(text, ctx)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    result = {
        "messages": len(items),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "messages_per_s": round(len(items) / wall, 1),
        "us_per_message": round(1e6 * wall / len(items), 1),
    }
    log(f"{name}: {result['messages_per_s']:,.0f} messages/s ({result['us_per_message']} µs each)")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus", default=str(ROOT / "corpus" / "content"))
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--model-messages", type=int, default=5_000)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args(argv)

    cpu = pin_one_core()
    from fairdun.content import checker
    from fairdun.content.model import load_model, model_findings
    from fairdun.content.rules import check_rules

    base = read_messages(Path(args.corpus))
    if not base:
        sys.exit(f"no corpus messages in {args.corpus}")
    log(f"{len(base)} corpus messages, pinned to CPU {cpu}, rss {peak_rss_mb():.0f} MB")

    def repeat(n: int) -> list[tuple[str, Context]]:
        return [base[i % len(base)] for i in range(n)]

    rule_items, model_items = repeat(args.messages), repeat(args.model_messages)
    result: dict[str, Any] = {
        "command": " ".join(["python bench/content_speed.py", *sys.argv[1:]]),
        "machine": machine(),
        "pinned_cpu": cpu,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "corpus_messages": len(base),
        "mean_chars": round(sum(len(t) for t, _ in base) / len(base), 1),
        "languages": {lang: sum(1 for _, c in base if c.lang == lang) for lang in ("zh", "en")},
    }

    started = time.perf_counter()
    for lang in ("zh", "en"):
        first = next((item for item in base if item[1].lang == lang), None)
        if first is not None:
            check_rules(*first)
    result["cold_start_rules_s"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    model = load_model()
    result["cold_start_model_s"] = round(time.perf_counter() - started, 3)
    log(
        f"cold start: rules {result['cold_start_rules_s']} s, "
        f"model {result['cold_start_model_s']} s"
    )
    rss_after_load = peak_rss_mb()

    patterns = {lang: naive_patterns(lang) for lang in ("zh", "en")}
    result["naive_patterns"] = {lang: len(p) for lang, p in patterns.items()}

    def naive(text: str, ctx: Context) -> object:
        return [p.pattern for p in patterns[ctx.lang] if p.search(text)]

    def model_layer(text: str, ctx: Context) -> object:
        return model_findings(text, ctx, (), model)

    def whole(text: str, ctx: Context) -> object:
        return checker.check(text, ctx)

    timed("warm-up", check_rules, base)
    timed("warm-up model", model_layer, base)
    result["rules"] = timed("rule layer", check_rules, rule_items)
    result["naive_baseline"] = timed("naive baseline (re.search per pattern)", naive, rule_items)
    result["model"] = timed("model layer", model_layer, model_items)
    result["checker"] = timed("whole checker (validate + rules + model)", whole, model_items)
    for lang in ("zh", "en"):
        items = [item for item in rule_items if item[1].lang == lang]
        if items:
            result[f"rules_{lang}"] = timed(f"rule layer, {lang}", check_rules, items)
            result[f"naive_baseline_{lang}"] = timed(f"naive, {lang}", naive, items)
        items = [item for item in model_items if item[1].lang == lang]
        if items:
            result[f"model_{lang}"] = timed(f"model layer, {lang}", model_layer, items)
    result["rules_vs_naive"] = round(
        result["rules"]["messages_per_s"] / result["naive_baseline"]["messages_per_s"], 2
    )
    result["target_rules_messages_per_s"] = 2000
    result["rules_meets_target"] = result["rules"]["messages_per_s"] >= 2000
    result["peak_rss_mb_after_load"] = round(rss_after_load, 1)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    log(f"peak RSS {result['peak_rss_mb']} MB")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "content-speed.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {out / 'content-speed.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
