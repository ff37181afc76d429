"""The scorecard: exported tables score exactly as optbinning and scikit-learn do, the
points scaling, signs, determinism."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pytest

from fairdun.risk.bundle import Bundle
from fairdun.risk.dataset import Dataset, RiskInputError, from_frame
from fairdun.risk.scorecard import ScorecardModel, train_scorecard, train_scorecard_with_reference

from .conftest import RISK_FEATURES, TRAINED_AT


def _pandas(frame: pl.DataFrame, names: tuple[str, ...], categorical: tuple[str, ...]) -> Any:
    pdf = frame.select(names).to_pandas()
    for c in categorical:
        pdf[c] = pdf[c].astype(object).where(pdf[c].notna(), None)
    return pdf


@pytest.fixture(scope="module")
def reference(risk_ds: Dataset) -> tuple[Bundle, Any, Any, tuple[str, ...]]:
    bundle, (binning, estimator, selected) = train_scorecard_with_reference(
        risk_ds, created_at=TRAINED_AT
    )
    return bundle, binning, estimator, selected


def _library_proba(binning: Any, estimator: Any, selected: tuple[str, ...], ds: Dataset) -> Any:
    woe = binning.transform(
        _pandas(ds.frame, ds.features, ds.categorical),
        metric="woe",
        metric_special="empirical",
        metric_missing="empirical",
    )
    return estimator.predict_proba(woe[list(selected)].to_numpy(np.float64))[:, 1]


def test_own_scoring_reproduces_optbinning_on_the_training_run(
    reference: tuple[Bundle, Any, Any, tuple[str, ...]], risk_ds: Dataset
) -> None:
    bundle, binning, estimator, selected = reference
    ours = bundle.predict_proba(risk_ds.frame)
    theirs = _library_proba(binning, estimator, selected, risk_ds)
    assert np.max(np.abs(ours - theirs)) < 1e-9


def test_own_scoring_reproduces_optbinning_on_new_data_with_missing_and_unseen_levels(
    reference: tuple[Bundle, Any, Any, tuple[str, ...]],
    make_risk_frame: Callable[..., pl.DataFrame],
) -> None:
    bundle, binning, estimator, selected = reference
    frame = make_risk_frame(500, seed=11).with_columns(
        share_paid=pl.when(pl.col("loan_id") % 7 == 0).then(None).otherwise(pl.col("share_paid")),
        channel=pl.when(pl.col("loan_id") % 5 == 0)
        .then(pl.lit("kiosk"))
        .otherwise(pl.col("channel")),
        dpd_now=pl.when(pl.col("loan_id") == 3).then(10_000).otherwise(pl.col("dpd_now")),
    )
    ds = from_frame(frame, "bad", features=RISK_FEATURES, protected=("sex", "age_band"))
    ours = bundle.predict_proba(ds.frame)
    theirs = _library_proba(binning, estimator, selected, ds)
    assert np.max(np.abs(ours - theirs)) < 1e-9


@pytest.mark.filterwarnings("ignore::Warning:optbinning.*")
def test_points_match_optbinning_scorecard(
    reference: tuple[Bundle, Any, Any, tuple[str, ...]], risk_ds: Dataset
) -> None:
    """optbinning's own Scorecard on the selected features gives the same points."""
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression

    bundle, _, _, selected = reference
    cats = [c for c in selected if c in risk_ds.categorical]
    process = BinningProcess(
        list(selected),
        categorical_variables=cats,
        binning_fit_params={
            f: {"monotonic_trend": "auto_asc_desc"} for f in selected if f not in cats
        },
    )
    card = Scorecard(
        binning_process=process,
        estimator=LogisticRegression(C=1.0, max_iter=2000, random_state=7),
        scaling_method="pdo_odds",
        scaling_method_params={"pdo": 20, "odds": 50, "scorecard_points": 600},
    )
    x = _pandas(risk_ds.frame, selected, tuple(cats))
    card.fit(x, risk_ds.y, metric_special="empirical", metric_missing="empirical")
    theirs = card.score(x)
    ours = bundle.points(risk_ds.frame)
    assert ours is not None
    assert np.max(np.abs(ours - theirs)) < 1e-6
    assert np.max(np.abs(bundle.predict_proba(risk_ds.frame) - card.predict_proba(x)[:, 1])) < 1e-9


@pytest.mark.parametrize(("base", "odds", "pdo"), [(600, 50, 20), (500, 20, 40)])
def test_points_scaling(risk_ds: Dataset, base: float, odds: float, pdo: float) -> None:
    """``base`` points at good:bad odds of ``odds``; ``pdo`` more points double the odds."""
    bundle = train_scorecard(
        risk_ds, base_score=base, base_odds=odds, pdo=pdo, created_at=TRAINED_AT
    )
    p = bundle.predict_proba(risk_ds.frame)
    points = bundle.points(risk_ds.frame)
    assert points is not None
    good_bad_odds = (1 - p) / p
    expected = base + pdo * np.log2(good_bad_odds / odds)
    assert np.max(np.abs(points - expected)) < 1e-6
    # the scaling itself: a log-odds of ln(1/odds) is exactly the base score
    scorer = bundle.scorer
    assert isinstance(scorer, ScorecardModel)
    assert scorer.offset - scorer.factor * math.log(1 / odds) == pytest.approx(base)
    assert scorer.offset - scorer.factor * math.log(1 / (2 * odds)) == pytest.approx(base + pdo)


def test_every_coefficient_has_the_sensible_sign_and_points_follow_bad_rate(
    scorecard_bundle: Bundle,
) -> None:
    scorer = scorecard_bundle.scorer
    assert isinstance(scorer, ScorecardModel)
    for table in scorer.tables:
        assert table.coef < 0, table.name
    for row in scorer.points_table():
        assert math.isfinite(row["points"])
    # within a feature, a bin with a higher bad rate never earns more points
    by_feature: dict[str, list[tuple[float, float]]] = {}
    for row in scorer.points_table():
        if row["bad_rate"] is not None and row["count"] > 0 and row["bin"] != "Missing":
            by_feature.setdefault(row["feature"], []).append((row["bad_rate"], row["points"]))
    for feature, pairs in by_feature.items():
        pairs.sort()
        pts = [p for _, p in pairs]
        assert all(a >= b - 1e-9 for a, b in itertools.pairwise(pts)), feature


def test_model_json_holds_the_tables(scorecard_bundle: Bundle) -> None:
    model = scorecard_bundle.model
    assert model["format"] == "fairdun-scorecard/1"
    assert model["scaling"] == {
        "method": "pdo_odds",
        "base_score": 600.0,
        "base_odds": 50.0,
        "pdo": 20.0,
    }
    names = [v["name"] for v in model["variables"]]
    assert tuple(names) == scorecard_bundle.features
    assert "noise" not in names  # information value far below 0.02
    channel = next(v for v in model["variables"] if v["name"] == "channel")
    assert channel["dtype"] == "categorical"
    assert sorted(lv for g in channel["groups"] for lv in g) == ["agent", "app", "branch", "web"]
    assert len(channel["woe"]) == len(channel["groups"]) + 1  # and the missing bin
    dpd = next(v for v in model["variables"] if v["name"] == "dpd_now")
    assert dpd["splits"] == sorted(dpd["splits"]) and len(dpd["woe"]) == len(dpd["splits"]) + 2
    statuses = {c["name"]: c["status"] for c in model["candidates"]}
    assert statuses["noise"] == "iv-below-minimum"


def test_adverse_is_points_lost_against_the_best_bin(
    scorecard_bundle: Bundle, risk_ds: Dataset
) -> None:
    scorer = scorecard_bundle.scorer
    assert isinstance(scorer, ScorecardModel)
    adverse = scorecard_bundle.adverse(risk_ds.frame)
    assert adverse.shape == (risk_ds.n_rows, len(scorecard_bundle.features))
    assert (adverse >= 0).all()
    matrix = scorer.point_matrix(risk_ds.frame.select(scorecard_bundle.features))
    best = matrix.max(axis=0)
    assert np.allclose(adverse, best[None, :] - matrix)


def test_retraining_is_deterministic(risk_ds: Dataset, scorecard_bundle: Bundle) -> None:
    again = train_scorecard(risk_ds, created_at=TRAINED_AT)
    assert again.sha256 == scorecard_bundle.sha256
    later = train_scorecard(risk_ds)
    assert later.version == scorecard_bundle.version  # version carries no time


def test_no_informative_feature_is_a_clear_error(risk_ds: Dataset) -> None:
    with pytest.raises(RiskInputError, match="no feature has an information value of at least"):
        train_scorecard(risk_ds, min_iv=5.0)


def test_holdout_metrics_are_recorded(risk_ds: Dataset, risk_test_ds: Dataset) -> None:
    bundle = train_scorecard(risk_ds, holdout=risk_test_ds, created_at=TRAINED_AT)
    assert set(bundle.metrics) == {"train", "holdout"}
    assert bundle.metrics["holdout"]["n"] == risk_test_ds.n_rows
    assert 0.6 < bundle.metrics["holdout"]["auc"] < 0.95


def test_taiwan_scorecard_reaches_the_published_level(taiwan_csv: Any) -> None:
    from sklearn.model_selection import train_test_split

    from fairdun.risk import metrics
    from fairdun.risk.dataset import load_taiwan

    ds = load_taiwan(taiwan_csv)
    fit, test = train_test_split(np.arange(ds.n_rows), test_size=0.3, stratify=ds.y, random_state=7)
    bundle = train_scorecard(ds.rows(fit))
    held = ds.rows(test)
    assert metrics.auc(held.y, bundle.predict_proba(held.frame)) >= 0.77
