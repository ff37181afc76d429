"""Reason codes: only adverse factors, largest first, in plain Chinese and English."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

from fairdun.risk.bundle import Bundle
from fairdun.risk.dataset import TAIWAN_FEATURES, Dataset
from fairdun.risk.reasons import (
    Reason,
    load_reason_book,
    reason_book,
    reason_code,
    reason_text,
    top_reasons,
)
from fairdun.risk.scorecard import ScorecardModel

LEDGER_FEATURES = (
    "dpd_now",
    "worst_dpd_3m",
    "worst_dpd_6m",
    "worst_dpd_12m",
    "late_instalments",
    "share_paid",
    "days_since_last_payment",
    "balance",
    "utilisation",
    "promises_kept",
    "promises_broken",
    "disputes",
    "months_on_book",
    "annual_rate",
    "term_months",
)
THREATS = re.compile(r"起诉|法院|警察|拘留|曝光|通讯录|lawsuit|court|police|arrest|jail|expose")


def test_top_reasons_are_adverse_only_and_sorted(any_bundle: Bundle, risk_test_ds: Dataset) -> None:
    frame = risk_test_ds.frame.head(300)
    impact = any_bundle.adverse(frame)
    reasons = top_reasons(any_bundle, frame, k=3)
    assert len(reasons) == 300
    for i, row in enumerate(reasons):
        assert len(row) <= 3
        assert all(r.impact > 0 for r in row)
        assert [r.impact for r in row] == sorted((r.impact for r in row), reverse=True)
        positive = int((impact[i] > 1e-9).sum())
        assert len(row) == min(3, positive)
        for r in row:
            j = any_bundle.features.index(r.feature)
            assert r.impact == pytest.approx(impact[i, j])
            assert r.code == reason_code(r.feature)
            value = frame[r.feature][i]
            assert r.value == (None if value is None else value)


def test_a_row_in_every_best_bin_has_no_reason(scorecard_bundle: Bundle) -> None:
    scorer = scorecard_bundle.scorer
    assert isinstance(scorer, ScorecardModel)
    rows = scorer.points_table()
    values: dict[str, list[object]] = {}
    for table in scorer.tables:
        bins = [r for r in rows if r["feature"] == table.name]
        best = max((i for i, r in enumerate(bins) if r["count"]), key=lambda i: bins[i]["points"])
        if best == table.n_bins:  # the missing bin
            values[table.name] = [None]
        elif table.dtype == "categorical":
            values[table.name] = [table.groups[best][0]]
        else:
            values[table.name] = [table.splits[best - 1] if best else table.splits[0] - 1.0]
    frame = pl.DataFrame(
        values,
        schema_overrides={
            t.name: (pl.String if t.dtype == "categorical" else pl.Float64) for t in scorer.tables
        },
    )
    assert np.all(scorecard_bundle.adverse(frame) == 0)
    assert top_reasons(scorecard_bundle, frame) == [[]]


def test_reason_file_covers_ledger_and_taiwan_features() -> None:
    book = load_reason_book()
    for feature in (*LEDGER_FEATURES, *TAIWAN_FEATURES):
        assert feature in book.entries, feature
    codes = [e.code for e in book.entries.values()]
    assert len(codes) == len(set(codes))


def test_words_are_factual_not_threatening() -> None:
    book = reason_book()
    for name, entry in book.entries.items():
        for text in (*entry.text.values(), *entry.with_value.values()):
            assert not THREATS.search(text), (name, text)
        assert re.search(r"[\u4e00-\u9fff]", entry.text["zh"]), name


def test_reason_text_with_and_without_the_value() -> None:
    late = Reason("worst_dpd_3m", "LED-02", 45.0, 12.0)
    assert reason_text(late, "zh") == "最近3个月内最长逾期45天"
    assert reason_text(late, "en") == "In the last 3 months, a payment was up to 45 days late"
    assert reason_text(Reason("worst_dpd_3m", "LED-02", None, 1.0), "en") == (
        "A payment was late in the last 3 months"
    )
    # below value_min the value would read oddly ("up to 0 days late"): plain words
    assert reason_text(Reason("worst_dpd_3m", "LED-02", 0.0, 1.0), "zh") == (
        "最近3个月内曾有逾期还款"
    )
    assert reason_text(Reason("share_paid", "LED-06", 0.5, 1.0), "en") == (
        "50% of the amounts due so far have been paid"
    )
    assert reason_text(Reason("share_paid", "LED-06", "n/a", 1.0), "zh") == "已到期款项尚未全部还清"


def test_unknown_features_get_a_generic_sentence_naming_them() -> None:
    reason = Reason("housing", reason_code("housing"), "rent", 0.3)
    assert reason.code == "GEN-00"
    assert reason_text(reason, "en") == "Other information in the account records (housing)"
    assert reason_text(reason, "zh") == "账户记录中的其他信息（housing）"
    with pytest.raises(ValueError, match="zh, en"):
        reason_text(reason, "fr")


def test_k_must_be_positive(scorecard_bundle: Bundle, risk_test_ds: Dataset) -> None:
    with pytest.raises(ValueError, match="k must be"):
        top_reasons(scorecard_bundle, risk_test_ds.frame, k=0)
