"""How good a credit-risk model is, how fair, and whether today's portfolio still looks like
the sample it was trained on.

Everything here works on a 0/1 outcome ``y`` (1 = bad) and a probability of bad ``p``
(higher = riskier); tables are polars frames so that pages, reports and the CLI show them
the same way.

* **Discrimination**: :func:`auc` (scikit-learn's ``roc_auc_score``), :func:`ks` (the
  largest gap between the cumulative shares of bads and goods), :func:`gini` (2 AUC - 1).
* **Calibration**: :func:`calibration` compares the mean predicted probability with the
  observed bad rate in equal-count bins of ``p``.
* **Ranking**: :func:`gains_table`, the riskiest decile first: bad rate, lift, and the
  cumulative share of bads caught (the gains curve) and of goods.
* **Fairness**: :func:`disparate_impact`, approval rate per group at a cutoff and the
  adverse impact ratio against the most-approved group; a ratio under 0.8 fails the
  four-fifths rule. AUC per group shows whether the model ranks every group as well.
* **Stability**: :func:`psi` (population stability index,
  ``sum((a - e) * ln(a / e))`` over bins, empty bins floored at 0.0001) and
  :func:`psi_table` (each feature and the score of a bundle, between its training sample
  and a frame, e.g. today's portfolio) with the usual reading: under 0.10 stable, 0.10 to
  0.25 worth watching, 0.25 and over a shift that calls for a review.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.metrics import roc_auc_score, roc_curve

if TYPE_CHECKING:
    from fairdun.risk.bundle import Bundle

FloatArray = npt.NDArray[np.float64]

PSI_WATCH = 0.10
PSI_SHIFT = 0.25
PSI_FLOOR = 1e-4
FOUR_FIFTHS = 0.8
BASELINE_QUANTILES = 10
BASELINE_MAX_LEVELS = 20
OTHER_LEVEL = "(other)"
MISSING_LEVEL = "(missing)"


def _yp(y: npt.ArrayLike, p: npt.ArrayLike) -> tuple[npt.NDArray[np.int8], FloatArray]:
    ya = np.asarray(y)
    pa = np.asarray(p, dtype=np.float64)
    if ya.shape != pa.shape or ya.ndim != 1:
        raise ValueError(f"y and p must be 1-d of the same length, got {ya.shape}, {pa.shape}")
    if not np.isin(ya, (0, 1)).all():
        raise ValueError("y must be 0/1 (1 = bad)")
    if np.isnan(pa).any():
        raise ValueError("p has NaN values")
    return ya.astype(np.int8), pa


def _both_classes(y: npt.NDArray[np.int8]) -> bool:
    return bool(y.size) and 0 < int(y.sum()) < y.size


def auc(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Area under the ROC curve; NaN when ``y`` has one class only."""
    ya, pa = _yp(y, p)
    if not _both_classes(ya):
        return math.nan
    return float(roc_auc_score(ya, pa))


def gini(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    return 2.0 * auc(y, p) - 1.0


def ks(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the cumulative distributions
    of ``p`` among bads and among goods."""
    ya, pa = _yp(y, p)
    if not _both_classes(ya):
        return math.nan
    fpr, tpr, _ = roc_curve(ya, pa)
    return float(np.max(np.abs(tpr - fpr)))


def roc_points(
    y: npt.ArrayLike, p: npt.ArrayLike, max_points: int = 200
) -> tuple[FloatArray, FloatArray]:
    """(false positive rate, true positive rate) along the ROC curve, thinned to about
    ``max_points`` points for plotting."""
    ya, pa = _yp(y, p)
    fpr, tpr, _ = roc_curve(ya, pa)
    if fpr.size > max_points:
        keep = np.unique(np.linspace(0, fpr.size - 1, max_points).round().astype(np.int64))
        fpr, tpr = fpr[keep], tpr[keep]
    return fpr.astype(np.float64), tpr.astype(np.float64)


def summary(y: npt.ArrayLike, p: npt.ArrayLike) -> dict[str, float | int | None]:
    """Rows, bads, bad rate, AUC, KS and Gini (``None`` where undefined), for a manifest."""
    ya, pa = _yp(y, p)
    a, k = auc(ya, pa), ks(ya, pa)
    return {
        "n": int(ya.size),
        "bads": int(ya.sum()),
        "bad_rate": _num(float(ya.mean()) if ya.size else math.nan),
        "auc": _num(a),
        "ks": _num(k),
        "gini": _num(2.0 * a - 1.0),
    }


def _num(x: float, digits: int = 6) -> float | None:
    return None if math.isnan(x) else round(x, digits)


def _equal_count_bins(p: FloatArray, bins: int, *, descending: bool) -> npt.NDArray[np.int64]:
    """Bin number (0-based) of each row in ``bins`` groups of (nearly) equal size by ``p``;
    ties are split by position (stable sort), so the groups stay equal in size."""
    order = np.argsort(-p if descending else p, kind="stable")
    rank = np.empty(p.size, dtype=np.int64)
    rank[order] = np.arange(p.size)
    return (rank * bins) // max(p.size, 1)


def calibration(y: npt.ArrayLike, p: npt.ArrayLike, bins: int = 10) -> pl.DataFrame:
    """Mean predicted probability against the observed bad rate, in ``bins`` equal-count
    bins of ``p`` (lowest risk first)."""
    ya, pa = _yp(y, p)
    b = _equal_count_bins(pa, bins, descending=False)
    frame = pl.DataFrame({"bin": b + 1, "y": ya, "p": pa})
    return (
        frame.group_by("bin")
        .agg(
            n=pl.len(),
            p_min=pl.col("p").min(),
            p_max=pl.col("p").max(),
            p_mean=pl.col("p").mean(),
            bad_rate=pl.col("y").cast(pl.Float64).mean(),
        )
        .sort("bin")
    )


def gains_table(y: npt.ArrayLike, p: npt.ArrayLike, bins: int = 10) -> pl.DataFrame:
    """Lift and gains, riskiest bin first: per bin the rows, bads, goods, bad rate and lift
    (bad rate over the overall bad rate), then cumulatively the share of all bads caught
    (``cum_bads_pct``, the gains curve), of all goods, the cumulative lift and the KS gap."""
    ya, pa = _yp(y, p)
    b = _equal_count_bins(pa, bins, descending=True)
    frame = pl.DataFrame({"bin": b + 1, "y": ya, "p": pa})
    total_bads = max(int(ya.sum()), 1)
    total_goods = max(int(ya.size - ya.sum()), 1)
    overall = float(ya.mean()) if ya.size else 0.0
    table = (
        frame.group_by("bin")
        .agg(
            n=pl.len(),
            p_min=pl.col("p").min(),
            p_max=pl.col("p").max(),
            bads=pl.col("y").cast(pl.Int64).sum(),
        )
        .sort("bin")
        .with_columns(goods=pl.col("n") - pl.col("bads"))
        .with_columns(
            bad_rate=pl.col("bads") / pl.col("n"),
            cum_n=pl.col("n").cum_sum(),
            cum_bads=pl.col("bads").cum_sum(),
            cum_goods=pl.col("goods").cum_sum(),
        )
        .with_columns(
            lift=pl.col("bad_rate") / overall if overall else pl.lit(None, pl.Float64),
            cum_bads_pct=pl.col("cum_bads") / total_bads,
            cum_goods_pct=pl.col("cum_goods") / total_goods,
            cum_lift=(pl.col("cum_bads") / pl.col("cum_n")) / overall
            if overall
            else pl.lit(None, pl.Float64),
        )
        .with_columns(ks=(pl.col("cum_bads_pct") - pl.col("cum_goods_pct")).abs())
    )
    return table.select(
        "bin",
        "n",
        "p_min",
        "p_max",
        "bads",
        "goods",
        "bad_rate",
        "lift",
        "cum_bads_pct",
        "cum_goods_pct",
        "cum_lift",
        "ks",
    )


def score_distribution(
    scores: npt.ArrayLike, y: npt.ArrayLike | None = None, bins: int = 20
) -> pl.DataFrame:
    """A histogram of ``scores`` (points or probabilities) in ``bins`` equal-width bins:
    rows, share, and with ``y`` the goods and bads in each."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError("scores must be a non-empty 1-d array")
    lo, hi = float(s.min()), float(s.max())
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    idx = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, bins - 1)
    n = np.bincount(idx, minlength=bins)
    data: dict[str, Any] = {
        "lo": edges[:-1],
        "hi": edges[1:],
        "n": n.astype(np.int64),
        "share": n / s.size,
    }
    if y is not None:
        ya = np.asarray(y)
        if ya.shape != s.shape:
            raise ValueError("y and scores must have the same length")
        bads = np.bincount(idx, weights=(ya == 1).astype(np.float64), minlength=bins)
        data["bads"] = bads.astype(np.int64)
        data["goods"] = (n - bads).astype(np.int64)
    return pl.DataFrame(data)


def disparate_impact(
    y: npt.ArrayLike | None,
    p: npt.ArrayLike,
    groups: npt.ArrayLike | pl.Series | Sequence[Any],
    cutoff: float,
) -> pl.DataFrame:
    """Approval rate per group when every row with ``p < cutoff`` is approved, and the
    adverse impact ratio (AIR) against the most-approved group; ``four_fifths`` is false
    where the ratio is under 0.8. With outcomes ``y``: the bad rate and the AUC in each
    group (``None`` where a group has one class only). Missing group values are
    ``(missing)``."""
    pa = np.asarray(p, dtype=np.float64)
    g = (
        groups.rename("group")
        if isinstance(groups, pl.Series)
        else pl.Series("group", list(np.asarray(groups, dtype=object)))
    )
    g = g.cast(pl.String).fill_null(MISSING_LEVEL)
    if g.len() != pa.size:
        raise ValueError("groups and p must have the same length")
    ya = None if y is None else _yp(y, pa)[0]
    rows: list[dict[str, Any]] = []
    for level in sorted(set(g.to_list())):
        mask = (g == level).to_numpy()
        approved = float((pa[mask] < cutoff).mean())
        row: dict[str, Any] = {"group": level, "n": int(mask.sum()), "approval_rate": approved}
        if ya is not None:
            yg = ya[mask]
            row["bad_rate"] = float(yg.mean())
            row["auc"] = _num(auc(yg, pa[mask]), 4)
        rows.append(row)
    best = max((r["approval_rate"] for r in rows), default=0.0)
    for r in rows:
        r["air"] = r["approval_rate"] / best if best > 0 else None
        r["four_fifths"] = r["air"] is None or r["air"] >= FOUR_FIFTHS
    columns = ["group", "n", "approval_rate", "air", "four_fifths"]
    if ya is not None:
        columns += ["bad_rate", "auc"]
    schema = {
        "group": pl.String,
        "n": pl.Int64,
        "approval_rate": pl.Float64,
        "air": pl.Float64,
        "four_fifths": pl.Boolean,
        "bad_rate": pl.Float64,
        "auc": pl.Float64,
    }
    return pl.DataFrame(rows, schema={c: schema[c] for c in columns})


# --------------------------------------------------------------------------- stability


def psi(expected: npt.ArrayLike, actual: npt.ArrayLike, floor: float = PSI_FLOOR) -> float:
    """Population stability index between two distributions over the same bins (each
    normalised to sum to 1; empty bins count as ``floor``)."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape or e.ndim != 1:
        raise ValueError("expected and actual must be 1-d over the same bins")
    if (e < 0).any() or (a < 0).any() or e.sum() <= 0 or a.sum() <= 0:
        raise ValueError("proportions must be non-negative and not all zero")
    e = np.maximum(e / e.sum(), floor)
    a = np.maximum(a / a.sum(), floor)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_status(value: float) -> str:
    if value < PSI_WATCH:
        return "stable"
    if value < PSI_SHIFT:
        return "watch"
    return "shift"


def numeric_edges(values: FloatArray, quantiles: int = BASELINE_QUANTILES) -> list[float]:
    """Bin edges at the deciles of ``values`` (observed values, duplicates merged)."""
    x = values[~np.isnan(values)]
    if x.size == 0:
        return []
    qs = np.quantile(x, np.arange(1, quantiles) / quantiles, method="lower")
    return [float(v) for v in np.unique(qs)]


def numeric_counts(values: FloatArray, edges: Sequence[float]) -> npt.NDArray[np.int64]:
    """Counts in the bins ``(-inf, e0), [e0, e1), ..., [e_last, inf)`` and a last bin for
    missing values."""
    missing = np.isnan(values)
    idx = np.searchsorted(np.asarray(edges, dtype=np.float64), values[~missing], side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1)
    return np.append(counts, missing.sum()).astype(np.int64)


def categorical_counts(values: pl.Series, levels: Sequence[str]) -> npt.NDArray[np.int64]:
    """Counts of ``levels``, then all other levels, then missing."""
    index = {lv: i for i, lv in enumerate(levels)}
    v = pl.col("v")
    codes = (
        pl.DataFrame({"v": values.cast(pl.String)})
        .select(
            pl.when(v.is_null())
            .then(pl.lit(len(levels) + 1, dtype=pl.Int64))
            .otherwise(v.replace_strict(index, default=len(levels), return_dtype=pl.Int64))
        )
        .to_series()
    )
    return np.bincount(codes.to_numpy(), minlength=len(levels) + 2).astype(np.int64)


def make_baseline(
    frame: pl.DataFrame,
    features: Sequence[str],
    categorical: Sequence[str],
    proba: npt.ArrayLike,
) -> dict[str, Any]:
    """The reference distributions PSI compares against: per feature its bins and their
    proportions on the training sample (numeric: deciles and missing; categorical: up to
    20 most frequent levels, other and missing), and the same for the predicted
    probability."""
    out: dict[str, Any] = {"n": frame.height, "features": {}}
    for name in features:
        if name in categorical:
            counts = frame[name].drop_nulls().value_counts(sort=True, name="count")
            ordered = counts.sort(["count", name], descending=[True, False])
            levels = [str(v) for v in ordered[name].to_list()[:BASELINE_MAX_LEVELS]]
            c = categorical_counts(frame[name], levels)
            out["features"][name] = {"type": "categorical", "levels": levels, **_props(c)}
        else:
            x = frame[name].cast(pl.Float64).to_numpy()
            edges = numeric_edges(x)
            c = numeric_counts(x, edges)
            out["features"][name] = {"type": "numerical", "edges": edges, **_props(c)}
    pa = np.asarray(proba, dtype=np.float64)
    edges = numeric_edges(pa)
    out["score"] = {"type": "numerical", "edges": edges, **_props(numeric_counts(pa, edges))}
    return out


def _props(counts: npt.NDArray[np.int64]) -> dict[str, Any]:
    total = max(int(counts.sum()), 1)
    return {"counts": [int(c) for c in counts], "props": [float(c) / total for c in counts]}


@dataclass(frozen=True)
class PsiRow:
    """PSI of one feature (``kind="feature"``) or of the score (``kind="score"``)."""

    name: str
    kind: str
    psi: float
    status: str
    expected: tuple[float, ...]
    actual: tuple[float, ...]


def psi_for(
    reference: Mapping[str, Any], values: pl.Series | FloatArray
) -> tuple[float, FloatArray]:
    """PSI of ``values`` against one baseline entry, and the actual proportions."""
    if reference["type"] == "categorical":
        series = values if isinstance(values, pl.Series) else pl.Series(values)
        counts = categorical_counts(series, reference["levels"])
    else:
        x = (
            values.cast(pl.Float64).to_numpy()
            if isinstance(values, pl.Series)
            else np.asarray(values, dtype=np.float64)
        )
        counts = numeric_counts(x, reference["edges"])
    total = max(int(counts.sum()), 1)
    actual = counts.astype(np.float64) / total
    return psi(reference["props"], actual), actual


def psi_table(bundle: Bundle, frame: pl.DataFrame) -> list[PsiRow]:
    """PSI of each of the bundle's features and of its predicted probability between the
    training sample (the bundle's baseline) and ``frame``; the score comes last."""
    if frame.height == 0:
        raise ValueError("psi_table needs at least one row")
    features = bundle.feature_frame(frame)
    rows: list[PsiRow] = []
    for name in bundle.features:
        ref = bundle.baseline["features"][name]
        value, actual = psi_for(ref, features[name])
        rows.append(
            PsiRow(name, "feature", value, psi_status(value), tuple(ref["props"]), tuple(actual))
        )
    ref = bundle.baseline["score"]
    value, actual = psi_for(ref, bundle.predict_proba(features))
    rows.append(
        PsiRow("score", "score", value, psi_status(value), tuple(ref["props"]), tuple(actual))
    )
    return rows
