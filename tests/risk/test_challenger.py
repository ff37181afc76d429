"""The LightGBM challenger: training, categorical encoding, SHAP adverse factors, text
storage, determinism."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from fairdun.risk import metrics
from fairdun.risk.bundle import Bundle
from fairdun.risk.challenger import BoosterModel, train_challenger
from fairdun.risk.dataset import Dataset, RiskInputError, from_frame

from .conftest import RISK_FEATURES, TRAINED_AT


def test_challenger_learns_and_records_how_many_trees(
    challenger_bundle: Bundle, risk_test_ds: Dataset
) -> None:
    p = challenger_bundle.predict_proba(risk_test_ds.frame)
    assert p.shape == (risk_test_ds.n_rows,)
    assert ((p > 0) & (p < 1)).all()
    assert metrics.auc(risk_test_ds.y, p) > 0.7
    validation = challenger_bundle.metrics["validation"]
    assert validation["method"] == "5-fold stratified CV"
    assert validation["rounds"] == challenger_bundle.model["rounds"] > 0
    assert challenger_bundle.kind == "lightgbm"
    assert challenger_bundle.points(risk_test_ds.frame) is None


def test_categorical_encoding_is_sorted_levels_and_unseen_levels_are_missing(
    challenger_bundle: Bundle, make_risk_frame: Callable[..., pl.DataFrame]
) -> None:
    assert challenger_bundle.categorical == ("channel",)
    assert challenger_bundle.model["encodings"] == {"channel": ["agent", "app", "branch", "web"]}
    frame = make_risk_frame(50, seed=9)
    unseen = frame.with_columns(channel=pl.lit("kiosk"))
    missing = frame.with_columns(channel=pl.lit(None, dtype=pl.String))
    assert np.array_equal(
        challenger_bundle.predict_proba(unseen), challenger_bundle.predict_proba(missing)
    )


def test_adverse_factors_are_shap_values_that_add_up_to_the_log_odds(
    challenger_bundle: Bundle, risk_test_ds: Dataset
) -> None:
    scorer = challenger_bundle.scorer
    assert isinstance(scorer, BoosterModel)
    frame = risk_test_ds.frame.head(200)
    contrib = challenger_bundle.adverse(frame)
    assert contrib.shape == (200, len(challenger_bundle.features))
    raw = scorer.booster.predict(
        scorer.matrix(challenger_bundle.feature_frame(frame)), raw_score=True
    )
    full = np.asarray(
        scorer.booster.predict(
            scorer.matrix(challenger_bundle.feature_frame(frame)), pred_contrib=True
        )
    )
    assert np.allclose(contrib.sum(axis=1) + full[:, -1], raw)
    # the late (dpd_now) column pushes toward bad for late loans on average
    j = challenger_bundle.features.index("dpd_now")
    late = frame["dpd_now"].to_numpy() > 30
    assert contrib[late, j].mean() > 0 > contrib[~late, j].mean()


def test_booster_is_stored_as_lightgbm_text(challenger_bundle: Bundle, tmp_path: Path) -> None:
    challenger_bundle.save(tmp_path)
    text = (tmp_path / "booster.txt").read_text(encoding="utf-8")
    assert text.startswith("tree\n")
    assert "feature_names=f0 f1 f2" in text


def test_retraining_is_deterministic(risk_ds: Dataset, challenger_bundle: Bundle) -> None:
    again = train_challenger(risk_ds, created_at=TRAINED_AT)
    assert again.sha256 == challenger_bundle.sha256
    assert again.version == challenger_bundle.version


def test_validation_split_and_holdout(risk_ds: Dataset, risk_test_ds: Dataset) -> None:
    bundle = train_challenger(
        risk_ds, validation="split", holdout=risk_test_ds, created_at=TRAINED_AT
    )
    assert bundle.metrics["validation"]["method"] == "20% stratified validation split"
    assert bundle.metrics["holdout"]["n"] == risk_test_ds.n_rows
    with pytest.raises(ValueError, match="validation must be"):
        train_challenger(risk_ds, validation="never")


def test_numeric_only_data(make_risk_frame: Callable[..., pl.DataFrame]) -> None:
    ds = from_frame(
        make_risk_frame(600, seed=5),
        "bad",
        features=[f for f in RISK_FEATURES if f != "channel"],
        protected=("sex", "age_band"),
    )
    bundle = train_challenger(ds, params={"learning_rate": 0.1}, created_at=TRAINED_AT)
    assert bundle.categorical == () and bundle.model["encodings"] == {}
    assert bundle.params["learning_rate"] == 0.1


def test_taiwan_challenger_reaches_its_target(taiwan_csv: Path) -> None:
    from sklearn.model_selection import train_test_split

    from fairdun.risk.dataset import load_taiwan

    ds = load_taiwan(taiwan_csv)
    fit, test = train_test_split(np.arange(ds.n_rows), test_size=0.3, stratify=ds.y, random_state=7)
    bundle = train_challenger(ds.rows(fit))
    held = ds.rows(test)
    assert metrics.auc(held.y, bundle.predict_proba(held.frame)) >= 0.78


def test_too_few_bads_is_a_clear_error(make_risk_frame: Callable[..., pl.DataFrame]) -> None:
    frame = make_risk_frame(300, seed=6).with_columns(bad=(pl.col("loan_id") <= 4).cast(pl.Int64))
    ds = from_frame(frame, "bad", features=RISK_FEATURES, protected=("sex", "age_band"))
    with pytest.raises(RiskInputError, match="4 bad row"):
        train_challenger(ds)
