"""HTML route of the audit trail."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from fairdun.audit import service
from fairdun.identity.models import Role
from fairdun.web.deps import CurrentPage, Db
from fairdun.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, db: Db, page: CurrentPage, before_id: int | None = Query(None, ge=1)
) -> Response:
    records = service.visible_records(db, page.principal, limit=50, before_id=before_id)
    verified = service.verify(db) if page.role in (Role.PLATFORM_ADMIN, Role.REGULATOR) else None
    return render(request, "audit/list.html", {"records": records, "verified": verified})
