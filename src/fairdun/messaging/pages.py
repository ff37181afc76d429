"""HTML routes for message wording: check any text with the content checker, and write,
check and activate message templates (activation refused while there are findings)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from fairdun.content.checker import check, make_context
from fairdun.content.types import CHANNELS, RECIPIENT_ROLES, ContentInputError, Finding
from fairdun.identity.models import Role
from fairdun.kit.errors import DomainError, Forbidden
from fairdun.messaging import service
from fairdun.messaging.render import VARIABLES
from fairdun.messaging.schemas import TemplateCreate
from fairdun.web.deps import CsrfChecked, CurrentPage, Db, now_of
from fairdun.web.forms import error_text as _error_text
from fairdun.web.templating import render, request_locale

router = APIRouter(include_in_schema=False)

READERS = (
    Role.PLATFORM_ADMIN,
    Role.REGULATOR,
    Role.INSTITUTION_ADMIN,
    Role.COMPLIANCE_OFFICER,
    Role.COLLECTOR,
    Role.AGENCY_COLLECTOR,
)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    return message


# Stored values these pages show translated (extracted by `make i18n-extract`).
LABELS = [
    N_("spouse"),
    N_("parent"),
    N_("guardian"),
    N_("executor"),
    N_("attorney"),
    N_("third_party"),
    N_("employer"),
    N_("push"),
    N_("im"),
    N_("draft"),
    N_("active"),
    N_("retired"),
]


def finding_views(text: str, findings: list[Finding], locale: str) -> list[dict[str, Any]]:
    return [
        {
            "category": f.category,
            "rule": f.rule,
            "span": f.span,
            "before": text[max(0, f.start - 12) : f.start],
            "after": text[f.end : f.end + 12],
            "explanation": f.explanation_en
            if locale == "en" and f.explanation_en
            else f.explanation,
            "layer": f.layer,
        }
        for f in findings
    ]


def _page(request: Request, db: Db, page: CurrentPage, status: int = 200, **extra: Any) -> Response:
    if page.role not in READERS:
        raise Forbidden("your role has no message templates")
    context: dict[str, Any] = {
        "templates": service.visible(db, page.principal),
        "can_write": page.role in service.WRITERS and page.principal.scope is not None,
        "can_activate": page.role in service.ACTIVATORS,
        "channels": CHANNELS,
        "roles": RECIPIENT_ROLES,
        "variables": VARIABLES,
        "checked": None,
        "form": {},
        **extra,
    }
    return render(request, "messaging/templates.html", context, status_code=status)


@router.get("/templates", response_class=HTMLResponse)
def templates_page(request: Request, db: Db, page: CurrentPage) -> Response:
    return _page(request, db, page)


@router.post("/templates/check", response_class=HTMLResponse, dependencies=[CsrfChecked])
def check_text(
    request: Request,
    db: Db,
    page: CurrentPage,
    text: Annotated[str, Form(max_length=10_001)] = "",
    lang: Annotated[str, Form(max_length=2)] = "",
    recipient_role: Annotated[str, Form(max_length=20)] = "debtor",
    channel: Annotated[str, Form(max_length=10)] = "sms",
    jurisdiction: Annotated[str, Form(max_length=2)] = "cn",
) -> Response:
    """Findings for any text, with the span shown in its context."""
    form = {"text": text, "recipient_role": recipient_role, "channel": channel}
    try:
        ctx = make_context(
            lang=lang or None,
            recipient_role=recipient_role,
            channel=channel,
            jurisdiction=jurisdiction,
            text=text,
        )
        findings = check(text, ctx)
    except ContentInputError as exc:
        return _page(request, db, page, 422, check_error=str(exc), form=form)
    checked = finding_views(text, findings, request_locale(request))
    return _page(request, db, page, checked=checked, form=form)


@router.post("/templates", response_class=HTMLResponse, dependencies=[CsrfChecked])
def create_template(
    request: Request,
    db: Db,
    page: CurrentPage,
    key: Annotated[str, Form(max_length=60)] = "",
    channel: Annotated[str, Form(max_length=10)] = "sms",
    lang: Annotated[str, Form(max_length=2)] = "zh",
    jurisdiction: Annotated[str, Form(max_length=2)] = "cn",
    recipient_role: Annotated[str, Form(max_length=20)] = "debtor",
    first_contact: Annotated[str, Form(max_length=5)] = "",
    body: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    try:
        data = TemplateCreate(
            key=key,
            channel=channel,
            lang=lang,
            jurisdiction=jurisdiction,
            recipient_role=recipient_role,
            first_contact=bool(first_contact),
            body=body,
        )
        template = service.create(db, page.principal, data, now_of(request))
    except (ValidationError, DomainError) as exc:
        return _page(request, db, page, 422, form_error=_error_text(exc))
    return RedirectResponse(f"/templates#template-{template.id}", status_code=303)


@router.post(
    "/templates/{template_id}/activate", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
def activate_template(template_id: int, request: Request, db: Db, page: CurrentPage) -> Response:
    result = service.activate(db, page.principal, template_id, now_of(request))
    if result.activated:
        return RedirectResponse(f"/templates#template-{template_id}", status_code=303)
    refused = {
        "id": template_id,
        "findings": finding_views(result.rendered, list(result.findings), request_locale(request)),
    }
    return _page(request, db, page, 409, refused=refused)
