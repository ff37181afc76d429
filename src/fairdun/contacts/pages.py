"""HTML routes of the contact gate: a loan's parties, decisions and log with the forms to
propose a contact, record its outcome and record account events; and the public shield."""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from fairdun.compliance.events import Channel, Outcome, Purpose
from fairdun.contacts import rules, service
from fairdun.contacts.models import ContactDecision, EventKind, LawfulBasis, PointSource
from fairdun.contacts.schemas import (
    AccountEventCreate,
    AuthorizeCreate,
    PartyCreate,
    PointCreate,
    ShieldRequestCreate,
    ShieldVerifyCreate,
)
from fairdun.kit.errors import DomainError, Invalid
from fairdun.loans.models import Borrower
from fairdun.web.deps import (
    CsrfChecked,
    CurrentPage,
    Db,
    PreSessionCsrfChecked,
    now_of,
    settings_of,
)
from fairdun.web.forms import error_text as _error_text
from fairdun.web.security import PRESESSION_COOKIE, make_csrf
from fairdun.web.templating import render, request_locale

router = APIRouter(include_in_schema=False)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    return message


# Stored values the contact pages show translated (extracted by `make i18n-extract`).
LABELS = [
    N_("debtor"),
    N_("co_obligor"),
    N_("guarantor"),
    N_("contact_person"),
    N_("consent"),
    N_("contract"),
    N_("legal_duty"),
    N_("phone"),
    N_("email"),
    N_("address"),
    N_("borrower_provided"),
    N_("loan_contract"),
    N_("public_registry"),
    N_("court_record"),
    N_("returned_by_person"),
    N_("call"),
    N_("sms"),
    N_("letter"),
    N_("visit"),
    N_("collect"),
    N_("locate"),
    N_("required_notice"),
    N_("response"),
    N_("not_connected"),
    N_("no_answer"),
    N_("voicemail"),
    N_("conversation"),
    N_("wrong_party"),
    N_("delivered"),
    N_("failed"),
    N_("contact"),
    N_("cease_request"),
    N_("dispute_opened"),
    N_("dispute_resolved"),
    N_("attorney_retained"),
    N_("medium_opt_out"),
    N_("call_consent"),
    N_("contact_refused"),
    N_("contact_agreement"),
]


def _decision_view(d: ContactDecision, locale: str) -> dict[str, Any]:
    reasons = json.loads(d.reasons)
    return {
        "id": d.id,
        "allowed": d.allowed,
        "decided_at": d.decided_at,
        "decided_local": service.local_time(d.decided_at, d.timezone),
        "channel": d.channel,
        "purpose": d.purpose,
        "party_id": d.party_id,
        "rules": d.rules.split(),
        "reasons": [
            {"rule": r["rule"], "text": r["message"] if locale == "en" else r["message_zh"]}
            for r in reasons
        ],
        "earliest_local": service.local_time(d.earliest_lawful_at, d.timezone),
        "reservation": d.reservation,
        "pack": d.pack,
        "pack_version": d.pack_version,
    }


def _context(
    request: Request, db: Db, page: CurrentPage, loan_id: int, **extra: Any
) -> dict[str, Any]:
    loan = service.get_loan(db, page.principal, loan_id)
    view = service.loan_contacts(db, page.principal, loan.id)
    locale = request_locale(request)
    borrower = db.get(Borrower, loan.borrower_id)
    decisions = [_decision_view(d, locale) for d in view.decisions]
    shown = extra.pop("shown", None)
    open_reservations = {
        e.reservation
        for e in view.log
        if e.reservation and e.outcome is None and e.expires_at and e.expires_at > now_of(request)
    }
    return {
        "loan": loan,
        "borrower": borrower,
        "parties": [
            {
                "party": v.party,
                "points": [{"point": p, "masked": rules.mask(p.value, p.kind)} for p in v.points],
            }
            for v in view.parties
        ],
        "decisions": decisions,
        "shown": next((d for d in decisions if d["id"] == shown), None),
        "log": view.log,
        "open_reservations": open_reservations,
        "can_propose": page.role in service.GATE_ROLES,
        "can_record": page.role in service.EVENT_ROLES,
        "channels": [c.value for c in rules.POINT_FOR_CHANNEL],
        "purposes": [p.value for p in Purpose if p is not Purpose.OPT_OUT_CONFIRMATION],
        "outcomes": [o.value for o in Outcome],
        "event_kinds": [k.value for k in EventKind if k is not EventKind.CONTACT],
        "bases": [b.value for b in LawfulBasis],
        "sources": [s.value for s in PointSource],
        "form_error": None,
        **extra,
    }


@router.get("/loans/{loan_id}/contacts", response_class=HTMLResponse)
def contacts_page(
    loan_id: int,
    request: Request,
    db: Db,
    page: CurrentPage,
    decision: Annotated[int | None, Query()] = None,
) -> Response:
    return render(
        request, "contacts/loan.html", _context(request, db, page, loan_id, shown=decision)
    )


def _form_failed(
    request: Request, db: Db, page: CurrentPage, loan_id: int, exc: Exception
) -> Response:
    db.rollback()
    context = _context(request, db, page, loan_id)
    context["form_error"] = _error_text(exc)
    status = 422 if isinstance(exc, ValidationError) else getattr(exc, "status_code", 400)
    return render(request, "contacts/loan.html", context, status_code=status)


def _opt_int(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() else None


@router.post(
    "/loans/{loan_id}/contacts/propose", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
def propose(
    loan_id: int,
    request: Request,
    db: Db,
    page: CurrentPage,
    target: Annotated[str, Form(max_length=40)] = "",
    channel: Annotated[str, Form(max_length=20)] = "",
    purpose: Annotated[str, Form(max_length=30)] = "collect",
    amount: Annotated[str, Form(max_length=20)] = "",
    text: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """``target`` is ``party_id:point_id`` from the form's choice of a party's number."""
    party_text, _, point_text = target.partition(":")
    try:
        data = AuthorizeCreate(
            loan_id=loan_id,
            party_id=_opt_int(party_text),
            point_id=_opt_int(point_text),
            channel=channel or None,
            purpose=purpose,
            amount=round(float(amount) * 100) if amount.strip() else None,
            text=text.strip() or None,
        )
        result = service.authorize(
            db, page.principal, data, now_of(request), request_locale(request)
        )
    except (ValidationError, DomainError, ValueError) as exc:
        return _form_failed(request, db, page, loan_id, exc)
    return RedirectResponse(
        f"/loans/{loan_id}/contacts?decision={result.decision.id}#decision", status_code=303
    )


@router.post(
    "/loans/{loan_id}/contacts/outcome", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
def record_outcome(
    loan_id: int,
    request: Request,
    db: Db,
    page: CurrentPage,
    reservation: Annotated[str, Form(max_length=36)],
    outcome: Annotated[str, Form(max_length=20)],
) -> Response:
    try:
        service.get_loan(db, page.principal, loan_id)
        try:
            value = Outcome(outcome)
        except ValueError:
            raise Invalid("outcome", f"unknown outcome {outcome!r}") from None
        service.record_outcome(db, page.principal, reservation, value, now_of(request))
    except (ValidationError, DomainError) as exc:
        return _form_failed(request, db, page, loan_id, exc)
    return RedirectResponse(f"/loans/{loan_id}/contacts#log", status_code=303)


@router.post(
    "/loans/{loan_id}/contacts/events", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
def record_event(
    loan_id: int,
    request: Request,
    db: Db,
    page: CurrentPage,
    kind: Annotated[str, Form(max_length=30)],
    party_id: Annotated[str, Form(max_length=12)] = "",
    channel: Annotated[str, Form(max_length=20)] = "",
    window: Annotated[str, Form(max_length=11)] = "",
) -> Response:
    try:
        data = AccountEventCreate(
            kind=kind,
            party_id=_opt_int(party_id),
            channel=Channel(channel) if channel else None,
            window=window or None,
        )
        service.record_account_event(db, page.principal, loan_id, data, now_of(request))
    except (ValidationError, DomainError, ValueError) as exc:
        return _form_failed(request, db, page, loan_id, exc)
    return RedirectResponse(f"/loans/{loan_id}/contacts#log", status_code=303)


@router.post(
    "/loans/{loan_id}/contacts/parties", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
def add_party(
    loan_id: int,
    request: Request,
    db: Db,
    page: CurrentPage,
    role: Annotated[str, Form(max_length=20)],
    name: Annotated[str, Form(max_length=100)],
    phone: Annotated[str, Form(max_length=40)],
    source: Annotated[str, Form(max_length=40)],
    contract_reference: Annotated[str, Form(max_length=100)] = "",
    lawful_basis: Annotated[str, Form(max_length=20)] = "",
    basis_date: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    try:
        data = PartyCreate(
            role=role,
            name=name,
            contract_reference=contract_reference or None,
            lawful_basis=lawful_basis or None,
            basis_date=basis_date or None,
            point=PointCreate(kind="phone", value=phone, source=source),
        )
        service.add_party(db, page.principal, loan_id, data, now_of(request))
    except (ValidationError, DomainError) as exc:
        return _form_failed(request, db, page, loan_id, exc)
    return RedirectResponse(f"/loans/{loan_id}/contacts#parties", status_code=303)


# --- the public shield page ---------------------------------------------------------------


def _shield_page(request: Request, step: str, status_code: int = 200, **context: Any) -> Response:
    settings = settings_of(request)
    pre = request.cookies.get(PRESESSION_COOKIE) or secrets.token_urlsafe(24)
    token = make_csrf(settings.secret_key, pre, now_of(request))
    response = render(
        request,
        "contacts/shield.html",
        {"csrf_token": token, "step": step, "error": None, **context},
        status_code=status_code,
    )
    response.set_cookie(
        PRESESSION_COOKIE,
        pre,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return response


@router.get("/shield", response_class=HTMLResponse)
def shield_form(request: Request) -> Response:
    """Anyone, logged in or not: shield a number from contact about other people's debts."""
    return _shield_page(request, "request")


@router.post("/shield", response_class=HTMLResponse, dependencies=[PreSessionCsrfChecked])
def shield_request(
    request: Request, db: Db, phone: Annotated[str, Form(max_length=30)]
) -> Response:
    try:
        data = ShieldRequestCreate(phone=phone)
        requester = request.client.host if request.client else "unknown"
        verification = service.request_shield(db, data.phone, requester, now_of(request))
    except (ValidationError, DomainError) as exc:
        db.rollback()
        status = 422 if isinstance(exc, ValidationError) else exc.status_code
        return _shield_page(request, "request", status, error=_error_text(exc))
    return _shield_page(request, "verify", verification=verification.token)


@router.post("/shield/verify", response_class=HTMLResponse, dependencies=[PreSessionCsrfChecked])
def shield_verify(
    request: Request,
    db: Db,
    verification: Annotated[str, Form(max_length=36)],
    code: Annotated[str, Form(max_length=10)],
) -> Response:
    try:
        data = ShieldVerifyCreate(verification=verification, code=code.strip())
        check = service.verify_shield(db, data.verification, data.code, now_of(request))
    except (ValidationError, DomainError) as exc:
        db.rollback()
        status = 422 if isinstance(exc, ValidationError) else exc.status_code
        return _shield_page(
            request, "verify", status, verification=verification, error=_error_text(exc)
        )
    if not check.verified:
        db.commit()  # the wrong attempt counts (throttling), as a failed log-in does
        return _shield_page(request, "verify", 422, verification=verification, error=check.reason)
    return _shield_page(request, "done")
