"""Translations: every message the templates and labels use is in the catalogs, placeholders
survive translation, and the language switch works for visitors and logged-in users."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fairdun.config import Settings
from fairdun.identity.models import Role
from fairdun.institutions.models import InstitutionKind, LicenceStatus
from fairdun.kit import i18n
from fairdun.web import labels
from fairdun.web.app import create_app
from tests.conftest import FakeClock
from tests.factories import csrf_from, login, make_user, page_csrf

REPO_ROOT = Path(__file__).resolve().parents[2]
LABELS_FILE = "src/fairdun/web/labels.py"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdifr]")


def _extract() -> dict[str, set[str]]:
    """Message id -> files using it, exactly as `make i18n-extract` (babel.cfg, -k _ -k N_)."""
    with (REPO_ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    keywords = {**DEFAULT_KEYWORDS, "_": None, "N_": None}
    found: dict[str, set[str]] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(REPO_ROOT), method_map, options_map, keywords=keywords
    ):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault(msgid, set()).add(filename)
    return found


EXTRACTED = _extract()
TEMPLATE_IDS = sorted(
    m for m, files in EXTRACTED.items() if any(f.endswith(".html") for f in files)
)
LABEL_IDS = sorted(m for m, files in EXTRACTED.items() if LABELS_FILE in files)


def _catalog(locale: str) -> Catalog:
    path = i18n.LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        return read_po(fh)


ZH = _catalog("zh_Hans")
EN = _catalog("en")


def _msgstr(catalog: Catalog, msgid: str) -> str:
    message = catalog.get(msgid)
    if message is None:
        return ""
    string = message.string
    return string if isinstance(string, str) else string[0]


def test_extraction_finds_the_templates_and_the_labels() -> None:
    assert "Log in" in TEMPLATE_IDS
    assert len(TEMPLATE_IDS) > 20
    assert set(LABEL_IDS) == set(labels.LABELS)


@pytest.mark.parametrize("msgid", TEMPLATE_IDS)
def test_every_template_message_has_a_chinese_translation(msgid: str) -> None:
    assert _msgstr(ZH, msgid).strip(), f"zh_Hans has no translation for {msgid!r}"


@pytest.mark.parametrize("msgid", LABEL_IDS)
def test_every_label_has_a_chinese_translation(msgid: str) -> None:
    assert _msgstr(ZH, msgid).strip(), f"zh_Hans has no translation for {msgid!r}"


@pytest.mark.parametrize("msgid", LABEL_IDS)
def test_every_label_has_english_words_not_the_code(msgid: str) -> None:
    english = _msgstr(EN, msgid)
    assert english.strip()
    assert "_" not in english


def test_every_extracted_message_is_translated_at_run_time() -> None:
    chinese = i18n.translations("zh_Hans")
    untranslated = [m for m in EXTRACTED if chinese.gettext(m) == m]
    assert untranslated == []


def test_every_stored_value_and_error_code_shown_translated_has_a_label() -> None:
    from fairdun.kit import errors as kit_errors
    from fairdun.web import deps
    from fairdun.web import errors as web_errors

    codes = {cls.code for cls in _subclasses(kit_errors.DomainError)}
    codes |= {deps.LoginRequired.code, deps.CsrfRejected.code}
    codes |= set(web_errors._CODES.values())
    shown = {*Role, *InstitutionKind, *LicenceStatus} | codes
    assert {str(v) for v in shown} - set(labels.LABELS) == set()


def _subclasses(cls: type) -> set[type]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= _subclasses(sub)
    return found


def test_both_catalogs_hold_the_same_messages() -> None:
    assert {m.id for m in ZH if m.id} == {m.id for m in EN if m.id}


@pytest.mark.parametrize("catalog", [ZH, EN], ids=["zh_Hans", "en"])
def test_no_message_is_fuzzy_so_none_is_dropped_when_compiled(catalog: Catalog) -> None:
    assert [m.id for m in catalog if m.id and m.fuzzy] == []


@pytest.mark.parametrize(
    "msgid", sorted(m.id for m in ZH if isinstance(m.id, str) and PLACEHOLDER.search(m.id))
)
def test_placeholders_are_preserved_in_translations(msgid: str) -> None:
    expected = Counter(PLACEHOLDER.findall(msgid))
    for catalog in (ZH, EN):
        translated = _msgstr(catalog, msgid)
        if translated:
            assert Counter(PLACEHOLDER.findall(translated)) == expected, translated


def test_some_messages_carry_placeholders() -> None:
    assert any(PLACEHOLDER.search(m.id) for m in ZH if isinstance(m.id, str))


def test_formatting_a_translation_with_its_placeholders_works() -> None:
    chinese = i18n.translations("zh_Hans")
    msgid = "Hash chain intact: %(n)s records checked."
    assert msgid in EXTRACTED
    assert "42" in chinese.gettext(msgid) % {"n": 42}


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_catalog_loads(locale: str) -> None:
    translations = i18n.translations(locale)
    assert translations.gettext("no such message id") == "no such message id"


def test_chinese_catalog_translates_and_english_keeps_the_source_text() -> None:
    assert i18n.translations("zh_Hans").gettext("Log in") == "登录"
    assert i18n.translations("en").gettext("Log in") == "Log in"
    assert i18n.translations("en").gettext("platform_admin") == "Platform administrator"


def test_unknown_locale_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown locale 'fr'"):
        i18n.translations("fr")


def test_every_locale_has_an_html_lang() -> None:
    assert i18n.HTML_LANG == {"zh_Hans": "zh-Hans", "en": "en"}
    assert i18n.DEFAULT_LOCALE == "zh_Hans"


@pytest.mark.parametrize(
    ("requested", "default", "expected"),
    [
        ("en", "zh_Hans", "en"),
        ("zh_Hans", "en", "zh_Hans"),
        (None, "zh_Hans", "zh_Hans"),
        (None, "en", "en"),
        ("", "en", "en"),
        ("fr", "zh_Hans", "zh_Hans"),
        ("zh-Hans", "en", "en"),
        ("EN", "zh_Hans", "zh_Hans"),
    ],
)
def test_pick_locale_accepts_known_locales_and_falls_back_to_the_default(
    requested: str | None, default: str, expected: str
) -> None:
    assert i18n.pick_locale(requested, default) == expected


def test_pick_locale_default_is_simplified_chinese() -> None:
    assert i18n.pick_locale(None) == "zh_Hans"
    assert i18n.pick_locale("xx") == "zh_Hans"


# --- through the app ---------------------------------------------------------------------


def _switch(client: TestClient, lang: str, page: str = "/login") -> None:
    token = csrf_from(client.get(page).text)
    response = client.post(
        "/lang", data={"csrf_token": token, "lang": lang, "next": page}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == page


def test_login_page_is_chinese_by_default(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert '<html lang="zh-Hans">' in page.text
    assert "登录" in page.text


def test_language_switch_makes_the_login_page_english(client: TestClient) -> None:
    _switch(client, "en")
    page = client.get("/login")
    assert '<html lang="en">' in page.text
    assert "Log in" in page.text
    assert "登录" not in page.text


def test_language_switch_back_to_chinese(client: TestClient) -> None:
    _switch(client, "en")
    _switch(client, "zh_Hans")
    page = client.get("/login")
    assert '<html lang="zh-Hans">' in page.text
    assert "登录" in page.text


def test_unknown_language_leaves_the_page_as_it_was(client: TestClient) -> None:
    _switch(client, "fr")
    assert '<html lang="zh-Hans">' in client.get("/login").text


def test_language_switch_without_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/login")  # the pre-session cookie is there; only the token is missing
    response = client.post("/lang", data={"lang": "en", "next": "/login"}, follow_redirects=False)
    assert response.status_code == 403
    assert '<html lang="zh-Hans">' in client.get("/login").text


def test_language_switch_with_a_forged_csrf_token_is_refused(client: TestClient) -> None:
    token = csrf_from(client.get("/login").text)
    forged = token.split(".")[0] + "." + "0" * 64
    response = client.post(
        "/lang", data={"csrf_token": forged, "lang": "en"}, follow_redirects=False
    )
    assert response.status_code == 403


def test_language_switch_without_any_cookie_is_refused(client: TestClient) -> None:
    response = client.post("/lang", data={"lang": "en"}, follow_redirects=False)
    assert response.status_code == 403


def test_language_switch_does_not_redirect_off_site(client: TestClient) -> None:
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/lang",
        data={"csrf_token": token, "lang": "en", "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_logged_in_user_switches_language(client: TestClient, db: Session) -> None:
    make_user(db, role=Role.PLATFORM_ADMIN, username="admin-i18n")
    db.commit()
    login(client, "admin-i18n")
    token = page_csrf(client, "/")
    response = client.post(
        "/lang", data={"csrf_token": token, "lang": "en", "next": "/"}, follow_redirects=False
    )
    assert response.status_code == 303
    home = client.get("/")
    assert '<html lang="en">' in home.text
    assert "Platform administrator" in home.text


def test_default_locale_setting_is_honoured(
    settings: Settings, engine: Engine, clock: FakeClock
) -> None:
    app = create_app(
        settings.model_copy(update={"default_locale": "en"}), engine=engine, clock=clock
    )
    with TestClient(app) as english:
        page = english.get("/login")
    assert '<html lang="en">' in page.text
    assert "登录" not in page.text
