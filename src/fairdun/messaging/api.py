"""JSON routes of message templates. Activation refused for findings is 409 with the
findings; the refusal itself is audited (the response is not an error that rolls back)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fairdun.contacts.schemas import ContentFindingRead
from fairdun.messaging import service
from fairdun.messaging.schemas import TemplateCheckRead, TemplateCreate, TemplateRead
from fairdun.web.deps import ApiPrincipal, Db, now_of

router = APIRouter(prefix="/api/v1/templates", tags=["templates"])


def _check_read(result: service.CheckResult) -> TemplateCheckRead:
    return TemplateCheckRead(
        template_id=result.template.id,
        rendered=result.rendered,
        findings=[ContentFindingRead.model_validate(f.as_json()) for f in result.findings],
        activated=result.activated,
        status=result.template.status,
    )


@router.get("", response_model=list[TemplateRead])
def list_templates(db: Db, principal: ApiPrincipal) -> list[TemplateRead]:
    return [TemplateRead.model_validate(t) for t in service.visible(db, principal)]


@router.post("", response_model=TemplateRead, status_code=201)
def create_template(
    data: TemplateCreate, request: Request, db: Db, principal: ApiPrincipal
) -> TemplateRead:
    """A new draft version; it sends nothing until activated."""
    return TemplateRead.model_validate(service.create(db, principal, data, now_of(request)))


@router.get("/{template_id}", response_model=TemplateRead)
def get_template(template_id: int, db: Db, principal: ApiPrincipal) -> TemplateRead:
    return TemplateRead.model_validate(service.get(db, principal, template_id))


@router.post("/{template_id}/check", response_model=TemplateCheckRead)
def check_template(template_id: int, db: Db, principal: ApiPrincipal) -> TemplateCheckRead:
    """The sample rendering and its content findings, without activating."""
    template = service.get(db, principal, template_id)
    rendered, findings = service.findings_of(db, template)
    return _check_read(service.CheckResult(template, rendered, tuple(findings), False))


@router.post(
    "/{template_id}/activate",
    response_model=TemplateCheckRead,
    responses={409: {"model": TemplateCheckRead, "description": "refused: content findings"}},
)
def activate_template(
    template_id: int, request: Request, db: Db, principal: ApiPrincipal
) -> TemplateCheckRead | JSONResponse:
    result = service.activate(db, principal, template_id, now_of(request))
    body = _check_read(result)
    if not result.activated:
        return JSONResponse(status_code=409, content=body.model_dump(mode="json"))
    return body
