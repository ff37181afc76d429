"""Bundles on disk: the round trip, and every way a bundle is refused (altered files, a
missing file, an edited manifest, an unknown format, the wrong pinned digest), and scoring
data without a model feature."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from fairdun.risk.bundle import FORMAT, Bundle, BundleError, dump_json, sha256_bytes
from fairdun.risk.dataset import Dataset, RiskInputError

FILES = {
    "scorecard": ["manifest.json", "model.json", "baseline.json"],
    "lightgbm": ["manifest.json", "model.json", "booster.txt", "baseline.json"],
}


def test_round_trip_keeps_identity_and_predictions(
    any_bundle: Bundle, risk_test_ds: Dataset, tmp_path: Path
) -> None:
    any_bundle.save(tmp_path / "b")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted(FILES[any_bundle.kind])
    loaded = Bundle.load(tmp_path / "b")
    assert loaded.sha256 == any_bundle.sha256
    assert loaded.model_id == any_bundle.model_id == f"{any_bundle.name}@{any_bundle.version}"
    assert len(any_bundle.version) == 12
    assert loaded.features == any_bundle.features
    assert loaded.categorical == any_bundle.categorical
    assert loaded.metrics == any_bundle.metrics
    assert loaded.baseline == any_bundle.baseline
    assert loaded.created_at == any_bundle.created_at
    frame = risk_test_ds.frame
    assert np.array_equal(loaded.predict_proba(frame), any_bundle.predict_proba(frame))
    assert np.array_equal(loaded.adverse(frame), any_bundle.adverse(frame))
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["manifest_sha256"] == any_bundle.sha256
    assert manifest["fingerprint"] == any_bundle.fingerprint
    assert manifest["format"] == FORMAT
    for name in FILES[any_bundle.kind][1:]:
        data = (tmp_path / "b" / name).read_bytes()
        assert manifest["files"][name]["sha256"] == sha256_bytes(data)


@pytest.mark.parametrize("position", [0.1, 0.5, 0.9])
def test_a_flipped_byte_in_any_file_is_refused(
    any_bundle: Bundle, tmp_path: Path, position: float
) -> None:
    for name in FILES[any_bundle.kind]:
        where = tmp_path / f"{name}-{position}"
        any_bundle.save(where)
        path = where / name
        data = bytearray(path.read_bytes())
        i = int(len(data) * position)
        data[i] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(BundleError, match="refusing the bundle"):
            Bundle.load(where)


def test_a_missing_file_is_named(any_bundle: Bundle, tmp_path: Path) -> None:
    for name in FILES[any_bundle.kind]:
        where = tmp_path / name
        any_bundle.save(where)
        (where / name).unlink()
        with pytest.raises(BundleError, match=re.escape(f"{name} is missing")):
            Bundle.load(where)


def _rewrite_manifest(where: Path, change: dict[str, object]) -> None:
    path = where / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.pop("manifest_sha256")
    manifest.update(change)
    digest = sha256_bytes(dump_json(manifest))
    path.write_bytes(dump_json({**manifest, "manifest_sha256": digest}))


def test_an_unknown_format_version_is_refused(scorecard_bundle: Bundle, tmp_path: Path) -> None:
    scorecard_bundle.save(tmp_path)
    _rewrite_manifest(tmp_path, {"format": "fairdun-risk-bundle/2"})
    with pytest.raises(BundleError, match="unknown or newer bundle version"):
        Bundle.load(tmp_path)


def test_a_consistently_edited_manifest_is_refused(
    scorecard_bundle: Bundle, tmp_path: Path
) -> None:
    """Even with its digest recomputed, a manifest whose version or features no longer
    match the content is not what save() writes."""
    scorecard_bundle.save(tmp_path / "a")
    _rewrite_manifest(tmp_path / "a", {"version": "000000000000"})
    with pytest.raises(BundleError, match="not what save"):
        Bundle.load(tmp_path / "a")
    scorecard_bundle.save(tmp_path / "b")
    features = list(scorecard_bundle.features)
    _rewrite_manifest(tmp_path / "b", {"features": features[::-1]})
    with pytest.raises(BundleError, match="refusing"):
        Bundle.load(tmp_path / "b")


def test_reformatted_manifest_is_refused(scorecard_bundle: Bundle, tmp_path: Path) -> None:
    scorecard_bundle.save(tmp_path)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(json.loads(path.read_text(encoding="utf-8"))), encoding="utf-8")
    with pytest.raises(BundleError, match="not what save"):
        Bundle.load(tmp_path)


def test_pinned_digest(scorecard_bundle: Bundle, tmp_path: Path) -> None:
    scorecard_bundle.save(tmp_path)
    assert Bundle.load(tmp_path, expected_sha256=scorecard_bundle.sha256).sha256 == (
        scorecard_bundle.sha256
    )
    with pytest.raises(BundleError, match="expected 0000"):
        Bundle.load(tmp_path, expected_sha256="0" * 64)


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"manifest\.json is missing"):
        Bundle.load(tmp_path)
    (tmp_path / "manifest.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(BundleError, match="not an object"):
        Bundle.load(tmp_path)


def test_scoring_data_missing_a_model_feature_is_refused_by_name(
    any_bundle: Bundle, risk_test_ds: Dataset
) -> None:
    frame = risk_test_ds.frame.drop("dpd_now")
    with pytest.raises(RiskInputError, match=r"lacks model feature\(s\) 'dpd_now'"):
        any_bundle.predict_proba(frame)
    with pytest.raises(RiskInputError, match="'dpd_now'"):
        any_bundle.adverse(frame)


def test_text_in_a_numeric_feature_is_refused_by_name(
    any_bundle: Bundle, risk_test_ds: Dataset
) -> None:
    frame = risk_test_ds.frame.with_columns(pl.col("dpd_now").cast(pl.String))
    with pytest.raises(RiskInputError, match="model feature 'dpd_now' must be numeric"):
        any_bundle.predict_proba(frame)


def test_extra_columns_and_column_order_do_not_matter(
    any_bundle: Bundle, risk_test_ds: Dataset
) -> None:
    frame = risk_test_ds.frame
    shuffled = frame.select(list(reversed(frame.columns))).with_columns(extra=pl.lit(1))
    assert np.array_equal(any_bundle.predict_proba(frame), any_bundle.predict_proba(shuffled))


def test_bundle_names_are_checked(scorecard_bundle: Bundle) -> None:
    with pytest.raises(BundleError, match="name"):
        Bundle(
            name="bad@name",
            kind="scorecard",
            features=scorecard_bundle.features,
            categorical=scorecard_bundle.categorical,
            target="bad",
            fingerprint="x",
            metrics={},
            params={},
            baseline={},
            scorer=scorecard_bundle.scorer,
        )


def test_an_empty_frame_scores_to_empty_arrays(any_bundle: Bundle, risk_test_ds: Dataset) -> None:
    empty = risk_test_ds.frame.head(0)
    assert any_bundle.predict_proba(empty).shape == (0,)
    assert any_bundle.adverse(empty).shape == (0, len(any_bundle.features))
