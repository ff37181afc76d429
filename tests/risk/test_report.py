"""The evaluation report: one self-contained page with every section."""

from __future__ import annotations

import re

import polars as pl
import pytest

from fairdun.risk.bundle import Bundle
from fairdun.risk.dataset import Dataset, RiskInputError
from fairdun.risk.report import render_report

SECTIONS = (
    'id="models"',
    'id="discrimination"',
    'id="roc"',
    'id="calibration"',
    'id="distribution"',
    'id="gains"',
    'id="bins-1"',
    'id="importance-2"',
    'id="fairness"',
    'id="stability"',
    'id="reasons"',
)


@pytest.fixture(scope="module")
def page(scorecard_bundle: Bundle, challenger_bundle: Bundle, risk_test_ds: Dataset) -> str:
    return render_report(
        scorecard_bundle,
        risk_test_ds,
        title="Synthetic <book>",
        extra_bundles=[challenger_bundle],
        notes=["stratified split, seed 7"],
    )


def test_report_has_every_section(page: str, scorecard_bundle: Bundle) -> None:
    for marker in SECTIONS:
        assert marker in page, marker
    assert page.count("<svg") == 5  # ROC, gains, calibration, a distribution per model
    for header in ("AUC", "KS", "Gini", "WOE", "IV", "AIR", "PSI", "lift"):
        assert header in page
    assert scorecard_bundle.sha256 in page and scorecard_bundle.model_id in page
    assert "age_band" in page and "sex" in page  # disparate impact tables
    assert "Synthetic &lt;book&gt;" in page  # escaped


def test_report_is_self_contained(page: str) -> None:
    assert "<script" not in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert "@import" not in page and "url(http" not in page


def test_report_is_reproducible(
    page: str, scorecard_bundle: Bundle, challenger_bundle: Bundle, risk_test_ds: Dataset
) -> None:
    again = render_report(
        scorecard_bundle,
        risk_test_ds,
        title="Synthetic <book>",
        extra_bundles=[challenger_bundle],
        notes=["stratified split, seed 7"],
    )
    assert again == page


def test_chinese_report_and_explicit_protected_frame(
    scorecard_bundle: Bundle, risk_test_ds: Dataset
) -> None:
    groups = pl.DataFrame({"region": ["north", "south"] * (risk_test_ds.n_rows // 2)})
    page = render_report(
        scorecard_bundle, risk_test_ds, title="评分卡", lang="zh", protected=groups, cutoff=0.3
    )
    assert 'lang="zh"' in page and "区分能力" in page and "评分卡分箱" in page
    assert "region" in page and "north" in page
    assert "0.3000" in page
    with pytest.raises(RiskInputError, match="protected attributes have 3 rows"):
        render_report(scorecard_bundle, risk_test_ds, title="x", protected=groups.head(3))


def test_a_lightgbm_report_alone(challenger_bundle: Bundle, risk_test_ds: Dataset) -> None:
    page = render_report(challenger_bundle, risk_test_ds, title="LightGBM")
    assert 'id="importance-1"' in page and "bins-1" not in page
