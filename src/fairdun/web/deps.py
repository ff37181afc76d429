"""Request dependencies: the unit of work, who is calling, and CSRF protection."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from fairdun.config import Settings
from fairdun.identity import service as identity
from fairdun.identity.models import LoginSession, Role, User
from fairdun.identity.principal import Principal
from fairdun.kit.db import unit_of_work
from fairdun.kit.errors import DomainError, Forbidden, Unauthenticated
from fairdun.web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    PRESESSION_COOKIE,
    SESSION_COOKIE,
    check_csrf,
    make_csrf,
)

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class LoginRequired(DomainError):
    """A page needs a logged-in user; the handler redirects to the login page."""

    status_code = 401
    code = "login_required"


class CsrfRejected(Forbidden):
    code = "csrf_failed"


def get_db(request: Request) -> Iterator[Session]:
    """The request's unit of work: commit when the route returns, roll back when it raises."""
    with unit_of_work(request.app.state.session_factory) as session:
        yield session


Db = Annotated[Session, Depends(get_db, scope="function")]


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def now_of(request: Request) -> datetime:
    now: datetime = request.app.state.clock()
    return now


def session_policy(settings: Settings) -> identity.SessionPolicy:
    return identity.SessionPolicy(
        idle=timedelta(minutes=settings.session_idle_minutes),
        absolute=timedelta(hours=settings.session_max_hours),
        max_failures=settings.login_max_failures,
        window=timedelta(minutes=settings.login_window_minutes),
    )


def _session_login(request: Request, db: Session) -> tuple[User, LoginSession] | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    return identity.resolve_session(db, raw, session_policy(settings_of(request)), now_of(request))


def api_principal(request: Request, db: Db) -> Principal:
    """API callers: a bearer token (machines) or a session cookie plus CSRF header (pages)."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        token = identity.resolve_api_token(db, auth[7:].strip(), now_of(request))
        if token is None:
            raise Unauthenticated("invalid or revoked API token")
        return identity.principal_for_token(token)
    found = _session_login(request, db)
    if found is None:
        raise Unauthenticated("log in or send an API token (Authorization: Bearer ...)")
    user, login = found
    if request.method not in SAFE_METHODS:
        problem = _csrf_problem(request, login.csrf_secret, request.headers.get(CSRF_HEADER))
        if problem:
            raise CsrfRejected(problem)
    return identity.principal_for_user(user)


ApiPrincipal = Annotated[Principal, Depends(api_principal)]


@dataclass(frozen=True)
class PageUser:
    """Plain values only: error pages render this after the request's session is gone."""

    principal: Principal
    display_name: str
    login_id: int
    csrf_token: str

    @property
    def role(self) -> Role:
        return self.principal.role


def _csrf_problem(request: Request, binding: str, token: str | None) -> str | None:
    settings = settings_of(request)
    return check_csrf(
        settings.secret_key,
        binding,
        token,
        now_of(request),
        timedelta(hours=settings.session_max_hours),
    )


def page_user(request: Request, db: Db) -> PageUser:
    found = _session_login(request, db)
    if found is None:
        raise LoginRequired("log in first")
    user, login = found
    settings = settings_of(request)
    page = PageUser(
        principal=identity.principal_for_user(user),
        display_name=user.display_name,
        login_id=login.id,
        csrf_token=make_csrf(settings.secret_key, login.csrf_secret, now_of(request)),
    )
    request.state.page = page
    return page


CurrentPage = Annotated[PageUser, Depends(page_user)]


async def _submitted_token(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    form = await request.form()  # Starlette caches it for the route's own Form() fields
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else None


async def csrf_protect(request: Request) -> None:
    """Every page form post of a logged-in user carries a valid token bound to the session."""
    token = await _submitted_token(request)
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        raise LoginRequired("log in first")
    with request.app.state.session_factory() as db:
        found = identity.resolve_session(
            db, raw, session_policy(settings_of(request)), now_of(request)
        )
    if found is None:
        raise LoginRequired("your session has ended; log in again")
    problem = _csrf_problem(request, found[1].csrf_secret, token)
    if problem:
        raise CsrfRejected(problem)


async def csrf_presession(request: Request) -> None:
    """The log-in form: a double-submit token bound to a random pre-session cookie."""
    token = await _submitted_token(request)
    binding = request.cookies.get(PRESESSION_COOKIE)
    if not binding:
        raise CsrfRejected("missing CSRF cookie; reload the log-in page")
    problem = _csrf_problem(request, binding, token)
    if problem:
        raise CsrfRejected(problem)


async def csrf_any(request: Request) -> None:
    """Forms shown logged in and out (language switch): session if live, else pre-session."""
    token = await _submitted_token(request)
    raw = request.cookies.get(SESSION_COOKIE)
    binding: str | None = None
    if raw:
        with request.app.state.session_factory() as db:
            found = identity.resolve_session(
                db, raw, session_policy(settings_of(request)), now_of(request)
            )
        if found is not None:
            binding = found[1].csrf_secret
    binding = binding or request.cookies.get(PRESESSION_COOKIE)
    if not binding:
        raise CsrfRejected("missing CSRF cookie; reload the page")
    problem = _csrf_problem(request, binding, token)
    if problem:
        raise CsrfRejected(problem)


CsrfChecked = Depends(csrf_protect)
AnyCsrfChecked = Depends(csrf_any)
PreSessionCsrfChecked = Depends(csrf_presession)
