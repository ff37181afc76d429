"""What an HTML form shows when its input is refused: one message naming the fields."""

from __future__ import annotations

from pydantic import ValidationError

from fairdun.kit.errors import DomainError


def error_text(exc: Exception) -> str:
    """``field: message`` for each problem, joined; a domain error's own message."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if not isinstance(p, int))}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
    if isinstance(exc, DomainError):
        return exc.message
    return str(exc)


def error_field(exc: Exception) -> str | None:
    """The first field the error names, if any (to focus it on the form)."""
    if isinstance(exc, ValidationError):
        return next((str(e["loc"][0]) for e in exc.errors() if e["loc"]), None)
    if isinstance(exc, DomainError) and exc.details:
        field = exc.details[0].get("field")
        return str(field) if field is not None else None
    return None
