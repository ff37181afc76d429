"""The evaluation report of a credit-risk model: one self-contained HTML page.

:func:`render_report` scores a test set with a bundle (and any ``extra_bundles`` to compare,
e.g. the challenger beside the scorecard) and renders ``templates/report.html`` with:

* the model's identity (id, SHA-256, kind, training data fingerprint) and the test set;
* AUC, KS and Gini of every bundle; the ROC curves; calibration (predicted against
  observed bad rate by decile); the score distribution of goods and bads; the lift and
  gains table and curve;
* for a scorecard, every feature's bins with their counts, bad rate, WOE, IV and points,
  and the candidate features with their IV and why they were left out; for LightGBM, the
  features' share of the total gain;
* disparate impact for every protected attribute (approval rate per group at the cutoff,
  adverse impact ratio, four-fifths rule, bad rate and AUC per group);
* population stability of each feature and of the score between the training sample and
  the test set;
* the most frequent first reason code, in the page's language.

The charts are inline SVG from pygal, without its JavaScript; the page loads nothing from
anywhere. The default cutoff for disparate impact approves every row whose probability of
bad is below the ``1 - bad rate`` quantile of the test set's scores (as many declined as
there are bads), for each bundle alike; pass ``cutoff`` to use a fixed probability.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import numpy.typing as npt
import polars as pl
from markupsafe import Markup

from fairdun.risk import metrics
from fairdun.risk.bundle import Bundle
from fairdun.risk.dataset import Dataset, RiskInputError
from fairdun.risk.reasons import Reason, reason_text, top_reasons

TEMPLATES = Path(__file__).with_name("templates")
FloatArray = npt.NDArray[np.float64]

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "model": "Model",
        "kind": "Kind",
        "sha256": "SHA-256",
        "fingerprint": "Training data fingerprint",
        "test_fingerprint": "data fingerprint",
        "created_at": "Trained at",
        "test_set": "Test set",
        "rows": "rows",
        "bad_rate": "bad rate",
        "discrimination": "Discrimination",
        "roc": "ROC curve",
        "calibration": "Calibration",
        "predicted": "Mean predicted probability of bad",
        "observed": "Observed bad rate",
        "distribution": "Score distribution",
        "gains": "Lift and gains",
        "bins": "Scorecard bins",
        "importance": "Feature importance (share of gain)",
        "fairness": "Disparate impact",
        "stability": "Population stability (training sample against this set)",
        "reasons": "Most frequent main reason",
        "notes": "Method",
        "goods": "goods",
        "bads": "bads",
        "points": "points",
        "probability": "probability of bad",
        "population": "Share of the population (riskiest first)",
        "caught": "Share of bads caught",
        "random": "random",
        "cutoff": "cutoff (probability of bad)",
        "none": "none",
    },
    "zh": {
        "model": "模型",
        "kind": "类型",
        "sha256": "SHA-256",
        "fingerprint": "训练数据指纹",
        "test_fingerprint": "数据指纹",
        "created_at": "训练时间",
        "test_set": "测试集",
        "rows": "行",
        "bad_rate": "坏账率",
        "discrimination": "区分能力",
        "roc": "ROC 曲线",
        "calibration": "校准",
        "predicted": "平均预测违约概率",
        "observed": "实际违约率",
        "distribution": "评分分布",
        "gains": "提升与累计捕获",
        "bins": "评分卡分箱",
        "importance": "特征重要性（增益占比）",
        "fairness": "差别影响",
        "stability": "群体稳定性（训练样本对比本数据集）",
        "reasons": "最常见的首要原因",
        "notes": "方法",
        "goods": "好",
        "bads": "坏",
        "points": "分数",
        "probability": "违约概率",
        "population": "人群占比（风险由高到低）",
        "caught": "捕获的坏样本占比",
        "random": "随机",
        "cutoff": "阈值（违约概率）",
        "none": "无",
    },
}

_CHART_ID = re.compile(r"chart-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL | re.IGNORECASE)


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["pct"] = _pct
    return env


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _pct(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{float(value) * 100:.{digits}f}%"


class _Charts:
    """pygal charts as inline SVG, numbered in order so the page is reproducible."""

    def __init__(self) -> None:
        import pygal

        self._pygal = pygal
        self._n = 0

    def _config(self, **extra: Any) -> dict[str, Any]:
        from pygal.style import CleanStyle

        return {
            "js": [],
            "disable_xml_declaration": True,
            "width": 640,
            "height": 380,
            "style": CleanStyle,
            "legend_at_bottom": True,
            "truncate_legend": -1,
            **extra,
        }

    def _svg(self, chart: Any) -> Markup:
        self._n += 1
        svg = str(chart.render(is_unicode=True))
        svg = _SCRIPT.sub("", _COMMENT.sub("", _CHART_ID.sub(f"chart-{self._n}", svg)))
        return Markup(svg)  # noqa: S704 - pygal escapes every text it draws

    def xy(
        self,
        series: Sequence[tuple[str, Sequence[tuple[float, float]], bool]],
        *,
        x_title: str,
        y_title: str,
    ) -> Markup:
        chart = self._pygal.XY(
            **self._config(
                x_title=x_title,
                y_title=y_title,
                range=(0, 1),
                xrange=(0, 1),
                dots_size=3,
            )
        )
        for name, points, dots in series:
            chart.add(name, [(float(x), float(y)) for x, y in points], show_dots=dots)
        return self._svg(chart)

    def stacked(
        self, labels: Sequence[str], series: Mapping[str, Sequence[float]], x_title: str
    ) -> Markup:
        chart = self._pygal.StackedBar(
            **self._config(x_title=x_title, x_label_rotation=45, show_minor_x_labels=False)
        )
        chart.x_labels = list(labels)
        chart.x_labels_major = list(labels)[:: max(1, len(labels) // 8)]
        for name, values in series.items():
            chart.add(name, [float(v) for v in values])
        return self._svg(chart)


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dicts()


def _default_cutoff(p: FloatArray, bad_rate: float) -> float:
    return float(np.quantile(p, 1.0 - bad_rate)) if 0 < bad_rate < 1 else 0.5


def render_report(
    bundle: Bundle,
    ds_test: Dataset,
    *,
    title: str,
    lang: str = "en",
    protected: pl.DataFrame | None = None,
    extra_bundles: Sequence[Bundle] = (),
    cutoff: float | None = None,
    notes: Sequence[str] = (),
) -> str:
    """One self-contained HTML page evaluating ``bundle`` (and ``extra_bundles``) on
    ``ds_test``. ``protected`` holds one column per protected attribute, row for row with
    the test set; without it, the test set's own protected columns are used."""
    if lang not in LABELS:
        raise ValueError(f"report languages: {', '.join(LABELS)}, not {lang!r}")
    t = LABELS[lang]
    bundles = [bundle, *extra_bundles]
    if len({b.model_id for b in bundles}) != len(bundles):
        raise ValueError("every bundle in a report must be a different model")
    if protected is None and ds_test.protected:
        protected = ds_test.frame.select(ds_test.protected)
    if protected is not None and protected.height != ds_test.n_rows:
        raise RiskInputError(
            f"protected attributes have {protected.height} rows, the test set {ds_test.n_rows}"
        )
    y = ds_test.y
    charts = _Charts()
    models: list[dict[str, Any]] = []
    roc_series: list[tuple[str, Sequence[tuple[float, float]], bool]] = []
    cal_series: list[tuple[str, Sequence[tuple[float, float]], bool]] = []
    gains_series: list[tuple[str, Sequence[tuple[float, float]], bool]] = []
    for b in bundles:
        p = b.predict_proba(ds_test.frame)
        pts = b.points(ds_test.frame)
        fpr, tpr = metrics.roc_points(y, p)
        roc_series.append((b.model_id, list(zip(fpr, tpr, strict=True)), False))
        cal = metrics.calibration(y, p)
        cal_series.append(
            (b.model_id, list(zip(cal["p_mean"], cal["bad_rate"], strict=True)), True)
        )
        gains = metrics.gains_table(y, p)
        share = (gains["n"].cum_sum() / gains["n"].sum()).to_list()
        gains_series.append(
            (b.model_id, [(0.0, 0.0), *zip(share, gains["cum_bads_pct"], strict=True)], False)
        )
        scores = pts if pts is not None else p
        dist = metrics.score_distribution(scores, y, bins=20)
        digits = 0 if pts is not None else 2
        dist_labels = [f"{v:.{digits}f}" for v in dist["lo"]]
        cut = cutoff if cutoff is not None else _default_cutoff(p, ds_test.bad_rate)
        fairness = []
        if protected is not None:
            for attr in protected.columns:
                table = metrics.disparate_impact(y, p, protected[attr], cut)
                fairness.append({"attribute": attr, "rows": _rows(table)})
        psi_rows = metrics.psi_table(b, ds_test.frame)
        models.append(
            {
                "bundle": b,
                "summary": metrics.summary(y, p),
                "calibration": _rows(cal),
                "gains": _rows(gains),
                "distribution": charts.stacked(
                    dist_labels,
                    {t["goods"]: dist["goods"].to_list(), t["bads"]: dist["bads"].to_list()},
                    t["points"] if pts is not None else t["probability"],
                ),
                "cutoff": cut,
                "approved": float((p < cut).mean()),
                "fairness": fairness,
                "psi": psi_rows,
                "bins": _bins(b),
                "candidates": b.model.get("candidates", []),
                "importance": sorted(
                    b.model.get("importance", {}).items(), key=lambda kv: -float(kv[1])
                ),
                "reasons": _reason_counts(b, ds_test.frame, lang),
            }
        )
    diagonal = [(0.0, 0.0), (1.0, 1.0)]
    context = {
        "title": title,
        "lang": lang,
        "t": t,
        "test": {
            "rows": ds_test.n_rows,
            "bads": int(y.sum()),
            "bad_rate": ds_test.bad_rate,
            "fingerprint": ds_test.fingerprint,
            "source": ds_test.source,
        },
        "models": models,
        "notes": list(notes),
        "roc": charts.xy(
            [*roc_series, (t["random"], diagonal, False)],
            x_title="FPR",
            y_title="TPR",
        ),
        "calibration_chart": charts.xy(
            [*cal_series, (t["random"], diagonal, False)],
            x_title=t["predicted"],
            y_title=t["observed"],
        ),
        "gains_chart": charts.xy(
            [*gains_series, (t["random"], diagonal, False)],
            x_title=t["population"],
            y_title=t["caught"],
        ),
    }
    return _environment().get_template("report.html").render(**context)


def _bins(bundle: Bundle) -> list[dict[str, Any]]:
    """The scorecard's bins grouped by feature, highest IV first (empty for LightGBM)."""
    if bundle.kind != "scorecard":
        return []
    from fairdun.risk.scorecard import ScorecardModel

    scorer = bundle.scorer
    assert isinstance(scorer, ScorecardModel)
    rows = scorer.points_table()
    out = []
    for table in sorted(scorer.tables, key=lambda tb: -tb.iv):
        out.append(
            {
                "feature": table.name,
                "iv": table.iv,
                "coef": table.coef,
                "rows": [r for r in rows if r["feature"] == table.name],
            }
        )
    return out


def _reason_counts(bundle: Bundle, frame: pl.DataFrame, lang: str) -> list[dict[str, Any]]:
    """How often each factor is a row's first reason, most frequent first."""
    firsts: list[Reason] = [r[0] for r in top_reasons(bundle, frame, k=1) if r]
    counts = Counter(r.feature for r in firsts)
    total = max(frame.height, 1)
    out = []
    for feature, n in counts.most_common(10):
        sample = Reason(feature, "", None, 0.0)
        code = next(r.code for r in firsts if r.feature == feature)
        out.append(
            {
                "feature": feature,
                "code": code,
                "text": reason_text(sample, lang),
                "rows": n,
                "share": n / total,
            }
        )
    return out
