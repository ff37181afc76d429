"""HTML routes of identity: log in and out, language, the role home page, users, tokens."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from fairdun.identity import service
from fairdun.identity.models import Role, User
from fairdun.identity.schemas import INSTITUTION_ROLES, ApiTokenCreate, UserCreate
from fairdun.institutions import service as institutions
from fairdun.kit.errors import DomainError, Throttled, Unauthenticated
from fairdun.kit.i18n import LOCALES
from fairdun.loans import repository as loans_repo
from fairdun.loans import service as loans
from fairdun.loans.terms import DEFAULT_BUCKETS
from fairdun.web.deps import (
    AnyCsrfChecked,
    CsrfChecked,
    CurrentPage,
    Db,
    PreSessionCsrfChecked,
    now_of,
    session_policy,
    settings_of,
)
from fairdun.web.security import (
    LANG_COOKIE,
    PRESESSION_COOKIE,
    SESSION_COOKIE,
    make_csrf,
    safe_next,
)
from fairdun.web.templating import render

router = APIRouter(include_in_schema=False)

HOME_TEMPLATES = {role: f"home/{role.value}.html" for role in Role}


def _login_page(
    request: Request, *, next_url: str, error: str | None, status_code: int
) -> Response:
    settings = settings_of(request)
    pre = request.cookies.get(PRESESSION_COOKIE) or secrets.token_urlsafe(24)
    token = make_csrf(settings.secret_key, pre, now_of(request))
    response = render(
        request,
        "login.html",
        {"csrf_token": token, "next": next_url, "error": error},
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


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, db: Db, next: str = "/") -> Response:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        live = service.resolve_session(
            db, raw, session_policy(settings_of(request)), now_of(request)
        )
        if live is not None:
            # Already logged in: no second session; log out first to switch user.
            return RedirectResponse(safe_next(next), status_code=303)
    response = _login_page(request, next_url=safe_next(next), error=None, status_code=200)
    if raw:
        response.delete_cookie(SESSION_COOKIE, path="/")  # the session behind it has ended
    return response


@router.post("/login", dependencies=[PreSessionCsrfChecked])
def login(
    request: Request,
    db: Db,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    settings = settings_of(request)
    policy = session_policy(settings)
    address = request.client.host if request.client else "unknown"
    try:
        user = service.authenticate(
            db,
            policy,
            username=username.strip(),
            password=password,
            address=address,
            now=now_of(request),
        )
    except Throttled as exc:
        response = _login_page(
            request, next_url=safe_next(next), error="throttled", status_code=429
        )
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
        return response
    except Unauthenticated:
        # The failure is recorded (throttling, audit), so this boundary commits it.
        db.commit()
        return _login_page(request, next_url=safe_next(next), error="credentials", status_code=401)
    raw = service.start_session(db, user, policy, now_of(request))
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
        max_age=settings.session_max_hours * 3600,
    )
    response.delete_cookie(PRESESSION_COOKIE, path="/")
    return response


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request, db: Db, page: CurrentPage) -> Response:
    service.end_session(db, page.login_id, now_of(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/lang", dependencies=[AnyCsrfChecked])
def switch_language(
    request: Request,
    lang: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Sets the display language (a cookie); works logged in and on the log-in page."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if lang in LOCALES:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            samesite="lax",
            secure=settings_of(request).cookie_secure,
            path="/",
            max_age=365 * 24 * 3600,
        )
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, db: Db, page: CurrentPage) -> Response:
    """Each role lands on its own home page."""
    principal = page.principal
    institution = (
        institutions.get(db, principal, principal.institution_id)
        if principal.institution_id is not None
        else None
    )
    counts: dict[str, int] = {}
    if principal.role in (Role.PLATFORM_ADMIN, Role.REGULATOR):
        counts["institutions"] = len(institutions.listing(db, principal))
    if principal.role in (Role.PLATFORM_ADMIN, Role.INSTITUTION_ADMIN):
        counts["users"] = len(service.list_users(db, principal))
    context: dict[str, object] = {"institution": institution, "counts": counts}
    if principal.role is Role.BORROWER:
        own, _total = loans.list_loans(db, principal, loans_repo.LoanFilter(), limit=100)
        context["loans"] = own
    elif principal.role is not Role.PLATFORM_ADMIN:
        by_bucket = loans_repo.bucket_counts(db, principal)
        context["buckets"] = [(b.code, by_bucket.get(b.code, 0)) for b in DEFAULT_BUCKETS]
    return render(request, HOME_TEMPLATES[principal.role], context)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, db: Db, page: CurrentPage) -> Response:
    users = service.list_users(db, page.principal)
    return render(request, "users/list.html", _users_context(db, page, users))


def _users_context(db: Db, page: CurrentPage, users: Sequence[User]) -> dict[str, object]:
    visible = institutions.listing(db, page.principal)
    return {
        "users": users,
        "roles": list(Role) if page.role is Role.PLATFORM_ADMIN else INSTITUTION_ROLES,
        "institutions": visible,
        "names": {i.id: i.name for i in visible},
        "can_create": page.role in (Role.PLATFORM_ADMIN, Role.INSTITUTION_ADMIN),
        "form_error": None,
    }


@router.post("/users", response_class=HTMLResponse, dependencies=[CsrfChecked])
def create_user_page(
    request: Request,
    db: Db,
    page: CurrentPage,
    username: Annotated[str, Form()],
    display_name: Annotated[str, Form()],
    role: Annotated[str, Form()],
    password: Annotated[str, Form()],
    email: Annotated[str, Form()] = "",
    institution_id: Annotated[str, Form()] = "",
) -> Response:
    try:
        data = UserCreate(
            username=username,
            display_name=display_name,
            role=role,
            password=password,
            email=email or None,
            institution_id=int(institution_id) if institution_id.isdigit() else None,
        )
        service.create_user(db, page.principal, data)
    except (ValidationError, DomainError) as exc:
        db.rollback()
        context = _users_context(db, page, service.list_users(db, page.principal))
        context["form_error"] = _describe(exc)
        return render(
            request,
            "users/list.html",
            context,
            status_code=422
            if isinstance(exc, ValidationError)
            else getattr(exc, "status_code", 400),
        )
    return RedirectResponse("/users", status_code=303)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    if isinstance(exc, DomainError):
        return exc.message
    return str(exc)


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, db: Db, page: CurrentPage) -> Response:
    return render(request, "tokens/list.html", _tokens_context(db, page, issued=None))


def _tokens_context(db: Db, page: CurrentPage, issued: str | None) -> dict[str, object]:
    visible = institutions.listing(db, page.principal)
    return {
        "tokens": service.list_api_tokens(db, page.principal),
        "roles": INSTITUTION_ROLES,
        "institutions": visible,
        "names": {i.id: i.name for i in visible},
        "issued": issued,
        "form_error": None,
    }


@router.post("/tokens", response_class=HTMLResponse, dependencies=[CsrfChecked])
def issue_token_page(
    request: Request,
    db: Db,
    page: CurrentPage,
    name: Annotated[str, Form()],
    role: Annotated[str, Form()],
    institution_id: Annotated[str, Form()] = "",
) -> Response:
    try:
        data = ApiTokenCreate(
            name=name,
            role=role,
            institution_id=int(institution_id) if institution_id.isdigit() else None,
        )
        _token, raw = service.issue_api_token(db, page.principal, data)
    except (ValidationError, DomainError) as exc:
        db.rollback()
        context = _tokens_context(db, page, issued=None)
        context["form_error"] = _describe(exc)
        return render(request, "tokens/list.html", context, status_code=422)
    db.flush()
    # Shown once: the secret is in this response only; the page is not cacheable.
    response = render(
        request, "tokens/list.html", _tokens_context(db, page, issued=raw), status_code=201
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/tokens/{token_id}/revoke", dependencies=[CsrfChecked])
def revoke_token_page(token_id: int, request: Request, db: Db, page: CurrentPage) -> Response:
    service.revoke_api_token(db, page.principal, token_id, now_of(request))
    return RedirectResponse("/tokens", status_code=303)
