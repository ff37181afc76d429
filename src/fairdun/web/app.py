"""The FastAPI app factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.engine import Engine

from fairdun import __version__
from fairdun.audit import api as audit_api
from fairdun.audit import pages as audit_pages
from fairdun.complaints import api as complaints_api
from fairdun.complaints import dashboard as complaints_dashboard
from fairdun.complaints import pages as complaints_pages
from fairdun.complaints import public as complaints_public
from fairdun.config import ConfigError, Settings, get_settings
from fairdun.contacts import api as contacts_api
from fairdun.contacts import pages as contacts_pages
from fairdun.content import api as content_api
from fairdun.identity import api as identity_api
from fairdun.identity import pages as identity_pages
from fairdun.institutions import api as institutions_api
from fairdun.institutions import pages as institutions_pages
from fairdun.kit import crypto, i18n
from fairdun.kit.clock import Clock, utcnow
from fairdun.kit.db import make_engine, session_factory
from fairdun.loans import api as loans_api
from fairdun.loans import pages as loans_pages
from fairdun.loans.service import CapPolicy
from fairdun.messaging import api as messaging_api
from fairdun.messaging import pages as messaging_pages
from fairdun.outbox import api as outbox_api
from fairdun.risk import api as risk_api
from fairdun.risk import pages as risk_pages
from fairdun.web import errors
from fairdun.web.deps import Db

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(
    settings: Settings | None = None, *, engine: Engine | None = None, clock: Clock = utcnow
) -> FastAPI:
    settings = settings or get_settings()
    crypto.configure(
        crypto.KeyRing.from_settings(
            settings.data_keys, settings.active_key_id, settings.blind_index_key
        )
    )
    for locale in i18n.LOCALES:
        i18n.translations(locale)  # a broken catalog fails at start-up, not on a page view
    engine = engine or make_engine(settings.database_url)
    app = FastAPI(
        title="fairdun",
        version=__version__,
        description="Lawful and humane handling of overdue consumer loans.",
        # Docs are served from vendored Swagger UI files below: no CDN, works offline.
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory(engine)
    app.state.clock = clock

    errors.install(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> Response:
        return get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title="fairdun API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
        )

    @app.get("/api/health", tags=["system"])
    def health(db: Db) -> dict[str, str]:
        """Liveness and database reachability; no authentication."""
        db.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "database": engine.dialect.name}

    try:
        app.state.cap_policy = CapPolicy.from_ids(
            settings.rate_caps, settings.collectable_cap, settings.one_year_lpr
        )
    except ValueError as exc:
        raise ConfigError(f"FAIRDUN_RATE_CAPS / FAIRDUN_COLLECTABLE_CAP: {exc}") from None

    for router in (
        institutions_api.router,
        loans_api.router,
        contacts_api.router,
        contacts_api.public,
        content_api.router,
        messaging_api.router,
        identity_api.router,
        audit_api.router,
        identity_pages.router,
        institutions_pages.router,
        audit_pages.router,
        loans_pages.router,
        contacts_pages.router,
        messaging_pages.router,
        complaints_api.router,
        complaints_api.public,
        complaints_pages.router,
        complaints_dashboard.router,
        complaints_public.router,
        risk_api.router,
        risk_pages.router,
        outbox_api.router,
    ):
        app.include_router(router)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/api/docs"):
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                "frame-ancestors 'none'; form-action 'self'",
            )
        return response

    return app
