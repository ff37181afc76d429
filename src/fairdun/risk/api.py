"""Risk API: the early-warning watchlist and a loan's scores with their reason codes.

Read-only: scores are written by ``fairdun risk score`` (or the daily run), lists and limits
by ``fairdun lists apply`` and the pages' maker-checker forms.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from fairdun.identity.models import Role
from fairdun.kit.errors import Forbidden
from fairdun.risk import service
from fairdun.risk.models import RiskScore
from fairdun.web.deps import ApiPrincipal, Db

router = APIRouter(prefix="/api/v1", tags=["risk"])

_READERS = (
    Role.RISK_ANALYST,
    Role.INSTITUTION_ADMIN,
    Role.COMPLIANCE_OFFICER,
    Role.COLLECTOR,
    Role.REGULATOR,
)


class ScoreRead(BaseModel):
    loan_id: int
    as_of: date
    model: str
    model_sha256: str
    probability: float
    score: int | None
    days_past_due: int
    exposure: int
    expected_loss: int
    reasons: list[str]


def _read(s: RiskScore, lang: str) -> ScoreRead:
    return ScoreRead(
        loan_id=s.loan_id,
        as_of=s.as_of,
        model=s.model_id,
        model_sha256=s.model_sha256,
        probability=s.probability,
        score=s.score,
        days_past_due=s.days_past_due,
        exposure=s.exposure,
        expected_loss=s.expected_loss,
        reasons=service.reasons_in(s.reasons, lang),
    )


@router.get("/risk/watchlist", response_model=list[ScoreRead])
def watchlist(
    db: Db,
    principal: ApiPrincipal,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh",
) -> list[ScoreRead]:
    """Loans under 30 days past due on the latest scoring day, by expected loss."""
    if principal.role not in _READERS:
        raise Forbidden("your role may not read risk scores")
    _day, rows = service.watchlist(db, principal, limit=limit)
    return [_read(r.score, lang) for r in rows]


@router.get("/loans/{loan_id}/risk", response_model=list[ScoreRead])
def loan_risk(
    loan_id: int,
    db: Db,
    principal: ApiPrincipal,
    lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh",
) -> list[ScoreRead]:
    """A loan's latest scores (newest first) with the main adverse reasons in words."""
    scores = service.loan_scores(db, principal, loan_id)
    if principal.role not in (*_READERS, Role.BORROWER):
        raise Forbidden("your role may not read risk scores")
    return [_read(s, lang) for s in scores]
