"""JSON routes of the audit trail."""

from __future__ import annotations

from fastapi import APIRouter, Query

from fairdun.audit import service
from fairdun.audit.schemas import AuditRecordRead, VerifyRead
from fairdun.web.deps import ApiPrincipal, Db

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", response_model=list[AuditRecordRead])
def list_audit(
    db: Db,
    principal: ApiPrincipal,
    limit: int = Query(100, ge=1, le=1000),
    before_id: int | None = Query(None, ge=1),
) -> list[AuditRecordRead]:
    """Newest first; page back with ``before_id``."""
    records = service.visible_records(db, principal, limit=limit, before_id=before_id)
    return [AuditRecordRead.model_validate(r) for r in records]


@router.get("/verify", response_model=VerifyRead)
def verify_chain(db: Db, principal: ApiPrincipal) -> VerifyRead:
    result = service.verify_for(db, principal)
    return VerifyRead(
        ok=result.ok, checked=result.checked, broken_id=result.broken_id, problem=result.problem
    )
