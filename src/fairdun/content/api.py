"""``POST /api/v1/content/check``: the same JSON as ``fairdun content check --format json``.

Findings are an answer (200), not an error; bad input is 422 naming what is wrong.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from fairdun.content.checker import check, make_context
from fairdun.content.types import ContentInputError, ContentUnavailable
from fairdun.kit.errors import Invalid, Unavailable
from fairdun.web.deps import ApiPrincipal

router = APIRouter(prefix="/api/v1/content", tags=["content"])


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | int | None = None
    text: str = Field(description="the message, at most 10,000 characters")
    lang: str | None = Field(default=None, description="zh or en; detected when absent")
    recipient_role: str = "debtor"
    channel: str = "sms"
    jurisdiction: str = "cn"
    facts: dict[str, Any] | None = None
    model: bool = Field(default=True, description="add the statistical layer")


class FindingRead(BaseModel):
    category: str
    span: str
    start: int
    end: int
    rule: str
    explanation: str


class CheckRead(BaseModel):
    id: str | int | None = None
    findings: list[FindingRead]


@router.post("/check", response_model=CheckRead, response_model_exclude_none=True)
def check_message(body: CheckRequest, principal: ApiPrincipal) -> CheckRead:
    """Findings for one message: category, span, the rule that fired, and why."""
    try:
        ctx = make_context(
            lang=body.lang,
            recipient_role=body.recipient_role,
            channel=body.channel,
            jurisdiction=body.jurisdiction,
            facts=body.facts,
            text=body.text,
        )
        findings = check(body.text, ctx, model=body.model)
    except ContentInputError as exc:
        raise Invalid("text" if "text" in str(exc) else "context", str(exc)) from None
    except ContentUnavailable as exc:
        raise Unavailable(str(exc)) from None
    return CheckRead(
        id=body.id, findings=[FindingRead.model_validate(f.as_json()) for f in findings]
    )
