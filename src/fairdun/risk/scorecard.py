"""The scorecard: optimal binning with weight of evidence, logistic regression, points.

Training (:func:`train_scorecard`) uses the maintained libraries for the statistics:

1. ``optbinning.BinningProcess`` bins every feature (numeric: monotonic event rate,
   ascending or descending as the data says; categorical: groups of levels), with the
   missing values in a bin of their own, and keeps the features whose information value
   is at least ``min_iv`` (0.02: below that a feature is commonly called useless);
2. scikit-learn's ``LogisticRegression`` (L2, ``C``) is fitted on the weight of evidence
   (WOE) of the bins. optbinning's WOE is ``ln(share of goods / share of bads)``, so a
   sensible coefficient is negative; a feature that comes out with a positive coefficient
   (collinearity with the others) is dropped and the regression refitted, one at a time,
   so that every bin's points run the way its bad rate does and reason codes make sense;
3. points: ``factor = pdo / ln 2``, ``offset = base_score - factor * ln(base_odds)``, and
   each feature's bin earns ``-(coef * woe + intercept / n) * factor + offset / n``, so
   the total is ``offset - factor * logit(p_bad)``: ``base_score`` points at good:bad odds
   of ``base_odds``, and ``pdo`` more points double the odds (optbinning's ``pdo_odds``
   scaling).

The bundle keeps none of those objects: it keeps the tables (split points or groups, event
and non-event counts, WOE of every bin including the missing one, coefficient, information
value) and the scaling, as JSON, and :class:`ScorecardModel` scores from them with a few
vectorised numpy lookups. Training checks on a sample of the training rows that these
tables give optbinning's and scikit-learn's own probabilities (to 1e-9), and refuses to
build a bundle that does not.

Bins follow optbinning's conventions exactly: a numeric value ``x`` falls in bin ``i`` when
``splits[i-1] <= x < splits[i]``; a bin without goods or without bads has WOE 0; a
categorical level not seen in training gets the WOE of the overall bad rate (0).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from fairdun.risk import metrics
from fairdun.risk.bundle import MODEL_NAME, Bundle, BundleError, dump_json
from fairdun.risk.dataset import Dataset, RiskInputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MODEL_FORMAT = "fairdun-scorecard/1"
DEFAULT_MIN_IV = 0.02
DEFAULT_C = 1.0
REFERENCE_CHECK_ROWS = 20_000
REFERENCE_TOLERANCE = 1e-9
MIN_CLASS_ROWS = 10


@dataclass(frozen=True)
class BinTable:
    """One feature of the scorecard.

    Regular bins come first (``splits`` for a numeric feature, ``groups`` of levels for a
    categorical one), then the missing bin; ``woe_unknown`` is for a level never seen in
    training. Counts are those of the training sample."""

    name: str
    dtype: str  # "numerical" | "categorical"
    splits: tuple[float, ...]
    groups: tuple[tuple[str, ...], ...]
    event: tuple[int, ...]  # per regular bin, then missing
    nonevent: tuple[int, ...]
    woe: tuple[float, ...]  # per regular bin, then missing
    woe_unknown: float
    coef: float
    iv: float

    @property
    def n_bins(self) -> int:
        """Regular bins (without the missing bin)."""
        return len(self.woe) - 1

    def labels(self) -> list[str]:
        """A readable label per regular bin, then ``Missing``."""
        if self.dtype == "categorical":
            out = [", ".join(g) for g in self.groups]
        elif not self.splits:
            out = ["all values"]
        else:
            s = [_fmt(v) for v in self.splits]
            out = [f"< {s[0]}"]
            out += [f"[{a}, {b})" for a, b in itertools.pairwise(s)]
            out.append(f">= {s[-1]}")
        return [*out, "Missing"]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "splits": list(self.splits),
            "groups": [list(g) for g in self.groups],
            "event": list(self.event),
            "nonevent": list(self.nonevent),
            "woe": list(self.woe),
            "woe_unknown": self.woe_unknown,
            "coef": self.coef,
            "iv": self.iv,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BinTable:
        table = cls(
            name=str(data["name"]),
            dtype=str(data["dtype"]),
            splits=tuple(float(v) for v in data["splits"]),
            groups=tuple(tuple(str(v) for v in g) for g in data["groups"]),
            event=tuple(int(v) for v in data["event"]),
            nonevent=tuple(int(v) for v in data["nonevent"]),
            woe=tuple(float(v) for v in data["woe"]),
            woe_unknown=float(data["woe_unknown"]),
            coef=float(data["coef"]),
            iv=float(data["iv"]),
        )
        regular = len(table.splits) + 1 if table.dtype == "numerical" else len(table.groups)
        if table.dtype not in ("numerical", "categorical"):
            raise ValueError(f"{table.name}: unknown dtype {table.dtype!r}")
        if not len(table.woe) == len(table.event) == len(table.nonevent) == regular + 1:
            raise ValueError(f"{table.name}: bins, counts and WOE do not line up")
        if any(b <= a for a, b in zip(table.splits, table.splits[1:], strict=False)):
            raise ValueError(f"{table.name}: split points are not increasing")
        return table


def _fmt(v: float) -> str:
    return f"{v:.6g}"


class ScorecardModel:
    """A scorecard as tables; scores a frame of its features (see :class:`Bundle`)."""

    def __init__(
        self,
        tables: Sequence[BinTable],
        intercept: float,
        *,
        base_score: float,
        base_odds: float,
        pdo: float,
        candidates: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        if not tables:
            raise ValueError("a scorecard needs at least one feature")
        if base_odds <= 0 or pdo <= 0:
            raise ValueError("base_odds and pdo must be positive")
        self.tables = tuple(tables)
        self.intercept = float(intercept)
        self.base_score = float(base_score)
        self.base_odds = float(base_odds)
        self.pdo = float(pdo)
        self.candidates = [dict(c) for c in candidates]
        self.factor = self.pdo / math.log(2.0)
        self.offset = self.base_score - self.factor * math.log(self.base_odds)
        self._coef = np.array([t.coef for t in self.tables], dtype=np.float64)
        n = len(self.tables)
        # Per feature: WOE and points of each regular bin, the missing bin, unknown level.
        self._woe = [np.array([*t.woe, t.woe_unknown], dtype=np.float64) for t in self.tables]
        self._points = [
            -(t.coef * w + self.intercept / n) * self.factor + self.offset / n
            for t, w in zip(self.tables, self._woe, strict=True)
        ]
        self._best = np.array(
            [self._best_points(t, p) for t, p in zip(self.tables, self._points, strict=True)],
            dtype=np.float64,
        )
        self._levels = [{lv: i for i, g in enumerate(t.groups) for lv in g} for t in self.tables]

    @staticmethod
    def _best_points(table: BinTable, points: FloatArray) -> float:
        seen = [i for i in range(table.n_bins + 1) if table.event[i] + table.nonevent[i] > 0]
        return float(points[seen].max()) if seen else float(points[: table.n_bins + 1].max())

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tables)

    # ----------------------------------------------------------------------- scoring

    def _indices(self, features: pl.DataFrame) -> list[IntArray]:
        """Per feature, each row's bin: regular bins ``0..k-1``, ``k`` missing, ``k+1`` a
        level not seen in training."""
        out: list[IntArray] = []
        for j, t in enumerate(self.tables):
            col = features[t.name]
            k = t.n_bins
            if t.dtype == "numerical":
                x = col.cast(pl.Float64).to_numpy()
                idx = np.searchsorted(np.asarray(t.splits, dtype=np.float64), x, side="right")
                idx[np.isnan(x)] = k
            else:
                v = pl.col("v")
                idx = (
                    pl.DataFrame({"v": col.cast(pl.String)})
                    .select(
                        pl.when(v.is_null())
                        .then(pl.lit(k, dtype=pl.Int64))
                        .otherwise(
                            v.replace_strict(self._levels[j], default=k + 1, return_dtype=pl.Int64)
                        )
                    )
                    .to_series()
                    .to_numpy()
                )
            out.append(np.asarray(idx, dtype=np.int64))
        return out

    def _matrix(self, features: pl.DataFrame, values: list[FloatArray]) -> FloatArray:
        """``n x F``: each row's value (WOE or points) of its bin, column by column."""
        indices = self._indices(features)
        out = np.empty((features.height, len(self.tables)), dtype=np.float64, order="F")
        for j, idx in enumerate(indices):
            out[:, j] = values[j][idx]
        return out

    def bin_indices(self, features: pl.DataFrame) -> IntArray:
        """``n x F`` bin numbers (see :meth:`_indices`)."""
        return np.column_stack(self._indices(features))

    def woe(self, features: pl.DataFrame) -> FloatArray:
        return self._matrix(features, self._woe)

    def logit(self, features: pl.DataFrame) -> FloatArray:
        """Log-odds of bad: the intercept plus each feature's coefficient times its WOE
        (scikit-learn's ``woe @ coef + intercept``, summed feature by feature)."""
        z = np.zeros(features.height, dtype=np.float64)
        for j, idx in enumerate(self._indices(features)):
            z += self._coef[j] * self._woe[j][idx]
        z += self.intercept
        return z

    def proba(self, features: pl.DataFrame) -> FloatArray:
        z = self.logit(features)
        return 1.0 / (1.0 + np.exp(-z))

    def point_matrix(self, features: pl.DataFrame) -> FloatArray:
        return self._matrix(features, self._points)

    def points(self, features: pl.DataFrame) -> FloatArray:
        total = np.zeros(features.height, dtype=np.float64)
        for j, idx in enumerate(self._indices(features)):
            total += self._points[j][idx]
        return total

    def adverse(self, features: pl.DataFrame) -> FloatArray:
        """Points lost against each feature's best bin seen in training (>= 0)."""
        lost: FloatArray = np.maximum(self._best[None, :] - self.point_matrix(features), 0.0)
        return lost

    def points_table(self) -> list[dict[str, Any]]:
        """Every bin of every feature with its counts, bad rate, WOE, IV share and points
        (for reports)."""
        rows: list[dict[str, Any]] = []
        for t, pts in zip(self.tables, self._points, strict=True):
            te, tn = sum(t.event), sum(t.nonevent)
            for i, label in enumerate(t.labels()):
                e, ne = t.event[i], t.nonevent[i]
                n = e + ne
                pe, pn = (e / te if te else 0.0), (ne / tn if tn else 0.0)
                iv = (pn - pe) * t.woe[i] if e and ne else 0.0
                rows.append(
                    {
                        "feature": t.name,
                        "bin": label,
                        "count": n,
                        "share": n / (te + tn) if te + tn else 0.0,
                        "bads": e,
                        "bad_rate": e / n if n else None,
                        "woe": t.woe[i],
                        "iv": iv,
                        "points": float(pts[i]),
                    }
                )
        return rows

    # ----------------------------------------------------------------------- storage

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "kind": "scorecard",
            "intercept": self.intercept,
            "scaling": {
                "method": "pdo_odds",
                "base_score": self.base_score,
                "base_odds": self.base_odds,
                "pdo": self.pdo,
            },
            "variables": [t.to_json() for t in self.tables],
            "candidates": self.candidates,
        }

    def artefacts(self) -> dict[str, bytes]:
        return {MODEL_NAME: dump_json(self.to_json())}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScorecardModel:
        if data.get("format") != MODEL_FORMAT:
            raise BundleError(f"model.json is not a {MODEL_FORMAT} model")
        scaling = data["scaling"]
        return cls(
            [BinTable.from_json(v) for v in data["variables"]],
            float(data["intercept"]),
            base_score=float(scaling["base_score"]),
            base_odds=float(scaling["base_odds"]),
            pdo=float(scaling["pdo"]),
            candidates=data.get("candidates", []),
        )


# --------------------------------------------------------------------------- training


def _woe_from_counts(
    event: npt.NDArray[np.int64], nonevent: npt.NDArray[np.int64]
) -> tuple[FloatArray, float]:
    """WOE per bin and for an unknown level, by optbinning's formula and guard (the same
    floating-point operations, so the values are the same bits)."""
    records = event + nonevent
    t_event, t_nonevent = event.sum(), nonevent.sum()
    mask = (event > 0) & (nonevent > 0)
    rate = np.zeros(len(records))
    woe = np.zeros(len(records))
    rate[mask] = event[mask] / records[mask]
    woe[mask] = np.log((1.0 / rate[mask] - 1) * t_event / t_nonevent)
    mean_rate = t_event / records.sum()
    unknown = float(np.log((1.0 / mean_rate - 1) * t_event / t_nonevent))
    return woe, unknown


def _pandas_features(ds: Dataset, names: Sequence[str]) -> Any:
    """The features as the pandas frame optbinning reads (numeric float, text object)."""
    frame = ds.frame.select(names).to_pandas()
    for c in names:
        if c in ds.categorical:
            frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
    return frame


@contextmanager
def _quiet_optbinning() -> Iterator[None]:
    """optbinning's own deprecation warnings from pandas are not ours to act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"optbinning(\..*)?$")
        yield


def _binning_process(ds: Dataset, min_iv: float) -> Any:
    from optbinning import BinningProcess

    numeric = {f: {"monotonic_trend": "auto_asc_desc"} for f in ds.numeric}
    return BinningProcess(
        list(ds.features),
        categorical_variables=list(ds.categorical),
        selection_criteria={"iv": {"min": min_iv}} if min_iv > 0 else None,
        binning_fit_params=numeric,
    )


def _logistic(c: float, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000, random_state=seed)


@dataclass
class _Fit:
    binning: Any  # optbinning.BinningProcess, fitted
    estimator: Any  # sklearn LogisticRegression on the selected features' WOE
    selected: list[str]
    candidates: list[dict[str, Any]]


def _fit(ds: Dataset, *, seed: int, c: float, min_iv: float, check_signs: bool) -> _Fit:
    table = _pandas_features(ds, ds.features)
    y = ds.y
    bp = _binning_process(ds, min_iv)
    with _quiet_optbinning():
        bp.fit(table, y)
        summary = bp.summary()
        woe = bp.transform(
            table, metric="woe", metric_special="empirical", metric_missing="empirical"
        )
    support = set(str(v) for v in bp.get_support(names=True))
    ivs = {str(r["name"]): float(r["iv"]) for r in summary.to_dict("records")}
    candidates = [
        {
            "name": f,
            "iv": ivs.get(f, 0.0),
            "status": "selected" if f in support else "iv-below-minimum",
        }
        for f in ds.features
    ]
    selected = [f for f in ds.features if f in support]
    if not selected:
        raise RiskInputError(
            f"{ds.source}: no feature has an information value of at least {min_iv} for "
            f"target {ds.target!r}; nothing to build a scorecard on"
        )
    status = {c["name"]: c for c in candidates}
    while True:
        est = _logistic(c, seed)
        est.fit(woe[selected].to_numpy(dtype=np.float64), y)
        coefs = est.coef_.ravel()
        wrong = [(float(b), f) for b, f in zip(coefs, selected, strict=True) if b > 0]
        if not check_signs or not wrong or len(selected) == 1:
            break
        worst = max(wrong)[1]
        status[worst]["status"] = "dropped-wrong-sign"
        selected.remove(worst)
    return _Fit(bp, est, selected, candidates)


def _export(fit: _Fit, *, base_score: float, base_odds: float, pdo: float) -> ScorecardModel:
    tables: list[BinTable] = []
    coefs = fit.estimator.coef_.ravel()
    for name, coef in zip(fit.selected, coefs, strict=True):
        optb = fit.binning.get_binned_variable(name)
        with _quiet_optbinning():
            bt = optb.binning_table.build(add_totals=False)
        event = bt["Event"].to_numpy(dtype=np.int64)
        nonevent = bt["Non-event"].to_numpy(dtype=np.int64)
        woe_all, unknown = _woe_from_counts(event, nonevent)
        # optbinning's rows: regular bins, then Special (unused: no special codes), Missing.
        k = len(event) - 2
        keep = [*range(k), k + 1]
        if optb.dtype == "numerical":
            splits = tuple(float(v) for v in optb.splits)
            groups: tuple[tuple[str, ...], ...] = ()
        else:
            if getattr(optb, "_cat_others", None):
                raise RuntimeError(f"{name}: 'others' categorical bins are not supported")
            splits = ()
            groups = tuple(tuple(str(v) for v in g) for g in optb.splits)
        e, ne = event[keep], nonevent[keep]
        pe, pn = e / max(event.sum(), 1), ne / max(nonevent.sum(), 1)
        iv = float(np.sum(np.where((e > 0) & (ne > 0), (pn - pe) * woe_all[keep], 0.0)))
        tables.append(
            BinTable(
                name=name,
                dtype=str(optb.dtype),
                splits=splits,
                groups=groups,
                event=tuple(int(v) for v in e),
                nonevent=tuple(int(v) for v in ne),
                woe=tuple(float(v) for v in woe_all[keep]),
                woe_unknown=unknown if optb.dtype == "categorical" else 0.0,
                coef=float(coef),
                iv=iv,
            )
        )
    return ScorecardModel(
        tables,
        float(fit.estimator.intercept_[0]),
        base_score=base_score,
        base_odds=base_odds,
        pdo=pdo,
        candidates=fit.candidates,
    )


def _reference_proba(fit: _Fit, ds: Dataset) -> FloatArray:
    """optbinning's transform and scikit-learn's predict_proba on ``ds``."""
    with _quiet_optbinning():
        woe = fit.binning.transform(
            _pandas_features(ds, ds.features),
            metric="woe",
            metric_special="empirical",
            metric_missing="empirical",
        )
    p: FloatArray = fit.estimator.predict_proba(woe[fit.selected].to_numpy(np.float64))[:, 1]
    return p


def train_scorecard(
    ds: Dataset,
    *,
    seed: int = 7,
    base_score: float = 600,
    base_odds: float = 50,
    pdo: float = 20,
    name: str = "scorecard",
    c: float = DEFAULT_C,
    min_iv: float = DEFAULT_MIN_IV,
    check_signs: bool = True,
    holdout: Dataset | None = None,
    created_at: datetime | None = None,
) -> Bundle:
    """A scorecard bundle trained on ``ds`` (see the module docstring). ``holdout``, when
    given, is scored and its AUC/KS/Gini recorded in the bundle's metrics."""
    bundle, _ = train_scorecard_with_reference(
        ds,
        seed=seed,
        base_score=base_score,
        base_odds=base_odds,
        pdo=pdo,
        name=name,
        c=c,
        min_iv=min_iv,
        check_signs=check_signs,
        holdout=holdout,
        created_at=created_at,
    )
    return bundle


def train_scorecard_with_reference(
    ds: Dataset,
    *,
    seed: int = 7,
    base_score: float = 600,
    base_odds: float = 50,
    pdo: float = 20,
    name: str = "scorecard",
    c: float = DEFAULT_C,
    min_iv: float = DEFAULT_MIN_IV,
    check_signs: bool = True,
    holdout: Dataset | None = None,
    created_at: datetime | None = None,
) -> tuple[Bundle, Any]:
    """:func:`train_scorecard`, also returning the fitted optbinning ``BinningProcess`` and
    scikit-learn estimator (as ``(binning, estimator, selected features)``) that the bundle's
    tables were exported from: for tests and benchmarks that compare with the libraries'
    own scoring."""
    bads = int(ds.y.sum())
    fewest = min(bads, ds.n_rows - bads)
    if fewest < MIN_CLASS_ROWS:
        raise RiskInputError(
            f"{ds.source}: {fewest} {'bad' if bads == fewest else 'good'} row(s) for target "
            f"{ds.target!r}; a scorecard needs at least {MIN_CLASS_ROWS} of each class"
        )
    fit = _fit(ds, seed=seed, c=c, min_iv=min_iv, check_signs=check_signs)
    model = _export(fit, base_score=base_score, base_odds=base_odds, pdo=pdo)
    features = ds.frame.select(model.features)
    p_train = model.proba(features)

    # The exported tables must score exactly as the libraries do.
    check = (
        ds
        if ds.n_rows <= REFERENCE_CHECK_ROWS
        else ds.rows(np.linspace(0, ds.n_rows - 1, REFERENCE_CHECK_ROWS).astype(np.int64))
    )
    ref = _reference_proba(fit, check)
    own = model.proba(check.frame.select(model.features))
    gap = float(np.max(np.abs(ref - own)))
    if gap > REFERENCE_TOLERANCE:
        raise RuntimeError(
            f"the exported scorecard differs from optbinning's own scoring by {gap:.3g}"
        )

    result: dict[str, Any] = {"train": metrics.summary(ds.y, p_train)}
    if holdout is not None:
        result["holdout"] = metrics.summary(
            holdout.y, model.proba(holdout.frame.select(model.features))
        )
    bundle = Bundle(
        name=name,
        kind="scorecard",
        features=model.features,
        categorical=[f for f in model.features if f in ds.categorical],
        target=ds.target,
        fingerprint=ds.fingerprint,
        metrics=result,
        params={
            "seed": seed,
            "base_score": base_score,
            "base_odds": base_odds,
            "pdo": pdo,
            "C": c,
            "min_iv": min_iv,
            "check_signs": check_signs,
            "binning": "optbinning.BinningProcess, numeric monotonic_trend=auto_asc_desc",
            "estimator": "sklearn LogisticRegression(l2, lbfgs) on WOE",
        },
        baseline=metrics.make_baseline(features, model.features, ds.categorical, p_train),
        scorer=model,
        created_at=created_at,
        training={
            "rows": ds.n_rows,
            "bad_rate": round(ds.bad_rate, 6),
            "candidates": list(ds.features),
            "source": ds.source,
        },
    )
    return bundle, (fit.binning, fit.estimator, tuple(fit.selected))
