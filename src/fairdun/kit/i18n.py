"""Translations from gettext catalogs (.po files read with Babel; no compiled .mo needed)."""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
LOCALES = ("zh_Hans", "en")
DEFAULT_LOCALE = "zh_Hans"
HTML_LANG = {"zh_Hans": "zh-Hans", "en": "en"}


@cache
def translations(locale: str) -> gettext.GNUTranslations:
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}; known: {', '.join(LOCALES)}")
    path = LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale.replace("_Hans", ""))
    buf = BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def pick_locale(requested: str | None, default: str = DEFAULT_LOCALE) -> str:
    if requested in LOCALES:
        return requested
    return default
