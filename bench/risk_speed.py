"""Training and scoring time of the credit-risk models on 1,000,000 loans.

    .venv/bin/python bench/risk_speed.py \\
        [--taiwan ../shared/data/uci-taiwan-credit-default/UCI_Credit_Card.csv] \\
        [--rows 1000000] [--threads 1] [--seed 7] [--out bench/results]

1. **Data** (synthetic but realistic): ``--rows`` rows drawn with replacement from the
   Taiwan file's raw columns; every amount (limit, bills, payments) multiplied by
   ``exp(N(0, 0.1))`` and rounded, so no two rows are copies; the engineered features
   recomputed from the noised columns (``dataset.taiwan_features``). The outcome is not
   copied (copies would let a model memorise its validation rows): it is drawn as
   Bernoulli(p) with p from a scorecard fitted on the real file, so the data has the real
   file's feature distributions and a realistic, learnable relation to default.
2. The book is written to a temporary Parquet file and each model runs in a fresh
   process that reads it (spawned, not forked: polars' and OpenMP's thread pools do not
   survive a fork); its peak RSS (``ru_maxrss``) includes the frame:

   * **scorecard**: ``train_scorecard`` on all rows (optbinning binning of 35 features,
     logistic regression, export of the tables and the 20,000-row check against
     optbinning); scoring every row from the exported tables (``predict_proba`` and
     ``points``) and the adverse-factor matrix; beside it the naive ways: optbinning's own
     ``BinningProcess.transform`` + scikit-learn ``predict_proba`` on every row, and
     row-by-row Python scoring from the same tables (``bisect`` per feature) on
     ``--naive-rows`` rows, extrapolated;
   * **LightGBM**: ``train_challenger`` on all rows (trees chosen on a 20% validation
     split, then refitted on all rows), with ``--threads`` threads; ``predict_proba`` on
     every row; SHAP contributions (``pred_contrib``, for reason codes) on ``--shap-rows``
     rows, extrapolated (TreeSHAP costs about a thousand times a prediction); the naive
     way: one ``booster.predict`` call per row on a tenth of ``--naive-rows``,
     extrapolated;
   * both: reason codes (``top_reasons``, four per row) for ``--shap-rows`` rows; save
     and load of the bundle (with its hash checks).

3. Prints a markdown table and writes ``risk-speed.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import multiprocessing as mp
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchkit import log, machine, peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
TAIWAN = ROOT.parent / "shared" / "data" / "uci-taiwan-credit-default" / "UCI_Credit_Card.csv"
AMOUNTS = (
    "LIMIT_BAL",
    *(f"BILL_AMT{k}" for k in range(1, 7)),
    *(f"PAY_AMT{k}" for k in range(1, 7)),
)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


# --------------------------------------------------------------------------- data


def make_data(path: Path, rows: int, seed: int) -> Any:
    """The synthetic book of the module docstring, as a checked ``Dataset``."""
    import numpy as np
    import polars as pl

    from fairdun.risk.dataset import (
        NULL_VALUES,
        TAIWAN_FEATURES,
        TAIWAN_RAW,
        from_frame,
        load_taiwan,
        taiwan_features,
    )
    from fairdun.risk.scorecard import train_scorecard

    real = load_taiwan(path)
    truth = train_scorecard(real, seed=seed, name="truth")
    raw = pl.read_csv(path, infer_schema_length=None, null_values=NULL_VALUES).rename(TAIWAN_RAW)
    rng = np.random.default_rng(seed)
    sample = raw[rng.integers(0, raw.height, rows)]
    noise = {
        c: (sample[c].cast(pl.Float64) * np.exp(rng.normal(0.0, 0.1, rows))).round(0)
        for c in AMOUNTS
    }
    sample = sample.with_columns(**noise).with_columns(pl.col("LIMIT_BAL").clip(lower_bound=1000.0))
    frame = taiwan_features(sample)
    p = truth.predict_proba(frame)
    frame = frame.with_columns(
        default=pl.Series((rng.random(rows) < p).astype(np.int8)),
        ID=pl.int_range(1, rows + 1),
    )
    return from_frame(
        frame.select(["ID", *TAIWAN_FEATURES, "SEX", "MARRIAGE", "AGE_BAND", "default"]),
        "default",
        features=TAIWAN_FEATURES,
        protected=("SEX", "MARRIAGE", "AGE_BAND"),
        id_columns=("ID",),
        source=f"synthetic-taiwan-{rows}",
    )


# --------------------------------------------------------------------------- naive scoring


def naive_scorecard_rows(model: Any, rows: list[dict[str, Any]]) -> list[float]:
    """Row by row in plain Python from the exported tables: the slow way."""
    out = []
    for row in rows:
        z = model.intercept
        for t in model.tables:
            v = row[t.name]
            if v is None or (isinstance(v, float) and math.isnan(v)):
                w = t.woe[-1]
            elif t.dtype == "numerical":
                w = t.woe[bisect.bisect_right(t.splits, v)]
            else:
                w = next((t.woe[i] for i, g in enumerate(t.groups) if v in g), t.woe_unknown)
            z += t.coef * w
        out.append(1.0 / (1.0 + math.exp(-z)))
    return out


# --------------------------------------------------------------------------- phases


def phase_scorecard(ds: Any, args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from fairdun.risk.bundle import Bundle
    from fairdun.risk.reasons import top_reasons
    from fairdun.risk.scorecard import train_scorecard_with_reference

    out: dict[str, Any] = {}
    (bundle, (binning, estimator, selected)), out["train_s"] = timed(
        lambda: train_scorecard_with_reference(ds, seed=args.seed, name="speed-scorecard")
    )
    out["features_used"] = len(bundle.features)
    log(f"scorecard: trained in {out['train_s']:.1f} s ({len(bundle.features)} features)")
    frame = ds.frame
    p, out["score_proba_s"] = timed(lambda: bundle.predict_proba(frame))
    _, out["score_points_s"] = timed(lambda: bundle.points(frame))
    _, out["adverse_s"] = timed(lambda: bundle.adverse(frame))
    log(
        f"scorecard: own scoring {out['score_proba_s']:.2f} s (probability), "
        f"{out['score_points_s']:.2f} s (points), {out['adverse_s']:.2f} s (adverse)"
    )

    def library() -> Any:
        import warnings

        table = frame.select(ds.features).to_pandas()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            woe = binning.transform(
                table, metric="woe", metric_special="empirical", metric_missing="empirical"
            )
        return estimator.predict_proba(woe[list(selected)].to_numpy(np.float64))[:, 1]

    ref, out["optbinning_transform_s"] = timed(library)
    out["max_abs_gap_vs_optbinning"] = float(np.max(np.abs(ref - p)))
    log(
        f"scorecard: optbinning transform + sklearn {out['optbinning_transform_s']:.1f} s "
        f"(max gap {out['max_abs_gap_vs_optbinning']:.2e})"
    )

    n = min(args.naive_rows, ds.n_rows)
    rows = frame.head(n).select(bundle.features).to_dicts()
    _, naive_s = timed(lambda: naive_scorecard_rows(bundle.scorer, rows))
    out["row_by_row_rows"] = n
    out["row_by_row_extrapolated_s"] = naive_s * ds.n_rows / n
    log(
        f"scorecard: row by row {naive_s:.2f} s for {n} rows, "
        f"{out['row_by_row_extrapolated_s']:.0f} s extrapolated"
    )

    head = frame.head(min(args.shap_rows, ds.n_rows))
    _, out["reasons_s"] = timed(lambda: top_reasons(bundle, head, k=4))
    out["reasons_rows"] = head.height
    with tempfile.TemporaryDirectory() as tmp:
        _, out["save_s"] = timed(lambda: bundle.save(Path(tmp) / "b"))
        _, out["load_s"] = timed(lambda: Bundle.load(Path(tmp) / "b"))
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return out


def phase_lightgbm(ds: Any, args: argparse.Namespace) -> dict[str, Any]:
    from fairdun.risk.bundle import Bundle
    from fairdun.risk.challenger import BoosterModel, train_challenger
    from fairdun.risk.reasons import top_reasons

    out: dict[str, Any] = {}
    bundle, out["train_s"] = timed(
        lambda: train_challenger(ds, seed=args.seed, threads=args.threads, name="speed-lgb")
    )
    out["rounds"] = bundle.model["rounds"]
    out["validation"] = bundle.metrics["validation"]
    log(f"lightgbm: trained in {out['train_s']:.1f} s ({out['rounds']} trees)")
    frame = ds.frame
    scorer = bundle.scorer
    assert isinstance(scorer, BoosterModel)
    _, out["score_proba_s"] = timed(lambda: bundle.predict_proba(frame))
    sample = frame.head(min(args.shap_rows, ds.n_rows))
    _, shap_s = timed(lambda: bundle.adverse(sample))
    out["adverse_rows"] = sample.height
    out["adverse_s"] = shap_s * ds.n_rows / sample.height
    log(
        f"lightgbm: scoring {out['score_proba_s']:.2f} s, SHAP {shap_s:.1f} s for "
        f"{sample.height} rows ({out['adverse_s']:.0f} s extrapolated)"
    )
    n = min(args.naive_rows // 10, ds.n_rows)
    matrix = scorer.matrix(bundle.feature_frame(frame.head(n)))

    def one_by_one() -> None:
        for i in range(n):
            scorer.booster.predict(matrix[i : i + 1])

    _, naive_s = timed(one_by_one)
    out["row_by_row_rows"] = n
    out["row_by_row_extrapolated_s"] = naive_s * ds.n_rows / n
    log(
        f"lightgbm: one predict call per row {naive_s:.2f} s for {n} rows, "
        f"{out['row_by_row_extrapolated_s']:.0f} s extrapolated"
    )
    _, out["reasons_s"] = timed(lambda: top_reasons(bundle, sample, k=4))
    out["reasons_rows"] = sample.height
    with tempfile.TemporaryDirectory() as tmp:
        _, out["save_s"] = timed(lambda: bundle.save(Path(tmp) / "b"))
        _, out["load_s"] = timed(lambda: Bundle.load(Path(tmp) / "b"))
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return out


def _child(phase: str, data: str, args: argparse.Namespace, queue: Any) -> None:
    try:
        import polars as pl

        from fairdun.risk.dataset import TAIWAN_FEATURES, from_frame

        ds = from_frame(
            pl.read_parquet(data),
            "default",
            features=TAIWAN_FEATURES,
            protected=("SEX", "MARRIAGE", "AGE_BAND"),
            id_columns=("ID",),
            source=data,
        )
        fn = phase_scorecard if phase == "scorecard" else phase_lightgbm
        queue.put(("ok", fn(ds, args)))
    except BaseException as exc:  # reported by the parent
        queue.put(("error", repr(exc)))


def run_isolated(phase: str, data: Path, args: argparse.Namespace) -> dict[str, Any]:
    """``phase`` in a fresh (spawned) process that reads the data from Parquet: its peak
    RSS is its own, and no thread pool is forked (polars and OpenMP do not survive a
    fork)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(phase, str(data), args, queue))
    proc.start()
    status, value = queue.get()
    proc.join()
    if status != "ok":
        raise RuntimeError(f"{phase} failed: {value}")
    result: dict[str, Any] = value
    return result


def _s(x: float) -> str:
    return f"{x:,.1f} s" if x >= 1 else f"{x * 1000:,.0f} ms"


def markdown(result: dict[str, Any]) -> str:
    sc, lg = result["scorecard"], result["lightgbm"]
    n = result["rows"]
    lines = [
        f"Rows: {n:,} ({result['data']}); machine: {result['machine']['cpu']}, "
        f"{result['machine']['cores']} cores; LightGBM threads: {result['threads']}.",
        "",
        "| step | scorecard | LightGBM |",
        "|---|---|---|",
        f"| train | {_s(sc['train_s'])} | {_s(lg['train_s'])} ({lg['rounds']} trees) |",
        f"| score every row (probability) | {_s(sc['score_proba_s'])} | "
        f"{_s(lg['score_proba_s'])} |",
        f"| points every row | {_s(sc['score_points_s'])} | – |",
        f"| adverse factors every row (points lost / SHAP; SHAP extrapolated from "
        f"{lg['adverse_rows']:,} rows) | {_s(sc['adverse_s'])} | {_s(lg['adverse_s'])} |",
        f"| naive: optbinning transform + sklearn, every row | "
        f"{_s(sc['optbinning_transform_s'])} | – |",
        f"| naive: row by row (extrapolated from {sc['row_by_row_rows']:,} / "
        f"{lg['row_by_row_rows']:,} rows) | {_s(sc['row_by_row_extrapolated_s'])} | "
        f"{_s(lg['row_by_row_extrapolated_s'])} |",
        f"| reason codes, 4 per row, {sc['reasons_rows']:,} rows | {_s(sc['reasons_s'])} | "
        f"{_s(lg['reasons_s'])} |",
        f"| save / load (hash-checked) bundle | {_s(sc['save_s'])} / {_s(sc['load_s'])} | "
        f"{_s(lg['save_s'])} / {_s(lg['load_s'])} |",
        f"| peak RSS of the process | {sc['peak_rss_mb']:,.0f} MB | {lg['peak_rss_mb']:,.0f} MB |",
        "",
        f"Data generation and checks: {_s(result['make_data_s'])} "
        f"(parent peak RSS {result['parent_peak_rss_mb']:,.0f} MB). Own scorecard scoring "
        f"agrees with optbinning + scikit-learn to {sc['max_abs_gap_vs_optbinning']:.1e}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--taiwan", default=str(TAIWAN))
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=1, help="LightGBM threads")
    ap.add_argument("--naive-rows", type=int, default=20_000)
    ap.add_argument("--shap-rows", type=int, default=50_000, help="rows for SHAP and reasons")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args(argv)
    path = Path(args.taiwan)
    if not path.is_file():
        log(f"no Taiwan file at {path}: the synthetic book is drawn from it; pass --taiwan")
        return 2
    result: dict[str, Any] = {
        "command": " ".join(["python bench/risk_speed.py", *sys.argv[1:]]),
        "machine": machine(),
        "rows": args.rows,
        "threads": args.threads,
        "seed": args.seed,
        "data": "Taiwan rows resampled with noise on amounts, outcome drawn from a scorecard",
    }
    ds, result["make_data_s"] = timed(lambda: make_data(path, args.rows, args.seed))
    result["bad_rate"] = round(ds.bad_rate, 4)
    result["parent_peak_rss_mb"] = round(peak_rss_mb(), 1)
    log(
        f"{ds.n_rows:,} rows, {len(ds.features)} features, bad rate {ds.bad_rate:.3f}, "
        f"made in {result['make_data_s']:.1f} s, RSS {result['parent_peak_rss_mb']:.0f} MB"
    )
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "book.parquet"
        ds.frame.write_parquet(data)
        del ds
        result["scorecard"] = run_isolated("scorecard", data, args)
        result["lightgbm"] = run_isolated("lightgbm", data, args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "risk-speed.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print()
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
