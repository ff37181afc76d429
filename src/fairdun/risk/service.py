"""Risk control wired to the ledger: the model in use, training it from the ledger, scoring
the portfolio into ``risk_scores``, the early-warning watchlist, population stability, and
the daily list and limit run.

The early-warning target is the ledger's own: the probability that a loan now under 30
days past due is 30 or more days past due on some day in the next 30 days
(``features.training_frame``). Training takes monthly snapshots of the ledger's history,
features as of each snapshot and the outcome in the 30 days after it, so training and
scoring share one feature definition (``features.compute_features``).

Bundles live on disk under ``settings.risk_model_dir``; the file ``ACTIVE`` there names the
directory of the bundle that scores (the champion). Loading re-checks every file's SHA-256,
so a bundle changed on disk is refused, never used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import Session

from fairdun.audit import service as audit
from fairdun.config import Settings
from fairdun.identity.principal import Principal
from fairdun.kit.errors import DomainError, Unavailable
from fairdun.loans import service as loans
from fairdun.loans.apr import RateCap
from fairdun.loans.models import Borrower, Loan
from fairdun.risk import features as feats
from fairdun.risk import limits
from fairdun.risk.bundle import Bundle, BundleError
from fairdun.risk.challenger import train_challenger
from fairdun.risk.dataset import Dataset, from_frame
from fairdun.risk.metrics import PsiRow, psi_table
from fairdun.risk.models import CreditDecision, RiskScore
from fairdun.risk.reasons import Reason, reason_text, top_reasons
from fairdun.risk.scorecard import train_scorecard

__all__ = [
    "ACTIVE_FILE",
    "MODEL_FEATURES",
    "TARGET",
    "LedgerTraining",
    "NoActiveModel",
    "ScoreRun",
    "WatchRow",
    "activate",
    "active_bundle",
    "credit_decisions",
    "explanation_in",
    "latest_as_of",
    "ledger_snapshots",
    "loan_scores",
    "monitoring",
    "reasons_in",
    "report_path",
    "run_lists",
    "save_report",
    "score_portfolio",
    "train_from_ledger",
    "watchlist",
]

ACTIVE_FILE = "ACTIVE"
# Every ledger feature but ``disputes``: a borrower who disputes a debt exercises a right,
# and a model must not learn to count that against them (in the US, ECOA forbids it:
# 15 U.S.C. 1691(a)(3)). The feature stays available to the list rules and to monitoring.
MODEL_FEATURES: tuple[str, ...] = tuple(f for f in feats.FEATURES if f != "disputes")
TARGET = "rolled_30"
HORIZON_DAYS = 30
REASONS_PER_SCORE = 4
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,120}$")


class NoActiveModel(Unavailable):
    """No usable model bundle: scoring stops rather than guess."""

    code = "no_active_model"


# --- the model in use ---------------------------------------------------------------------


def model_dir(settings: Settings) -> Path:
    return Path(settings.risk_model_dir)


def activate(settings: Settings, bundle_dir: Path) -> Bundle:
    """Make the bundle in ``bundle_dir`` (inside the model directory) the one that scores.

    It is loaded (hash-checked) first: a broken bundle is never activated."""
    root = model_dir(settings).resolve()
    target = bundle_dir.resolve()
    if target.parent != root or not _SAFE_NAME.match(target.name):
        raise DomainError(f"a bundle to activate must be a directory directly in {root}")
    bundle = Bundle.load(target)
    if bundle.model_id != target.name:
        raise DomainError(f"{target} holds {bundle.model_id}, not the bundle its name says")
    tmp = root / (ACTIVE_FILE + ".tmp")
    tmp.write_text(target.name + "\n", encoding="utf-8")
    tmp.replace(root / ACTIVE_FILE)
    return bundle


def active_bundle(settings: Settings) -> Bundle:
    """The champion bundle, loaded and hash-checked; ``NoActiveModel`` when there is none
    or it fails its checks (the message says which)."""
    root = model_dir(settings)
    marker = root / ACTIVE_FILE
    if not marker.is_file():
        raise NoActiveModel(
            f"no active risk model in {root} (train one: fairdun risk train --from-ledger "
            "--activate)"
        )
    name = marker.read_text(encoding="utf-8").strip()
    if not _SAFE_NAME.match(name):
        raise NoActiveModel(f"{marker} does not name a bundle directory")
    try:
        bundle = Bundle.load(root / name)
    except BundleError as exc:
        raise NoActiveModel(f"the active risk model {name} is refused: {exc}") from exc
    # The report and the scores are filed under the model id: it must be the directory's.
    if bundle.model_id != name:
        raise NoActiveModel(f"the active risk model {name} is refused: it holds {bundle.model_id}")
    return bundle


# --- training from the ledger -------------------------------------------------------------


def ledger_snapshots(last_data_day: date, *, count: int = 6, step_days: int = 30) -> list[date]:
    """Monthly snapshot dates whose 30-day outcome window ends by ``last_data_day``."""
    if count < 1 or step_days < 1:
        raise DomainError("snapshots need count >= 1 and step >= 1 day")
    newest = last_data_day - timedelta(days=HORIZON_DAYS)
    return [newest - timedelta(days=step_days * i) for i in range(count)][::-1]


@dataclass(frozen=True)
class LedgerTraining:
    champion: Bundle  # the scorecard: points, probability and exact reason codes
    challenger: Bundle  # LightGBM
    train: Dataset
    test: Dataset
    snapshots: tuple[date, ...]


def train_from_ledger(
    bind: Engine | Session,
    *,
    as_of: date,
    snapshots: int = 6,
    step_days: int = 30,
    institution_id: int | None = None,
    seed: int = 7,
    test_share: float = 0.3,
) -> LedgerTraining:
    """Train the early-warning scorecard and its LightGBM challenger from the ledger.

    The split is by borrower (all of a borrower's rows on one side), drawn with ``seed``,
    so a borrower seen in training is never scored in the test part."""
    dates = ledger_snapshots(as_of, count=snapshots, step_days=step_days)
    frame = feats.training_frame(
        bind, dates, horizon_days=HORIZON_DAYS, institution_id=institution_id
    )
    if frame.height == 0:
        raise DomainError("the ledger has no loans open at the snapshot dates to learn from")
    borrowers = np.array(sorted(set(frame["borrower_id"].to_list())))
    rng = np.random.default_rng(seed)
    test_ids = set(
        rng.choice(borrowers, size=max(1, int(len(borrowers) * test_share)), replace=False)
    )
    is_test = frame["borrower_id"].is_in(list(test_ids))
    columns = [*MODEL_FEATURES, TARGET]
    train = from_frame(frame.filter(~is_test).select(columns), TARGET, features=MODEL_FEATURES)
    test = from_frame(frame.filter(is_test).select(columns), TARGET, features=MODEL_FEATURES)
    champion = train_scorecard(train, seed=seed, name="early-warning-scorecard")
    challenger = train_challenger(train, seed=seed, name="early-warning-lightgbm")
    return LedgerTraining(champion, challenger, train, test, tuple(dates))


def report_path(settings: Settings, model_id: str) -> Path:
    return model_dir(settings) / "reports" / f"{model_id}.html"


def save_report(
    settings: Settings,
    bundle: Bundle,
    test: Dataset,
    *,
    title: str,
    others: Sequence[Bundle] = (),
    protected: pl.DataFrame | None = None,
) -> Path:
    """Render the evaluation report of ``bundle`` (and ``others`` beside it) on ``test``
    into the model directory, where ``/risk/report`` serves it from."""
    from fairdun.risk.report import render_report

    path = report_path(settings, bundle.model_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    html = render_report(
        bundle, test, title=title, extra_bundles=tuple(others), protected=protected
    )
    path.write_text(html, encoding="utf-8")
    return path


# --- scoring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreRun:
    as_of: date
    model_id: str
    scored: int
    institutions: tuple[int, ...]


def _reasons_json(rows: list[Reason]) -> str:
    return json.dumps(
        [
            {
                "feature": r.feature,
                "code": r.code,
                "value": r.value if not isinstance(r.value, float) else round(r.value, 4),
                "impact": round(float(r.impact), 4),
            }
            for r in rows
        ],
        ensure_ascii=False,
    )


def score_portfolio(
    session: Session,
    bundle: Bundle,
    as_of: date,
    *,
    actor: str,
    loss_given_default: Decimal = Decimal("1"),
    institution_id: int | None = None,
) -> ScoreRun:
    """Score every open loan under 30 days past due as of ``as_of`` with ``bundle`` and
    store the result (replacing this model's scores of the same day: a rerun is the same)."""
    frame = feats.compute_features(session, as_of, institution_id=institution_id)
    frame = frame.filter(pl.col("dpd_now") < HORIZON_DAYS)
    query = delete(RiskScore).where(RiskScore.as_of == as_of, RiskScore.model_id == bundle.model_id)
    if institution_id is not None:
        query = query.where(RiskScore.institution_id == institution_id)
    session.execute(query)
    if frame.height == 0:
        return ScoreRun(as_of, bundle.model_id, 0, ())
    probability = bundle.predict_proba(frame)
    points = bundle.points(frame)
    reasons = top_reasons(bundle, frame, k=REASONS_PER_SCORE)
    lgd = float(loss_given_default)
    rows: list[dict[str, Any]] = []
    for i, rec in enumerate(
        frame.select("loan_id", "borrower_id", "institution_id", "exposure", "dpd_now").iter_rows()
    ):
        loan_id, borrower_id, inst, exposure, dpd = rec
        p = float(probability[i])
        rows.append(
            {
                "institution_id": inst,
                "loan_id": loan_id,
                "borrower_id": borrower_id,
                "as_of": as_of,
                "model_id": bundle.model_id,
                "model_sha256": bundle.sha256,
                "score": None if points is None else round(float(points[i])),
                "probability": p,
                "exposure": int(exposure),
                "expected_loss": round(p * int(exposure) * lgd),
                "days_past_due": int(dpd),
                "reasons": _reasons_json(reasons[i]),
            }
        )
    session.execute(insert(RiskScore), rows)
    institutions = tuple(sorted({int(r["institution_id"]) for r in rows}))
    for inst in institutions:
        audit.record(
            session,
            actor=actor,
            action="risk.scored",
            target=f"portfolio:{as_of.isoformat()}",
            institution_id=inst,
            details={
                "model": bundle.model_id,
                "sha256": bundle.sha256,
                "loans": sum(1 for r in rows if r["institution_id"] == inst),
            },
        )
    return ScoreRun(as_of, bundle.model_id, len(rows), institutions)


def reasons_in(raw: str, lang: str) -> list[str]:
    """The stored reason codes of a score, in words (``zh`` or ``en``)."""
    out: list[str] = []
    for item in json.loads(raw or "[]"):
        reason = Reason(
            feature=str(item["feature"]),
            code=str(item["code"]),
            value=item.get("value"),
            impact=float(item.get("impact", 0.0)),
        )
        out.append(reason_text(reason, "zh" if lang.startswith("zh") else "en"))
    return out


# --- reading scores ------------------------------------------------------------------------


def latest_as_of(session: Session, principal: Principal) -> date | None:
    query = select(func.max(RiskScore.as_of))
    if principal.scope is not None:
        query = query.where(RiskScore.institution_id == principal.scope)
    value: date | None = session.scalar(query)
    return value


@dataclass(frozen=True)
class WatchRow:
    score: RiskScore
    loan: Loan
    borrower_name: str


def watchlist(
    session: Session,
    principal: Principal,
    *,
    as_of: date | None = None,
    limit: int = 100,
    institution_id: int | None = None,
) -> tuple[date | None, list[WatchRow]]:
    """Loans under 30 days past due by expected loss, largest first, on the latest day scored."""
    day = as_of or latest_as_of(session, principal)
    if day is None:
        return None, []
    query = (
        select(RiskScore, Loan, Borrower)
        .join(Loan, Loan.id == RiskScore.loan_id)
        .join(Borrower, Borrower.id == RiskScore.borrower_id)
        .where(RiskScore.as_of == day)
        .order_by(RiskScore.expected_loss.desc(), RiskScore.id)
        .limit(limit)
    )
    if principal.scope is not None:
        query = query.where(RiskScore.institution_id == principal.scope)
    elif institution_id is not None:
        query = query.where(RiskScore.institution_id == institution_id)
    rows = [WatchRow(s, loan, b.name) for s, loan, b in session.execute(query).all()]
    return day, rows


def loan_scores(session: Session, principal: Principal, loan_id: int) -> list[RiskScore]:
    """A loan's scores, newest first (the loan must be visible to the caller)."""
    loans.get_loan(session, principal, loan_id)  # 404 unless visible (a borrower: their own)
    return list(
        session.scalars(
            select(RiskScore)
            .where(RiskScore.loan_id == loan_id)
            .order_by(RiskScore.as_of.desc(), RiskScore.id.desc())
            .limit(12)
        )
    )


# --- monitoring ----------------------------------------------------------------------------


def monitoring(
    session: Session, bundle: Bundle, as_of: date, *, institution_id: int | None = None
) -> list[PsiRow]:
    """Population stability of each model feature and of the score: the training sample
    against the portfolio as of ``as_of`` (the loans the model would score)."""
    frame = feats.compute_features(session, as_of, institution_id=institution_id)
    frame = frame.filter(pl.col("dpd_now") < HORIZON_DAYS)
    if frame.height == 0:
        return []
    return psi_table(bundle, frame)


# --- lists and limits ----------------------------------------------------------------------


@dataclass
class ListsRun:
    institution_id: int
    as_of: date
    rules_id: str
    borrowers: int
    summary: limits.ApplySummary


def _borrower_scores(session: Session, institution_id: int, as_of: date) -> dict[int, RiskScore]:
    """Each borrower's riskiest score on the latest scoring day up to ``as_of``."""
    day = session.scalar(
        select(func.max(RiskScore.as_of)).where(
            RiskScore.institution_id == institution_id, RiskScore.as_of <= as_of
        )
    )
    if day is None:
        return {}
    worst: dict[int, RiskScore] = {}
    for s in session.scalars(
        select(RiskScore).where(RiskScore.institution_id == institution_id, RiskScore.as_of == day)
    ):
        held = worst.get(s.borrower_id)
        if held is None or s.probability > held.probability:
            worst[s.borrower_id] = s
    return worst


def run_lists(
    session: Session,
    *,
    actor: str,
    as_of: date,
    rules: limits.RuleSet,
    caps: Sequence[RateCap],
    institution_ids: Sequence[int],
) -> list[ListsRun]:
    """Apply the rule set's list rules, then its limit and rate adjustments, to every
    borrower of each institution as of ``as_of``, over the borrower's features (all their
    loans, ``features.borrower_features``) and riskiest score of the latest scoring day.
    Idempotent for a day and a rule set version (``limits.apply``)."""
    runs: list[ListsRun] = []
    for inst in institution_ids:
        loan_frame = feats.compute_features(session, as_of, institution_id=inst, open_only=False)
        scores = _borrower_scores(session, inst, as_of)
        inputs: dict[int, limits.BorrowerInput] = {}
        if loan_frame.height:
            for row in feats.borrower_features(loan_frame).iter_rows(named=True):
                borrower_id = int(row["borrower_id"])
                score = scores.get(borrower_id)
                inputs[borrower_id] = limits.BorrowerInput(
                    borrower_id=borrower_id,
                    score=None if score is None or score.score is None else int(score.score),
                    probability=None if score is None else float(score.probability),
                    features={k: row[k] for k in feats.FEATURES if k in row},
                )
        summary = limits.apply(
            session,
            actor=actor,
            institution_id=inst,
            as_of=as_of,
            rule_set=rules,
            inputs=inputs,
            caps=caps,
        )
        runs.append(ListsRun(inst, as_of, rules.rule_set_id, len(inputs), summary))
    return runs


def caps_of(settings: Settings) -> tuple[RateCap, ...]:
    """Every configured cap and the binding one: a rate may not exceed the lowest."""
    return limits.configured_caps(settings)


def explanation_in(raw: str, lang: str) -> str:
    """A stored decision's explanation in ``zh`` or ``en``."""
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        return raw
    key = "zh" if lang.startswith("zh") else "en"
    return str(data.get(key) or data.get("en") or "")


def credit_decisions(
    session: Session, principal: Principal, *, limit: int = 200
) -> list[tuple[CreditDecision, str]]:
    query = (
        select(CreditDecision, Borrower.name)
        .join(Borrower, Borrower.id == CreditDecision.borrower_id)
        .order_by(CreditDecision.as_of.desc(), CreditDecision.id.desc())
        .limit(limit)
    )
    if principal.scope is not None:
        query = query.where(CreditDecision.institution_id == principal.scope)
    return [(d, name) for d, name in session.execute(query).all()]
