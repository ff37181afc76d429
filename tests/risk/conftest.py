"""Fixtures for the risk model tests: a small synthetic loan book with a known relation
between its features and default, and bundles trained on it once per session."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from fairdun.risk.bundle import Bundle
from fairdun.risk.challenger import train_challenger
from fairdun.risk.dataset import Dataset, from_frame
from fairdun.risk.scorecard import train_scorecard

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
TAIWAN_CSV = DATA / "uci-taiwan-credit-default" / "UCI_Credit_Card.csv"
GERMAN_CSV = DATA / "german-credit" / "germancredit.csv"
TRAINED_AT = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
RISK_FEATURES = (
    "dpd_now",
    "share_paid",
    "utilisation",
    "months_on_book",
    "promises_broken",
    "channel",
    "noise",
)


def make_loans(n: int = 2000, seed: int = 3) -> pl.DataFrame:
    """A deterministic synthetic book: ledger-like features, a categorical channel, two
    protected attributes with no effect, and ``bad`` drawn from a logistic model."""
    rng = np.random.default_rng(seed)
    late = rng.random(n) < 0.25
    dpd_now = np.where(late, rng.integers(1, 91, n), 0).astype(np.int64)
    share_paid = np.clip(rng.beta(5, 1.5, n), 0, 1)
    share_missing = rng.random(n) < 0.03
    utilisation = rng.uniform(0.0, 1.2, n)
    months = rng.integers(1, 37, n)
    broken = rng.poisson(0.4, n)
    channel = rng.choice(np.array(["app", "branch", "web", "agent"]), n, p=[0.4, 0.2, 0.3, 0.1])
    effect = {"app": 0.0, "branch": -0.4, "web": 0.5, "agent": 0.9}
    z = (
        -1.6
        + 0.035 * dpd_now
        - 2.0 * (share_paid - 0.75)
        + 0.9 * utilisation
        - 0.03 * months
        + 0.45 * broken
        + np.array([effect[c] for c in channel])
    )
    bad = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(np.int64)
    channel_values: list[str | None] = list(channel)
    for i in np.flatnonzero(rng.random(n) < 0.02):
        channel_values[i] = None
    return pl.DataFrame(
        {
            "loan_id": np.arange(1, n + 1),
            "dpd_now": dpd_now,
            "share_paid": [
                None if m else float(v) for v, m in zip(share_paid, share_missing, strict=True)
            ],
            "utilisation": utilisation,
            "months_on_book": months,
            "promises_broken": broken,
            "channel": channel_values,
            "noise": rng.normal(size=n),
            "sex": rng.choice(np.array(["female", "male"]), n),
            "age_band": rng.choice(np.array(["<25", "25-34", "35-44", "45+"]), n),
            "bad": bad,
        },
        schema_overrides={"share_paid": pl.Float64, "channel": pl.String},
    )


@pytest.fixture(scope="session")
def make_risk_frame() -> Callable[..., pl.DataFrame]:
    return make_loans


@pytest.fixture(scope="session")
def risk_ds() -> Dataset:
    return from_frame(
        make_loans(2000, seed=3),
        "bad",
        features=RISK_FEATURES,
        protected=("sex", "age_band"),
        id_columns=("loan_id",),
        source="synthetic",
    )


@pytest.fixture(scope="session")
def risk_test_ds() -> Dataset:
    return from_frame(
        make_loans(800, seed=4),
        "bad",
        features=RISK_FEATURES,
        protected=("sex", "age_band"),
        id_columns=("loan_id",),
        source="synthetic-test",
    )


@pytest.fixture(scope="session")
def scorecard_bundle(risk_ds: Dataset) -> Bundle:
    return train_scorecard(risk_ds, created_at=TRAINED_AT)


@pytest.fixture(scope="session")
def challenger_bundle(risk_ds: Dataset) -> Bundle:
    return train_challenger(risk_ds, created_at=TRAINED_AT)


@pytest.fixture(params=["scorecard", "lightgbm"])
def any_bundle(
    request: pytest.FixtureRequest, scorecard_bundle: Bundle, challenger_bundle: Bundle
) -> Bundle:
    return scorecard_bundle if request.param == "scorecard" else challenger_bundle


@pytest.fixture
def taiwan_csv() -> Path:
    if not TAIWAN_CSV.is_file():
        pytest.skip(f"the Taiwan credit data is not at {TAIWAN_CSV} (../shared/data)")
    return TAIWAN_CSV


@pytest.fixture
def german_csv() -> Path:
    if not GERMAN_CSV.is_file():
        pytest.skip(f"the German credit data is not at {GERMAN_CSV} (../shared/data)")
    return GERMAN_CSV
