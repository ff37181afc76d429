"""HTML routes of the registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from fairdun.identity.models import Role
from fairdun.institutions import service
from fairdun.institutions.models import InstitutionKind, LicenceStatus
from fairdun.institutions.schemas import InstitutionCreate, LicenceChangeCreate
from fairdun.kit.errors import DomainError
from fairdun.web.deps import CsrfChecked, CurrentPage, Db
from fairdun.web.forms import error_text as _error_text
from fairdun.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/institutions", response_class=HTMLResponse)
def institutions_page(request: Request, db: Db, page: CurrentPage) -> Response:
    return render(request, "institutions/list.html", _list_context(db, page))


def _list_context(db: Db, page: CurrentPage) -> dict[str, object]:
    return {
        "institutions": service.listing(db, page.principal),
        "kinds": list(InstitutionKind),
        "can_register": page.role is Role.PLATFORM_ADMIN,
        "form_error": None,
    }


@router.post("/institutions", response_class=HTMLResponse, dependencies=[CsrfChecked])
def register_page(
    request: Request,
    db: Db,
    page: CurrentPage,
    name: Annotated[str, Form()],
    credit_code: Annotated[str, Form()],
    kind: Annotated[str, Form()],
    licence_number: Annotated[str, Form()] = "",
) -> Response:
    try:
        data = InstitutionCreate(
            name=name,
            credit_code=credit_code,
            kind=kind,
            licence_number=licence_number,
        )
        inst = service.create(db, page.principal, data)
    except (ValidationError, DomainError) as exc:
        db.rollback()
        context = _list_context(db, page)
        context["form_error"] = _error_text(exc)
        status = 422 if isinstance(exc, ValidationError) else exc.status_code
        return render(request, "institutions/list.html", context, status_code=status)
    return RedirectResponse(f"/institutions/{inst.id}", status_code=303)


@router.get("/institutions/{institution_id}", response_class=HTMLResponse)
def institution_page(institution_id: int, request: Request, db: Db, page: CurrentPage) -> Response:
    return render(request, "institutions/detail.html", _detail_context(db, page, institution_id))


def _detail_context(db: Db, page: CurrentPage, institution_id: int) -> dict[str, object]:
    inst = service.get(db, page.principal, institution_id)
    return {
        "institution": inst,
        "history": service.licence_history(db, page.principal, institution_id),
        "engagements": service.engagements(db, page.principal, institution_id),
        "collection": service.collection_check(db, inst.id),
        "statuses": list(LicenceStatus),
        "can_change_licence": page.role in (Role.PLATFORM_ADMIN, Role.REGULATOR),
        "form_error": None,
    }


@router.post(
    "/institutions/{institution_id}/licence",
    response_class=HTMLResponse,
    dependencies=[CsrfChecked],
)
def change_licence_page(
    institution_id: int,
    request: Request,
    db: Db,
    page: CurrentPage,
    status: Annotated[str, Form()],
    reason: Annotated[str, Form()],
) -> Response:
    """Answers HTMX with the licence panel only, a plain form post with the whole page."""
    template = (
        "institutions/_licence.html"
        if request.headers.get("hx-request")
        else "institutions/detail.html"
    )
    try:
        data = LicenceChangeCreate(status=status, reason=reason)
        service.change_licence(db, page.principal, institution_id, data)
    except (ValidationError, DomainError) as exc:
        db.rollback()
        context = _detail_context(db, page, institution_id)
        context["form_error"] = _error_text(exc)
        code = 422 if isinstance(exc, ValidationError) else exc.status_code
        # A 404 for another tenant's institution must stay a 404, not a form.
        if code == 404:
            raise
        return render(request, template, context, status_code=code)
    return render(request, template, _detail_context(db, page, institution_id))
