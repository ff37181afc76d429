"""Jinja2 environments, one per locale, so translation never leaks between requests."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from fairdun import __version__
from fairdun.kit import i18n
from fairdun.web.security import LANG_COOKIE

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


@cache
def environment(locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals["version"] = __version__
    env.globals["locale"] = locale
    env.globals["html_lang"] = i18n.HTML_LANG[locale]
    return env


def request_locale(request: Request) -> str:
    default = request.app.state.settings.default_locale
    return i18n.pick_locale(request.cookies.get(LANG_COOKIE), default)


def gettext_for(request: Request) -> Callable[[str], str]:
    """The translation function of the request's language, for text built in Python."""
    return i18n.translations(request_locale(request)).gettext


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    env = environment(request_locale(request))
    page = getattr(request.state, "page", None)
    body = env.get_template(name).render(request=request, page=page, **context)
    return HTMLResponse(body, status_code=status_code)
