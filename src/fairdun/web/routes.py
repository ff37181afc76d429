"""List every (method, path) the app serves, across included routers.

FastAPI 0.12x+ wraps included routers; this walks them so the tenancy test can
enumerate all routes, whichever way a route was added.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from starlette.routing import BaseRoute, Mount, Route


def _walk(routes: Iterable[BaseRoute], prefix: str) -> Iterator[tuple[str, str]]:
    for route in routes:
        if isinstance(route, Mount):
            continue  # static files: no institution data behind them
        if isinstance(route, Route):
            for method in sorted(route.methods or {"GET"}):
                if method != "HEAD":
                    yield method, prefix + route.path
            continue
        inner: Any = getattr(route, "original_router", None)
        if inner is not None:
            context: Any = getattr(route, "include_context", None)
            extra = getattr(context, "prefix", "") or ""
            yield from _walk(inner.routes, prefix + extra)
            continue
        raise TypeError(
            f"unknown route type {type(route).__name__}; teach fairdun.web.routes about it"
        )


def all_routes(app: Any) -> list[tuple[str, str]]:
    return sorted(set(_walk(app.routes, "")))
