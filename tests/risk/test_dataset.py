"""Loading training data: target coercion, feature types, protected attributes, the
fingerprint, and clear errors for bad files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from fairdun.risk.dataset import (
    TAIWAN_FEATURES,
    RiskInputError,
    from_frame,
    load_csv,
    load_german,
    load_taiwan,
)


def _write(path: Path, frame: pl.DataFrame) -> Path:
    frame.write_csv(path)
    return path


@pytest.fixture
def small() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "dpd_now": [0, 5, 40, 0, 90, 1],
            "channel": ["app", "web", "web", None, "app", "agent"],
            "sex": ["f", "m", "f", "m", "f", "m"],
            "y": [0, 0, 1, 0, 1, 0],
        }
    )


def test_load_csv_types_features_and_keeps_protected_aside(
    tmp_path: Path, small: pl.DataFrame
) -> None:
    ds = load_csv(_write(tmp_path / "book.csv", small), "y", protected=["sex"], id_columns=["id"])
    assert ds.features == ("dpd_now", "channel")
    assert ds.categorical == ("channel",)
    assert ds.protected == ("sex",)
    assert "sex" in ds.frame.columns and "sex" not in ds.features
    assert ds.frame["dpd_now"].dtype == pl.Float64
    assert ds.frame["channel"].dtype == pl.String
    assert ds.y.tolist() == [0, 0, 1, 0, 1, 0]
    assert ds.source.endswith("book.csv")


def test_fingerprint_depends_on_the_data_not_on_column_order_or_formatting(
    tmp_path: Path, small: pl.DataFrame
) -> None:
    a = load_csv(_write(tmp_path / "a.csv", small), "y", protected=["sex"], id_columns=["id"])
    reordered = small.select("y", "channel", "sex", "id", "dpd_now").with_columns(
        pl.col("dpd_now").cast(pl.Float64)
    )
    b = load_csv(_write(tmp_path / "b.csv", reordered), "y", protected=["sex"], id_columns=["id"])
    assert a.fingerprint == b.fingerprint
    assert len(a.fingerprint) == 64
    changed = small.with_columns(
        pl.when(pl.col("id") == 2).then(6).otherwise(pl.col("dpd_now")).alias("dpd_now")
    )
    c = load_csv(_write(tmp_path / "c.csv", changed), "y", protected=["sex"], id_columns=["id"])
    assert c.fingerprint != a.fingerprint


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RiskInputError, match=r"nope\.csv: no such file"):
        load_csv(tmp_path / "nope.csv", "y")


def test_missing_target_names_file_and_column(tmp_path: Path, small: pl.DataFrame) -> None:
    path = _write(tmp_path / "book.csv", small.drop("y"))
    with pytest.raises(RiskInputError, match=r"book\.csv: no target column 'y'"):
        load_csv(path, "y")


def test_one_class_target_is_refused(tmp_path: Path, small: pl.DataFrame) -> None:
    path = _write(tmp_path / "book.csv", small.with_columns(y=pl.lit(0)))
    with pytest.raises(RiskInputError, match=r"book\.csv: target 'y' has one class only"):
        load_csv(path, "y")


def test_all_missing_feature_is_named(tmp_path: Path, small: pl.DataFrame) -> None:
    path = _write(tmp_path / "book.csv", small.with_columns(income=pl.lit(None, pl.Float64)))
    with pytest.raises(RiskInputError, match=r"book\.csv: feature 'income' is empty"):
        load_csv(path, "y")


def test_target_with_missing_values_and_three_classes_are_refused(small: pl.DataFrame) -> None:
    with pytest.raises(RiskInputError, match="target 'y' is missing in 1 row"):
        from_frame(small.with_columns(pl.Series("y", [0, 1, None, 0, 1, 0])), "y")
    with pytest.raises(RiskInputError, match="two classes, found 3"):
        from_frame(small.with_columns(pl.Series("y", [0, 1, 2, 0, 1, 0])), "y")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["true", "false", "true"], [1, 0, 1]),
        (["good", "bad", "bad"], [0, 1, 1]),
        (["1", "0", "0"], [1, 0, 0]),
    ],
)
def test_target_levels_known_without_help(values: list[str], expected: list[int]) -> None:
    ds = from_frame(pl.DataFrame({"x": [1.0, 2.0, 3.0], "t": values}), "t")
    assert ds.y.tolist() == expected


def test_other_levels_need_bad_label() -> None:
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0], "t": ["paid", "default", "paid"]})
    with pytest.raises(RiskInputError, match="say which one is bad with bad_label"):
        from_frame(frame, "t")
    assert from_frame(frame, "t", bad_label="default").y.tolist() == [0, 1, 0]
    with pytest.raises(RiskInputError, match="bad_label 'late' is not a level"):
        from_frame(frame, "t", bad_label="late")


def test_protected_attribute_can_never_be_a_feature(small: pl.DataFrame) -> None:
    with pytest.raises(RiskInputError, match="'sex' is a protected attribute"):
        from_frame(small, "y", features=["dpd_now", "sex"], protected=["sex"])
    ds = from_frame(small, "y", protected=["sex"], id_columns=["id"])
    assert ds.features == ("dpd_now", "channel")


def test_unusable_feature_types_are_named() -> None:
    frame = pl.DataFrame(
        {
            "opened": pl.date_range(pl.date(2026, 1, 1), pl.date(2026, 1, 4), eager=True),
            "y": [0, 1, 0, 1],
        }
    )
    with pytest.raises(RiskInputError, match="feature 'opened' has type Date"):
        from_frame(frame, "y")


def test_rows_gives_a_checked_subset_with_its_own_fingerprint(
    make_risk_frame: Callable[..., pl.DataFrame],
) -> None:
    ds = from_frame(
        make_risk_frame(300), "bad", protected=["sex", "age_band"], id_columns=["loan_id"]
    )
    part = ds.rows(np.arange(0, 300, 2))
    assert part.n_rows == 150
    assert part.features == ds.features and part.protected == ds.protected
    assert part.fingerprint != ds.fingerprint
    assert part.fingerprint == ds.rows(np.arange(0, 300, 2)).fingerprint


def test_taiwan_loader_engineers_features_and_protects_sex_age_marriage(
    taiwan_csv: Path,
) -> None:
    ds = load_taiwan(taiwan_csv)
    assert ds.n_rows == 30_000
    assert ds.features == TAIWAN_FEATURES
    for col in ("SEX", "MARRIAGE", "AGE", "AGE_BAND", "EDUCATION", "ID"):
        assert col not in ds.features
    assert set(ds.protected) == {"SEX", "MARRIAGE", "AGE_BAND"}
    assert 0.21 < ds.bad_rate < 0.23
    row = ds.frame.row(0, named=True)
    assert row["pay_max"] == 2 and row["months_late"] == 2
    assert row["util_now"] == pytest.approx(3913 / 20000)


def test_german_loader_uses_bad_label_and_protects(german_csv: Path) -> None:
    ds = load_german(german_csv)
    assert ds.n_rows == 1000 and ds.bad_rate == pytest.approx(0.3)
    for col in ("personal_status_and_sex", "age_in_years", "foreign_worker", "age_band"):
        assert col in ds.protected and col not in ds.features
