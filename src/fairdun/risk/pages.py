"""HTML routes of risk control.

Staff (risk analysts and institution admins write; compliance officers and the regulator
read): ``/risk`` (the model in use), ``/risk/report`` (its evaluation report),
``/risk/watchlist``, ``/risk/monitoring``, ``/risk/lists`` (maker-checker and appeals) and
``/risk/decisions``. Borrowers: ``/risk/mine``, their list entries, the main reasons of
their assessment, and an appeal form.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairdun.identity.models import Role
from fairdun.identity.principal import Principal
from fairdun.kit.errors import DomainError, Forbidden, Invalid, NotFound
from fairdun.loans.models import Borrower
from fairdun.risk import lists, service
from fairdun.risk.metrics import PsiRow
from fairdun.risk.models import (
    AppealStatus,
    ListAppeal,
    ListEntry,
    ListKind,
    ListSource,
    ListStatus,
    RiskScore,
)
from fairdun.web.deps import CsrfChecked, CurrentPage, Db, PageUser, now_of, settings_of
from fairdun.web.forms import error_text
from fairdun.web.templating import render

router = APIRouter(include_in_schema=False)

READERS = (Role.RISK_ANALYST, Role.INSTITUTION_ADMIN, Role.COMPLIANCE_OFFICER, Role.REGULATOR)
WRITERS = (Role.RISK_ANALYST, Role.INSTITUTION_ADMIN)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    return message


LABELS: dict[str, dict[str, str]] = {
    "list_kind": {
        "black": N_("Black list"),
        "grey": N_("Grey list"),
        "white": N_("White list"),
    },
    "list_source": {"rule": N_("rule"), "model": N_("model"), "manual": N_("manual")},
    "list_status": {
        "pending": N_("waiting for approval"),
        "active": N_("in effect"),
        "rejected": N_("rejected"),
        "revoked": N_("taken off"),
    },
    "appeal_status": {
        "open": N_("awaiting an answer"),
        "upheld": N_("upheld"),
        "dismissed": N_("dismissed"),
    },
    "psi": {"stable": N_("stable"), "watch": N_("watch"), "shift": N_("shifted")},
}


def _fmt(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if at else "—"


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, name, {"L": LABELS, "fmt": _fmt, **context}, status_code=status)


def _reader(principal: Principal) -> None:
    if principal.role not in READERS:
        raise Forbidden("risk pages are for risk, compliance and supervisory staff")


def _writer(principal: Principal) -> int:
    if principal.role not in WRITERS or principal.scope is None:
        raise Forbidden("your role may not change lists")
    return principal.scope


def _lang(request: Request) -> str:
    from fairdun.web.templating import request_locale

    return "zh" if request_locale(request).startswith("zh") else "en"


# --- overview, report --------------------------------------------------------------------


@router.get("/risk", response_class=HTMLResponse)
def overview(request: Request, db: Db, page: CurrentPage) -> Response:
    principal = page.principal
    _reader(principal)
    settings = settings_of(request)
    model = None
    problem = ""
    try:
        model = service.active_bundle(settings)
    except service.NoActiveModel as exc:
        problem = exc.message
    latest = service.latest_as_of(db, principal)
    scored = 0
    if latest is not None:
        q = select(func.count()).select_from(RiskScore).where(RiskScore.as_of == latest)
        if principal.scope is not None:
            q = q.where(RiskScore.institution_id == principal.scope)
        scored = int(db.scalar(q) or 0)

    def scoped(query: Any, column: Any) -> Any:
        return query if principal.scope is None else query.where(column == principal.scope)

    counts = db.execute(
        scoped(
            select(ListEntry.kind, func.count())
            .where(ListEntry.status == ListStatus.ACTIVE)
            .group_by(ListEntry.kind),
            ListEntry.institution_id,
        )
    ).all()
    pending = db.scalar(
        scoped(
            select(func.count()).where(ListEntry.status == ListStatus.PENDING),
            ListEntry.institution_id,
        )
    )
    today = now_of(request).date()
    open_appeals = scoped(
        select(func.count()).where(ListAppeal.status == AppealStatus.OPEN),
        ListAppeal.institution_id,
    )
    # The bundle's own figures, by the sample they were measured on (train, holdout).
    metrics = [
        (f"{key.upper()} ({sample})", f"{float(values[key]):.4f}")
        for sample, values in (model.metrics.items() if model is not None else ())
        if isinstance(values, dict)
        for key in ("auc", "ks", "gini")
        if key in values
    ]
    return _page(
        request,
        "risk/overview.html",
        {
            "model": model,
            "problem": problem,
            "metrics": metrics,
            "has_report": model is not None and _report_path(request, model.model_id).is_file(),
            "latest": latest,
            "scored": scored,
            "list_counts": sorted((str(kind), int(n)) for kind, n in counts),
            "pending": int(pending or 0),
            "open_appeals": int(db.scalar(open_appeals) or 0),
            "overdue_appeals": int(db.scalar(open_appeals.where(ListAppeal.due_date < today)) or 0),
        },
    )


def _report_path(request: Request, model_id: str) -> Path:
    return service.report_path(settings_of(request), model_id)


@router.get("/risk/report")
def report(request: Request, page: CurrentPage) -> Response:
    """The active model's evaluation report: one self-contained page, shown with a policy
    that lets it load nothing and run nothing."""
    _reader(page.principal)
    try:
        model = service.active_bundle(settings_of(request))
    except service.NoActiveModel as exc:
        raise NotFound(exc.message) from None
    path = _report_path(request, model.model_id)
    if not path.is_file():
        raise NotFound("this model has no evaluation report (fairdun risk report)")
    return Response(
        path.read_text(encoding="utf-8"),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": (
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
            ),
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- watchlist, monitoring, decisions -------------------------------------------------------


@router.get("/risk/watchlist", response_class=HTMLResponse)
def watchlist(request: Request, db: Db, page: CurrentPage) -> Response:
    _reader(page.principal)
    day, rows = service.watchlist(db, page.principal, limit=200)
    lang = _lang(request)
    reasons = {r.score.id: service.reasons_in(r.score.reasons, lang) for r in rows}
    return _page(request, "risk/watchlist.html", {"day": day, "rows": rows, "reasons": reasons})


@router.get("/risk/monitoring", response_class=HTMLResponse)
def monitoring(request: Request, db: Db, page: CurrentPage) -> Response:
    _reader(page.principal)
    today = now_of(request).date()
    problem = ""
    rows: list[PsiRow] = []
    model_id = ""
    try:
        model = service.active_bundle(settings_of(request))
        model_id = model.model_id
        rows = service.monitoring(db, model, today, institution_id=page.principal.scope)
    except service.NoActiveModel as exc:
        problem = exc.message
    return _page(
        request,
        "risk/monitoring.html",
        {"rows": rows, "problem": problem, "as_of": today, "model_id": model_id},
    )


@router.get("/risk/decisions", response_class=HTMLResponse)
def decisions(request: Request, db: Db, page: CurrentPage) -> Response:
    _reader(page.principal)
    lang = _lang(request)
    rows = []
    for d, name in service.credit_decisions(db, page.principal):
        rows.append((d, name, service.explanation_in(d.explanation, lang)))
    return _page(request, "risk/decisions.html", {"rows": rows})


# --- lists ---------------------------------------------------------------------------------


def _entries_query(principal: Principal) -> Any:
    q = (
        select(ListEntry, Borrower.name)
        .join(Borrower, Borrower.id == ListEntry.borrower_id)
        .order_by(ListEntry.id.desc())
    )
    if principal.scope is not None:
        q = q.where(ListEntry.institution_id == principal.scope)
    return q


def _appeals(db: Session, principal: Principal, today: date) -> list[tuple[ListAppeal, str, bool]]:
    q = (
        select(ListAppeal, Borrower.name)
        .join(Borrower, Borrower.id == ListAppeal.borrower_id)
        .order_by(ListAppeal.id.desc())
        .limit(200)
    )
    if principal.scope is not None:
        q = q.where(ListAppeal.institution_id == principal.scope)
    return [(a, name, lists.is_overdue(a, today)) for a, name in db.execute(q).all()]


def _lists_page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    status: str = "",
    kind: str = "",
    form_error: str = "",
    code: int = 200,
) -> Response:
    q = _entries_query(principal).limit(300)
    if status in {s.value for s in ListStatus}:
        q = q.where(ListEntry.status == status)
    if kind in {k.value for k in ListKind}:
        q = q.where(ListEntry.kind == kind)
    return _page(
        request,
        "risk/lists.html",
        {
            "entries": db.execute(q).all(),
            "appeals": _appeals(db, principal, now_of(request).date()),
            "statuses": [s.value for s in ListStatus],
            "kinds": [k.value for k in ListKind],
            "status": status,
            "kind": kind,
            "can_write": principal.role in WRITERS and principal.scope is not None,
            "form_error": form_error,
        },
        code,
    )


@router.get("/risk/lists", response_class=HTMLResponse)
def lists_page(
    request: Request,
    db: Db,
    page: CurrentPage,
    status: Annotated[str, Query(max_length=10)] = "",
    kind: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    _reader(page.principal)
    return _lists_page(request, db, page.principal, status=status, kind=kind)


def _step(request: Request, db: Session, principal: Principal, step: Any) -> Response:
    try:
        step()
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        # A refusal (the maker checking their own entry) is shown on the page, with its code.
        db.rollback()
        return _lists_page(request, db, principal, form_error=error_text(exc), code=exc.status_code)
    return RedirectResponse("/risk/lists", status_code=303)


def _date(field: str, value: str, *, required: bool) -> date | None:
    if not value.strip():
        if required:
            raise Invalid(field, "enter a date (yyyy-mm-dd)")
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(field, "not a date (yyyy-mm-dd)") from None


@router.post("/risk/lists", response_class=HTMLResponse, dependencies=[CsrfChecked])
def add_entry(
    request: Request,
    db: Db,
    page: CurrentPage,
    borrower: Annotated[str, Form(max_length=100)] = "",
    kind: Annotated[str, Form(max_length=10)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
    effective_date: Annotated[str, Form(max_length=10)] = "",
    expiry_date: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    institution_id = _writer(page.principal)

    def step() -> None:
        borrower_id = db.scalar(
            select(Borrower.id).where(
                Borrower.institution_id == institution_id, Borrower.external_id == borrower.strip()
            )
        )
        if borrower_id is None:
            raise Invalid("borrower", "no borrower of your institution has this external id")
        if kind not in {k.value for k in ListKind}:
            raise Invalid("kind", "choose black, grey or white")
        effective = _date("effective_date", effective_date, required=True)
        assert effective is not None
        lists.add_entry(
            db,
            actor=page.principal.actor,
            institution_id=institution_id,
            borrower_id=borrower_id,
            kind=ListKind(kind),
            source=ListSource.MANUAL,
            reason=reason,
            effective_date=effective,
            expiry_date=_date("expiry_date", expiry_date, required=False),
        )

    return _step(request, db, page.principal, step)


# The checker's and the taker-off's steps on one entry: same shape, one helper.
_ENTRY_STEPS = {"approve": lists.approve, "reject": lists.reject, "revoke": lists.revoke}


def _entry_step(
    request: Request, db: Session, page: PageUser, entry_id: int, step: str, note: str
) -> Response:
    institution_id = _entry_scope(db, page.principal, entry_id)
    act = _ENTRY_STEPS[step]
    return _step(
        request,
        db,
        page.principal,
        lambda: act(
            db,
            actor=page.principal.actor,
            institution_id=institution_id,
            entry_id=entry_id,
            note=note,
            now=now_of(request),
        ),
    )


@router.post(
    "/risk/lists/{entry_id}/approve", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
def approve_entry(entry_id: int, request: Request, db: Db, page: CurrentPage) -> Response:
    return _entry_step(request, db, page, entry_id, "approve", "")


@router.post(
    "/risk/lists/{entry_id}/reject", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
def reject_entry(
    entry_id: int,
    request: Request,
    db: Db,
    page: CurrentPage,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    return _entry_step(request, db, page, entry_id, "reject", note)


@router.post(
    "/risk/lists/{entry_id}/revoke", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
def revoke_entry(
    entry_id: int,
    request: Request,
    db: Db,
    page: CurrentPage,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    return _entry_step(request, db, page, entry_id, "revoke", note)


def _entry_scope(db: Session, principal: Principal, entry_id: int) -> int:
    """Another institution's entry is not found, whatever the caller's role."""
    entry = db.get(ListEntry, entry_id)
    if entry is None or not principal.can_see(entry.institution_id):
        raise NotFound("no such list entry")
    return _writer(principal)


@router.post(
    "/risk/appeals/{appeal_id}/decide", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
def decide_appeal(
    appeal_id: int,
    request: Request,
    db: Db,
    page: CurrentPage,
    upheld: Annotated[str, Form(max_length=1)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    appeal = db.get(ListAppeal, appeal_id)
    if appeal is None or not page.principal.can_see(appeal.institution_id):
        raise NotFound("no such appeal")
    institution_id = _writer(page.principal)
    return _step(
        request,
        db,
        page.principal,
        lambda: lists.decide_appeal(
            db,
            actor=page.principal.actor,
            institution_id=institution_id,
            appeal_id=appeal_id,
            upheld=upheld == "1",
            note=note,
            now=now_of(request),
        ),
    )


# --- the borrower's own page ---------------------------------------------------------------


def _own_borrowers(db: Session, principal: Principal) -> list[Borrower]:
    if principal.role is not Role.BORROWER or principal.user_id is None:
        raise Forbidden("this page is for borrowers")
    return list(db.scalars(select(Borrower).where(Borrower.user_id == principal.user_id)))


def _mine_page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    form_error: str = "",
    done: date | None = None,
    code: int = 200,
) -> Response:
    borrowers = _own_borrowers(db, principal)
    ids = [b.id for b in borrowers]
    entries: list[tuple[ListEntry, ListAppeal | None]] = []
    reasons: list[str] = []
    if ids:
        for entry in db.scalars(
            select(ListEntry)
            .where(
                ListEntry.borrower_id.in_(ids),
                ListEntry.status.in_([ListStatus.ACTIVE, ListStatus.PENDING, ListStatus.REVOKED]),
            )
            .order_by(ListEntry.id.desc())
        ):
            appeal = db.scalar(
                select(ListAppeal)
                .where(ListAppeal.entry_id == entry.id)
                .order_by(ListAppeal.id.desc())
                .limit(1)
            )
            entries.append((entry, appeal))
        latest = db.scalar(
            select(RiskScore)
            .where(RiskScore.borrower_id.in_(ids))
            .order_by(RiskScore.as_of.desc(), RiskScore.probability.desc())
            .limit(1)
        )
        if latest is not None:
            reasons = service.reasons_in(latest.reasons, _lang(request))
    return _page(
        request,
        "risk/mine.html",
        {
            "entries": entries,
            "scores": reasons,
            "appeal_days": lists.APPEAL_DAYS,
            "form_error": form_error,
            "done": done,
        },
        code,
    )


@router.get("/risk/mine", response_class=HTMLResponse)
def mine(request: Request, db: Db, page: CurrentPage) -> Response:
    return _mine_page(request, db, page.principal)


@router.post("/risk/mine/appeal", response_class=HTMLResponse, dependencies=[CsrfChecked])
def appeal(
    request: Request,
    db: Db,
    page: CurrentPage,
    entry_id: Annotated[str, Form(max_length=12)] = "",
    text: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    borrowers = _own_borrowers(db, page.principal)
    entry = db.get(ListEntry, int(entry_id)) if entry_id.isdigit() else None
    if entry is None or entry.borrower_id not in {b.id for b in borrowers}:
        raise NotFound("no such list entry")
    try:
        opened = lists.open_appeal(
            db,
            actor=page.principal.actor,
            institution_id=entry.institution_id,
            borrower_id=entry.borrower_id,
            entry_id=entry.id,
            text=text,
            today=now_of(request).date(),
            now=now_of(request),
        )
    except DomainError as exc:
        if isinstance(exc, NotFound | Forbidden):
            raise
        db.rollback()
        return _mine_page(
            request, db, page.principal, form_error=error_text(exc), code=exc.status_code
        )
    return _mine_page(request, db, page.principal, done=opened.due_date)
