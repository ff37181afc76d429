"""One error shape on /api, an HTML page elsewhere, a login redirect for ended sessions."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from fairdun.kit.errors import DomainError, Throttled
from fairdun.web.deps import LoginRequired
from fairdun.web.templating import render

_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "validation_error",
    429: "too_many_attempts",
    500: "internal_error",
}


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api")


def error_body(
    code: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def _respond(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if is_api(request):
        return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)
    response = render(
        request,
        "error.html",
        {"status": status, "code": code, "message": message, "details": details or []},
        status_code=status,
    )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def install(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if is_api(request):
            return JSONResponse(error_body(exc.code, exc.message), status_code=401)
        target = request.url.path
        if request.method == "GET" and request.url.query:
            target += "?" + request.url.query
        from urllib.parse import quote

        response = RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        if request.headers.get("hx-request"):
            response.headers["HX-Redirect"] = f"/login?next={quote(target)}"
        return response

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        headers = None
        if isinstance(exc, Throttled):
            headers = {"Retry-After": str(exc.retry_after_seconds)}
        return _respond(request, exc.status_code, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        details = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")]
            details.append({"field": ".".join(loc) or "body", "message": err.get("msg", "invalid")})
        fields = ", ".join(d["field"] for d in details)
        return _respond(request, 422, "validation_error", f"invalid input: {fields}", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code
        return _respond(
            request, exc.status_code, code, message, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(OperationalError)
    async def _busy(request: Request, exc: OperationalError) -> Response:
        if not is_busy(exc):
            return await _unexpected(request, exc)
        # The transaction was rolled back: nothing changed, and the same request may
        # simply be sent again (SQLite's single writer under load, a lock wait or a
        # deadlock on PostgreSQL).
        return _respond(
            request,
            503,
            "busy",
            "the database is busy; nothing was changed; try again",
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        import logging

        logging.getLogger("fairdun").exception("unhandled error on %s", request.url.path)
        return _respond(request, 500, "internal_error", "internal error; nothing was changed")


# PostgreSQL: serialization failure, deadlock, lock not available (lock_timeout).
_BUSY_STATES = {"40001", "40P01", "55P03"}


def is_busy(exc: OperationalError) -> bool:
    """A database error that means "try again": SQLite's write lock held past the busy
    timeout, or a PostgreSQL lock conflict. Anything else is a real error."""
    original = exc.orig
    if original is None:
        return False
    if getattr(original, "sqlstate", None) in _BUSY_STATES:
        return True
    text = str(original).lower()
    return "database is locked" in text or "database table is locked" in text
