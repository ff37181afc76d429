"""Domain errors. Services raise these; the web boundary maps them to HTTP answers."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: a request that cannot be carried out, with a stable code."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Invalid(DomainError):
    """Input that names a field wrongly filled (mapped to 422)."""

    status_code = 422
    code = "validation_error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", details=[{"field": field, "message": message}])
        self.field = field


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class Unauthenticated(DomainError):
    status_code = 401
    code = "unauthenticated"


class Throttled(DomainError):
    status_code = 429
    code = "too_many_attempts"

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class CollectionBlocked(DomainError):
    """An institution may not collect (licence not active, no engagement...)."""

    status_code = 403
    code = "collection_blocked"


class Unavailable(DomainError):
    """A part the request needs cannot run right now (mapped to 503)."""

    status_code = 503
    code = "unavailable"
