"""HTML routes of the reporting platform.

Public, no log-in: the report form (``/report``), the receipt, and the reporter's case
page (``/report/track`` then ``/report/case``). The forms carry a pre-session CSRF token
(as the log-in and shield forms do). After the receipt is checked once, a signed,
short-lived cookie scoped to ``/report`` stands for it, so the secret is not written
into every page.

Staff (the regulator, an institution's complaint staff): ``/complaints`` and each case.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from fairdun.complaints import repository, service
from fairdun.complaints.api import (
    config_of,
    evidence_response,
    read_uploads,
    store_of,
    submit_and_commit,
)
from fairdun.complaints.config import HoldPolicy
from fairdun.complaints.models import Complaint
from fairdun.complaints.schemas import (
    REPORT_CATEGORIES,
    ComplexityCreate,
    FeedbackCreate,
    NoteCreate,
    ReportCreate,
    ResponseCreate,
    TextCreate,
    TriageCreate,
)
from fairdun.complaints.transitions import (
    LEGAL_ZONE,
    Complexity,
    Party,
    ReporterKind,
    ResponseOutcome,
    Status,
    allowed_next,
    deadline_state,
)
from fairdun.identity import service as identity
from fairdun.identity.models import Role
from fairdun.identity.principal import Principal
from fairdun.kit.errors import DomainError, Invalid
from fairdun.loans import repository as loans_repo
from fairdun.web.deps import (
    CsrfChecked,
    CurrentPage,
    Db,
    PreSessionCsrfChecked,
    now_of,
    session_policy,
    settings_of,
)
from fairdun.web.forms import error_field, error_text
from fairdun.web.security import PRESESSION_COOKIE, SESSION_COOKIE, make_csrf
from fairdun.web.templating import render

router = APIRouter(include_in_schema=False)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    return message


# Stored values shown translated (extracted by `make i18n-extract`).
STATUS = {
    "submitted": N_("Received"),
    "triaged": N_("Reviewed"),
    "forwarded": N_("With the institution"),
    "responded": N_("The institution answered"),
    "accepted": N_("Answer accepted"),
    "disputed": N_("Answer disputed"),
    "escalated": N_("Escalated to the regulator"),
    "closed": N_("Closed"),
}
CATEGORY = {
    "threat": N_("Threats of violence or harm"),
    "false-legal": N_("False legal threats (arrest, lawsuit, criminal record)"),
    "impersonation": N_("Pretending to be police, a court or a lawyer"),
    "insult": N_("Insults and humiliation"),
    "third-party-disclosure": N_("Telling family, friends or colleagues about the debt"),
    "expose": N_("Threats to expose or shame in public"),
    "collective-liability": N_("Demanding that family or others pay"),
    "borrow-to-repay": N_("Pushing to borrow elsewhere to repay"),
    "pretext": N_("Lies or pretexts"),
    "unlawful-amount": N_("Demanding amounts or fees not owed"),
    "overshadowing": N_("Hiding or talking over the borrower's rights"),
    "private-payment": N_("Asking for payment into a private account"),
    "frequency": N_("Too many calls or messages"),
    "hours": N_("Calls or messages at night"),
    "visits": N_("Visits to home or workplace"),
}
KIND = {
    "borrower": N_("The borrower"),
    "contact_or_relative": N_("A contact person or relative"),
    "colleague_or_employer": N_("A colleague or employer"),
    "stranger": N_("Someone with nothing to do with the loan"),
}
OUTCOME = {
    "explanation": N_("Explanation: nothing to correct"),
    "remedy": N_("Remedy: the conduct was corrected"),
    "relief": N_("Relief: fees waived or money returned"),
    "no_action": N_("No action"),
}
EVENT = {
    "submitted": N_("Report received"),
    "triaged": N_("Reviewed by the regulator"),
    "forwarded": N_("Forwarded to the institution"),
    "responded": N_("The institution answered"),
    "feedback_accepted": N_("The reporter accepted the answer"),
    "feedback_disputed": N_("The reporter disputed the answer"),
    "escalated": N_("Escalated to the regulator"),
    "closed": N_("Closed"),
    "evidence_added": N_("Evidence added"),
    "question": N_("Question to the reporter"),
    "answer": N_("The reporter's answer"),
    "marked_complex": N_("Marked complex: 30 days to answer"),
    "marked_extended": N_("Extended to 60 days with a senior's approval"),
    "hold_placed": N_("Collection of the loan paused"),
    "hold_released": N_("Collection pause lifted"),
    "publish_consented": N_(
        "The reporter agreed to publish the account, with personal data removed"
    ),
    "reminder_due_soon": N_("Reminder: the answer is due soon"),
    "reminder_overdue": N_("Reminder: the answer is overdue"),
}
DEADLINE = {
    "on_time": N_("On time"),
    "due_soon": N_("Due soon"),
    "overdue": N_("Overdue"),
    "answered": N_("Answered in time"),
    "answered_late": N_("Answered late"),
}
COMPLEXITY = {
    "standard": N_("Standard: 15 days"),
    "complex": N_("Complex: 30 days"),
    "extended": N_("Extended: 60 days"),
}
PARTY = {
    "reporter": N_("Reporter"),
    "institution": N_("Institution"),
    "regulator": N_("Regulator"),
    "system": N_("System"),
}


@dataclass(frozen=True)
class Labels:
    status: dict[str, str]
    category: dict[str, str]
    kind: dict[str, str]
    outcome: dict[str, str]
    event: dict[str, str]
    deadline: dict[str, str]
    complexity: dict[str, str]
    party: dict[str, str]


LABELS = Labels(STATUS, CATEGORY, KIND, OUTCOME, EVENT, DEADLINE, COMPLEXITY, PARTY)


def fmt_local(at: datetime | None) -> str:
    """A timestamp in Beijing time, as the deadlines are counted."""
    return at.astimezone(LEGAL_ZONE).strftime("%Y-%m-%d %H:%M") if at else "—"


def fmt_due(at: datetime | None) -> str:
    """The last day of a deadline (the moment stored is midnight after it)."""
    return (at.astimezone(LEGAL_ZONE) - timedelta(seconds=1)).strftime("%Y-%m-%d") if at else "—"


def _error_text(exc: Exception) -> tuple[str, str | None]:
    """The message and the first field it names."""
    return error_text(exc), error_field(exc)


def _status_of(exc: Exception) -> int:
    return 422 if isinstance(exc, ValidationError) else getattr(exc, "status_code", 400)


# --- pre-session CSRF and the optional borrower ---------------------------------------------


def _public_page(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    settings = settings_of(request)
    pre = request.cookies.get(PRESESSION_COOKIE) or secrets.token_urlsafe(24)
    token = make_csrf(settings.secret_key, pre, now_of(request))
    response = render(
        request,
        template,
        {"csrf_token": token, "L": LABELS, "fmt": fmt_local, "fmt_due": fmt_due, **context},
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
    response.headers["Cache-Control"] = "no-store"
    return response


def _borrower(request: Request, db: Session) -> Principal | None:
    """The logged-in borrower, if the reporter is one (their loans can be linked)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    found = identity.resolve_session(db, raw, session_policy(settings_of(request)), now_of(request))
    if found is None:
        return None
    principal = identity.principal_for_user(found[0])
    return principal if principal.role is Role.BORROWER else None


# --- the report form ------------------------------------------------------------------------


def _form_context(
    request: Request, db: Session, form: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    borrower = _borrower(request, db)
    loans = (
        list(db.scalars(loans_repo.visible_loans(borrower)).all()) if borrower is not None else []
    )
    return {
        "form": form,
        "institutions": service.reportable_institutions(db),
        "categories": REPORT_CATEGORIES,
        "kinds": [k.value for k in ReporterKind],
        "loans": loans,
        "error": None,
        "error_field": None,
        "today": service.today_local(now_of(request)).isoformat(),
        **extra,
    }


@router.get("/report", response_class=HTMLResponse)
def report_form(request: Request, db: Db) -> Response:
    """Anyone, logged in or not: report abusive collection."""
    return _public_page(
        request, "complaints/report.html", _form_context(request, db, {"anonymous": True})
    )


def _opt_int(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() else None


@router.post("/report", response_class=HTMLResponse, dependencies=[PreSessionCsrfChecked])
def report_submit(
    request: Request,
    db: Db,
    reporter_kind: Annotated[str, Form(max_length=30)] = "",
    institution: Annotated[str, Form(max_length=200)] = "",
    categories: Annotated[list[str] | None, Form()] = None,
    incident_date: Annotated[str, Form(max_length=10)] = "",
    caller_numbers: Annotated[str, Form(max_length=500)] = "",
    message_text: Annotated[str, Form(max_length=4000)] = "",
    narrative: Annotated[str, Form(max_length=10000)] = "",
    anonymous: Annotated[str, Form(max_length=5)] = "",
    reporter_name: Annotated[str, Form(max_length=200)] = "",
    reporter_phone: Annotated[str, Form(max_length=40)] = "",
    consent_share_identity: Annotated[str, Form(max_length=5)] = "",
    share_evidence: Annotated[str, Form(max_length=5)] = "",
    consent_publish: Annotated[str, Form(max_length=5)] = "",
    shield: Annotated[str, Form(max_length=5)] = "",
    shield_phone: Annotated[str, Form(max_length=40)] = "",
    loan_id: Annotated[str, Form(max_length=12)] = "",
    website: Annotated[str, Form(max_length=500)] = "",
    evidence: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    categories = categories or []
    form = {
        "reporter_kind": reporter_kind,
        "institution": institution,
        "categories": categories,
        "incident_date": incident_date,
        "caller_numbers": caller_numbers,
        "message_text": message_text,
        "narrative": narrative,
        "anonymous": bool(anonymous),
        "reporter_name": reporter_name,
        "reporter_phone": reporter_phone,
        "consent_share_identity": bool(consent_share_identity),
        "share_evidence": bool(share_evidence),
        "consent_publish": bool(consent_publish),
        "shield": bool(shield),
        "shield_phone": shield_phone,
        "loan_id": loan_id,
    }
    try:
        try:
            when = date.fromisoformat(incident_date) if incident_date.strip() else None
        except ValueError:
            raise Invalid("incident_date", "not a date (YYYY-MM-DD)") from None
        chosen = next(
            (i for i in service.reportable_institutions(db) if i.name == institution.strip()),
            None,
        )
        data = ReportCreate(
            reporter_kind=reporter_kind,
            institution_id=chosen.id if chosen else None,
            institution_name=institution.strip() or None if chosen is None else None,
            categories=categories,
            incident_date=when,
            caller_numbers=[n for n in caller_numbers.replace(",", "\n").split("\n") if n.strip()],
            message_text=message_text or None,
            narrative=narrative,
            anonymous=bool(anonymous),
            reporter_name=reporter_name or None,
            reporter_phone=reporter_phone or None,
            consent_share_identity=bool(consent_share_identity),
            share_evidence=bool(share_evidence),
            consent_publish=bool(consent_publish),
            shield_phone=(shield_phone or None) if shield else None,
            loan_id=_opt_int(loan_id),
            website=website,
        )
        if shield and not data.shield_phone:
            raise Invalid("shield_phone", "give the number to shield")
        receipt = submit_and_commit(
            request, db, data, read_uploads(evidence or []), _borrower(request, db)
        )
    except (ValidationError, DomainError) as exc:
        db.rollback()
        message, field = _error_text(exc)
        return _public_page(
            request,
            "complaints/report.html",
            _form_context(request, db, form, error=message, error_field=field),
            status_code=_status_of(exc),
        )
    return _public_page(request, "complaints/receipt.html", {"receipt": receipt})


# --- the reporter's case page ---------------------------------------------------------------

CASE_COOKIE = "fairdun_case"
CASE_TTL = timedelta(minutes=30)


def _case_mac(secret_key: str, code: str, expires: int) -> str:
    message = f"complaint-case|{code}|{expires}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def _case_cookie(request: Request, code: str) -> str:
    expires = int((now_of(request) + CASE_TTL).timestamp())
    return f"{code}.{expires}.{_case_mac(settings_of(request).secret_key, code, expires)}"


def _cookie_case(request: Request, db: Session) -> Complaint | None:
    raw = request.cookies.get(CASE_COOKIE, "")
    code, _, rest = raw.partition(".")
    expires_text, _, mac = rest.partition(".")
    if not code or not expires_text.isdigit():
        return None
    expected = _case_mac(settings_of(request).secret_key, code, int(expires_text))
    if not hmac.compare_digest(expected, mac) or int(expires_text) < now_of(request).timestamp():
        return None
    return repository.by_tracking_code(db, code)


@router.get("/report/track", response_class=HTMLResponse)
def track_form(request: Request) -> Response:
    return _public_page(request, "complaints/track.html", {"error": None, "code": ""})


@router.post("/report/track", response_class=HTMLResponse, dependencies=[PreSessionCsrfChecked])
def track(
    request: Request,
    db: Db,
    code: Annotated[str, Form(max_length=40)] = "",
    secret: Annotated[str, Form(max_length=60)] = "",
) -> Response:
    try:
        complaint = service.lookup(db, code, secret)
    except DomainError as exc:
        return _public_page(
            request, "complaints/track.html", {"error": exc.message, "code": code}, 404
        )
    response = RedirectResponse("/report/case", status_code=303)
    response.set_cookie(
        CASE_COOKIE,
        _case_cookie(request, complaint.tracking_code),
        max_age=int(CASE_TTL.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=settings_of(request).cookie_secure,
        path="/report",
    )
    return response


def _case_page(
    request: Request, db: Session, complaint: Complaint, error: str | None = None, status: int = 200
) -> Response:
    view = service.present(db, complaint, service.REPORTER, now_of(request))
    return _public_page(
        request,
        "complaints/case_reporter.html",
        {"view": view, "c": complaint, "error": error, "outcomes": OUTCOME},
        status,
    )


@router.get("/report/case", response_class=HTMLResponse)
def reporter_case(request: Request, db: Db) -> Response:
    complaint = _cookie_case(request, db)
    if complaint is None:
        return RedirectResponse("/report/track", status_code=303)
    return _case_page(request, db, complaint)


def _reporter_step(request: Request, db: Session, step: Any) -> Response:
    complaint = _cookie_case(request, db)
    if complaint is None:
        return RedirectResponse("/report/track", status_code=303)
    try:
        with store_of(request).staging() as staged:
            step(complaint, staged)
            db.commit()
    except (ValidationError, DomainError) as exc:
        db.rollback()
        return _case_page(request, db, complaint, _error_text(exc)[0], _status_of(exc))
    return RedirectResponse("/report/case", status_code=303)


@router.post(
    "/report/case/evidence", response_class=HTMLResponse, dependencies=[PreSessionCsrfChecked]
)
def reporter_evidence(
    request: Request,
    db: Db,
    evidence: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    uploads = read_uploads(evidence or [])
    return _reporter_step(
        request,
        db,
        lambda c, store: service.reporter_add_evidence(db, c, uploads, now_of(request), store),
    )


@router.post(
    "/report/case/answer", response_class=HTMLResponse, dependencies=[PreSessionCsrfChecked]
)
def reporter_answer(
    request: Request, db: Db, text: Annotated[str, Form(max_length=8000)] = ""
) -> Response:
    return _reporter_step(
        request,
        db,
        lambda c, _store: service.reporter_answer(db, c, TextCreate(text=text), now_of(request)),
    )


@router.post(
    "/report/case/feedback", response_class=HTMLResponse, dependencies=[PreSessionCsrfChecked]
)
def reporter_feedback(
    request: Request,
    db: Db,
    accepted: Annotated[str, Form(max_length=5)] = "",
    comment: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    data = {"accepted": accepted == "yes", "comment": comment or None}
    return _reporter_step(
        request,
        db,
        lambda c, _store: service.reporter_feedback(
            db, c, FeedbackCreate.model_validate(data), now_of(request)
        ),
    )


# --- staff -----------------------------------------------------------------------------------


@router.get("/complaints", response_class=HTMLResponse)
def cases_page(
    request: Request,
    db: Db,
    page: CurrentPage,
    status: Annotated[str, Query(max_length=20)] = "",
    group: Annotated[int | None, Query()] = None,
    overdue: Annotated[str, Query(max_length=5)] = "",
) -> Response:
    now = now_of(request)
    viewer = service.viewer_of(page.principal)
    cases = service.listing(
        db,
        page.principal,
        repository.CaseFilter(
            status=status if status in STATUS else None,
            group_id=group,
            overdue_at=now if overdue else None,
        ),
    )
    sizes = service.group_sizes(db, page.principal, cases)
    rows = []
    seen_groups: set[int] = set()
    for c in cases:
        size = sizes.get(c.group_id, 1) if c.group_id is not None else 1
        # Without a group filter, a group of near-identical reports is one row.
        if group is None and c.group_id is not None and size > 1:
            if c.group_id in seen_groups:
                continue
            seen_groups.add(c.group_id)
        rows.append(
            {
                "c": c,
                "group_size": size,
                "deadline": deadline_state(Status(c.status), c.due_at, now, c.responded_at),
            }
        )
    return render(
        request,
        "complaints/list.html",
        {
            "rows": rows,
            "L": LABELS,
            "fmt": fmt_local,
            "fmt_due": fmt_due,
            "statuses": list(STATUS),
            "status": status,
            "group": group,
            "overdue": bool(overdue),
            "is_regulator": viewer.party is Party.REGULATOR,
        },
    )


def _detail_context(
    request: Request, db: Session, page: CurrentPage, complaint_id: int, **extra: Any
) -> dict[str, Any]:
    complaint = service.get_case(db, page.principal, complaint_id)
    viewer = service.viewer_of(page.principal)
    view = service.present(db, complaint, viewer, now_of(request))
    party = viewer.party
    next_steps = {s.value for s in allowed_next(Status(complaint.status), party)}
    is_regulator = party is Party.REGULATOR
    waiting = Status(complaint.status) is Status.FORWARDED
    return {
        "c": complaint,
        "view": view,
        "L": LABELS,
        "fmt": fmt_local,
        "fmt_due": fmt_due,
        "is_regulator": is_regulator,
        "next_steps": next_steps,
        "can_triage": "triaged" in next_steps,
        "can_forward": "forwarded" in next_steps,
        "can_escalate": "escalated" in next_steps,
        "can_close": "closed" in next_steps,
        "can_respond": "responded" in next_steps,
        "can_extend": party is Party.INSTITUTION
        and waiting
        and complaint.complexity != Complexity.EXTENDED.value,
        "can_ask": (party is Party.INSTITUTION and waiting)
        or (is_regulator and Status(complaint.status) is not Status.CLOSED),
        "institutions": service.reportable_institutions(db) if is_regulator else [],
        # The review form starts from the configured policy: keep the hold until closed,
        # or lift it once reviewed.
        "hold_default": config_of(request).hold is HoldPolicy.UNTIL_CLOSED,
        "categories": REPORT_CATEGORIES,
        "outcomes": [o.value for o in ResponseOutcome],
        "form_error": None,
        **extra,
    }


@router.get("/complaints/{complaint_id}", response_class=HTMLResponse)
def case_page(complaint_id: int, request: Request, db: Db, page: CurrentPage) -> Response:
    return render(request, "complaints/case.html", _detail_context(request, db, page, complaint_id))


def _staff_step(
    request: Request, db: Session, page: CurrentPage, complaint_id: int, step: Any
) -> Response:
    try:
        step()
    except (ValidationError, DomainError) as exc:
        db.rollback()
        context = _detail_context(request, db, page, complaint_id)
        context["form_error"] = _error_text(exc)[0]
        return render(request, "complaints/case.html", context, status_code=_status_of(exc))
    return RedirectResponse(f"/complaints/{complaint_id}", status_code=303)


def _note(note: str) -> NoteCreate:
    return NoteCreate(note=note or None)


@router.post(
    "/complaints/{complaint_id}/triage", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
def triage_step(
    complaint_id: int,
    request: Request,
    db: Db,
    page: CurrentPage,
    categories: Annotated[list[str] | None, Form()] = None,
    institution_id: Annotated[str, Form(max_length=12)] = "",
    keep_hold: Annotated[str, Form(max_length=5)] = "",
    forward: Annotated[str, Form(max_length=5)] = "",
    note: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    def step() -> None:
        service.get_case(db, page.principal, complaint_id)
        data = TriageCreate(
            categories=categories or [],
            institution_id=_opt_int(institution_id),
            keep_hold=bool(keep_hold),
            forward=bool(forward),
            note=note or None,
        )
        service.triage(db, page.principal, complaint_id, data, now_of(request), config_of(request))

    return _staff_step(request, db, page, complaint_id, step)


@router.post(
    "/complaints/{complaint_id}/forward", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
def forward_step(
    complaint_id: int,
    request: Request,
    db: Db,
    page: CurrentPage,
    note: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    return _staff_step(
        request,
        db,
        page,
        complaint_id,
        lambda: service.forward(db, page.principal, complaint_id, _note(note), now_of(request)),
    )


@router.post(
    "/complaints/{complaint_id}/respond", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
def respond_step(
    complaint_id: int,
    request: Request,
    db: Db,
    page: CurrentPage,
    outcome: Annotated[str, Form(max_length=20)] = "",
    text: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    def step() -> None:
        service.get_case(db, page.principal, complaint_id)
        data = ResponseCreate.model_validate({"outcome": outcome, "text": text})
        service.respond(db, page.principal, complaint_id, data, now_of(request))

    return _staff_step(request, db, page, complaint_id, step)


@router.post(
    "/complaints/{complaint_id}/complexity",
    response_class=HTMLResponse,
    dependencies=[CsrfChecked],
)
def complexity_step(
    complaint_id: int,
    request: Request,
    db: Db,
    page: CurrentPage,
    complexity: Annotated[str, Form(max_length=10)] = "",
    reason: Annotated[str, Form(max_length=8000)] = "",
    approved_by: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    def step() -> None:
        service.get_case(db, page.principal, complaint_id)
        data = ComplexityCreate.model_validate(
            {"complexity": complexity, "reason": reason, "approved_by": approved_by or None}
        )
        service.raise_complexity(db, page.principal, complaint_id, data, now_of(request))

    return _staff_step(request, db, page, complaint_id, step)


@router.post(
    "/complaints/{complaint_id}/question",
    response_class=HTMLResponse,
    dependencies=[CsrfChecked],
)
def question_step(
    complaint_id: int,
    request: Request,
    db: Db,
    page: CurrentPage,
    text: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    def step() -> None:
        service.get_case(db, page.principal, complaint_id)
        service.ask(db, page.principal, complaint_id, TextCreate(text=text), now_of(request))

    return _staff_step(request, db, page, complaint_id, step)


@router.post(
    "/complaints/{complaint_id}/escalate",
    response_class=HTMLResponse,
    dependencies=[CsrfChecked],
)
def escalate_step(
    complaint_id: int,
    request: Request,
    db: Db,
    page: CurrentPage,
    note: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    return _staff_step(
        request,
        db,
        page,
        complaint_id,
        lambda: service.escalate(db, page.principal, complaint_id, _note(note), now_of(request)),
    )


@router.post(
    "/complaints/{complaint_id}/close", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
def close_step(
    complaint_id: int,
    request: Request,
    db: Db,
    page: CurrentPage,
    note: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    return _staff_step(
        request,
        db,
        page,
        complaint_id,
        lambda: service.close(db, page.principal, complaint_id, _note(note), now_of(request)),
    )


@router.get("/complaints/{complaint_id}/evidence/{evidence_id}", response_class=Response)
def evidence_download(
    complaint_id: int, evidence_id: int, request: Request, db: Db, page: CurrentPage
) -> Response:
    row, data = service.evidence_file(
        db, page.principal, complaint_id, evidence_id, store_of(request), now_of(request)
    )
    return evidence_response(row, data)
