"""Every role logs in through the form, lands on its own home page in both languages, logs out."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from fairdun.demo.seed import DEMO_PASSWORD

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests skipped: playwright cannot be imported; pip install -e '.[dev]'",
    exc_type=ImportError,
)
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

# (demo user, role, heading in Chinese, heading in English)
ROLES = [
    ("admin", "platform_admin", "平台管理", "Platform administration"),
    ("regulator", "regulator", "监管工作台", "Supervision desk"),
    ("bank-admin", "institution_admin", "机构管理", "Institution administration"),
    ("compliance", "compliance_officer", "合规工作台", "Compliance desk"),
    ("collector", "collector", "催收工作台", "Collection desk"),
    ("analyst", "risk_analyst", "风险工作台", "Risk desk"),
    ("agent", "agency_collector", "委外催收工作台", "Agency collection desk"),
    ("borrower", "borrower", "我的借款", "My loans"),
]


def log_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    """Fill and submit the log-in form of the page currently shown (must be /login)."""
    expect(page.get_by_test_id("login-submit")).to_be_visible()
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.get_by_test_id("login-submit").click()


def switch_language(page: Page, button_text: str) -> None:
    button = page.get_by_test_id("lang-switch").get_by_role("button")
    expect(button).to_have_text(button_text)
    button.click()


@pytest.mark.parametrize(
    ("username", "role", "zh_title", "en_title"), ROLES, ids=[r[1] for r in ROLES]
)
def test_role_home_in_both_languages_then_log_out(
    page: Page, live_server: str, username: str, role: str, zh_title: str, en_title: str
) -> None:
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    log_in(page, username)

    expect(page).to_have_url(f"{live_server}/")
    expect(page.locator("main")).to_have_attribute("data-home", role)
    title = page.get_by_test_id("home-title")
    expect(title).to_have_text(zh_title)

    switch_language(page, "English")
    expect(page).to_have_url(f"{live_server}/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(title).to_have_text(en_title)
    expect(page.locator("main")).to_have_attribute("data-home", role)

    switch_language(page, "中文")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(title).to_have_text(zh_title)

    page.get_by_test_id("logout").click()
    expect(page).to_have_url(f"{live_server}/login")
    expect(page.get_by_test_id("login-submit")).to_be_visible()
    expect(page.get_by_test_id("logout")).to_have_count(0)

    # The session is really over: the home page asks for a log-in again.
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)$"))


def test_wrong_password_shows_error_and_stays_on_login(page: Page, live_server: str) -> None:
    page.goto("/login")
    log_in(page, "analyst", "not-the-password")

    error = page.get_by_test_id("login-error")
    expect(error).to_be_visible()
    expect(error).to_have_text("用户名或密码错误。")
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server)}/login(\?.*)?$"))
    expect(page.get_by_test_id("login-submit")).to_be_visible()
    expect(page.get_by_test_id("home-title")).to_have_count(0)


def test_anonymous_visit_returns_to_the_page_after_log_in(page: Page, live_server: str) -> None:
    page.goto("/institutions")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)institutions$"))

    log_in(page, "regulator")

    expect(page).to_have_url(f"{live_server}/institutions")
    expect(page.get_by_role("heading", level=1)).to_have_text("机构")
    expect(page.get_by_test_id("institutions")).to_be_visible()
    expect(page.get_by_test_id("logout")).to_be_visible()
