"""Model metrics against scikit-learn and scipy, PSI against hand-computed values, the
four-fifths rule."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score

from fairdun.risk import metrics
from fairdun.risk.bundle import Bundle
from fairdun.risk.dataset import Dataset


@pytest.fixture
def scored() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    y = (rng.random(3000) < 0.25).astype(np.int8)
    p = np.clip(0.25 + 0.2 * (y - 0.25) + rng.normal(0, 0.15, 3000), 0.001, 0.999)
    return y, np.round(p, 2)  # rounded: many ties


def test_auc_gini_ks_match_sklearn_and_scipy(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = scored
    assert metrics.auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert metrics.gini(y, p) == pytest.approx(2 * roc_auc_score(y, p) - 1, abs=1e-12)
    assert metrics.ks(y, p) == pytest.approx(ks_2samp(p[y == 1], p[y == 0]).statistic, abs=1e-12)


def test_undefined_metrics_are_nan_or_none() -> None:
    assert math.isnan(metrics.auc([0, 0, 0], [0.1, 0.2, 0.3]))
    assert metrics.summary([1, 1], [0.2, 0.3])["auc"] is None
    with pytest.raises(ValueError, match="0/1"):
        metrics.auc([0, 2], [0.1, 0.2])


def test_psi_known_values() -> None:
    assert metrics.psi([0.25, 0.25, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25]) == 0.0
    expected = sum((a - 0.25) * math.log(a / 0.25) for a in (0.1, 0.2, 0.3, 0.4))  # = 0.228217...
    assert metrics.psi([0.25] * 4, [0.1, 0.2, 0.3, 0.4]) == pytest.approx(expected)
    assert metrics.psi([0.25] * 4, [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.228217, abs=1e-6)
    # counts are normalised; an empty bin is floored at 0.0001
    assert metrics.psi([50, 50], [100, 0]) == pytest.approx(
        (0.9999 - 0.5) * math.log(0.9999 / 0.5) + (0.0001 - 0.5) * math.log(0.0001 / 0.5),
        rel=1e-3,
    )


@pytest.mark.parametrize(
    ("value", "status"),
    [(0.0, "stable"), (0.0999, "stable"), (0.10, "watch"), (0.2499, "watch"), (0.25, "shift")],
)
def test_psi_thresholds(value: float, status: str) -> None:
    assert metrics.psi_status(value) == status


def test_gains_table(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = scored
    table = metrics.gains_table(y, p)
    assert table.height == 10 and table["n"].sum() == y.size
    assert table["cum_bads_pct"][-1] == pytest.approx(1.0)
    assert table["cum_goods_pct"][-1] == pytest.approx(1.0)
    assert table["p_min"][0] >= table["p_max"][-1]  # riskiest first
    assert table["lift"][0] > 1 > table["lift"][-1]
    assert table["ks"].max() == pytest.approx(metrics.ks(y, p), abs=0.02)


def test_calibration_of_a_calibrated_model() -> None:
    rng = np.random.default_rng(2)
    p = rng.uniform(0.02, 0.6, 40_000)
    y = (rng.random(p.size) < p).astype(np.int8)
    table = metrics.calibration(y, p)
    assert table.height == 10
    assert np.allclose(table["p_mean"].to_numpy(), table["bad_rate"].to_numpy(), atol=0.03)


def test_score_distribution_counts() -> None:
    table = metrics.score_distribution([500.0, 550.0, 600.0, 650.0], [1, 0, 0, 0], bins=2)
    assert table["n"].to_list() == [2, 2]
    assert table["bads"].to_list() == [1, 0]
    assert table["goods"].to_list() == [1, 2]


def test_disparate_impact_four_fifths_rule() -> None:
    # group a: 8 of 10 approved; group b: 6 of 10 -> ratio 0.75, under four fifths
    p = np.array([0.1] * 8 + [0.9] * 2 + [0.1] * 6 + [0.9] * 4)
    y = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1] * 2)
    groups = ["a"] * 10 + ["b"] * 10
    table = metrics.disparate_impact(y, p, groups, cutoff=0.5)
    rows = {r["group"]: r for r in table.to_dicts()}
    assert rows["a"]["approval_rate"] == pytest.approx(0.8)
    assert rows["a"]["air"] == pytest.approx(1.0) and rows["a"]["four_fifths"]
    assert rows["b"]["air"] == pytest.approx(0.75) and not rows["b"]["four_fifths"]
    assert rows["a"]["auc"] == pytest.approx(roc_auc_score(y[:10], p[:10]), abs=1e-4)
    no_outcome = metrics.disparate_impact(None, p, pl.Series(groups), cutoff=0.5)
    assert "auc" not in no_outcome.columns and no_outcome.height == 2


def test_psi_table_flags_a_shifted_feature(scorecard_bundle: Bundle, risk_ds: Dataset) -> None:
    same = metrics.psi_table(scorecard_bundle, risk_ds.frame)
    assert [r.name for r in same] == [*scorecard_bundle.features, "score"]
    assert all(r.status == "stable" and r.psi < 1e-9 for r in same)
    shifted = risk_ds.frame.with_columns(utilisation=pl.col("utilisation") + 0.5)
    rows = {r.name: r for r in metrics.psi_table(scorecard_bundle, shifted)}
    assert rows["utilisation"].status == "shift"
    assert rows["months_on_book"].status == "stable"
    assert rows["score"].kind == "score" and rows["score"].psi > 0


def test_psi_table_with_categorical_and_missing_values(
    challenger_bundle: Bundle, risk_ds: Dataset
) -> None:
    frame = risk_ds.frame.with_columns(channel=pl.lit("kiosk"), share_paid=pl.lit(None))
    rows = {r.name: r for r in metrics.psi_table(challenger_bundle, frame)}
    assert rows["channel"].status == "shift"
    assert rows["share_paid"].status == "shift"
    assert rows["channel"].actual[-2] == pytest.approx(1.0)  # all in "other levels"
