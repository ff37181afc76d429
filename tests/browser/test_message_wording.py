"""The demo compliance officer checks a message, then tries to activate a threatening
template and sees it refused with the offending words marked; a clean one activates."""

from __future__ import annotations

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


def test_threatening_template_is_refused_and_a_clean_one_activates(
    page: Page, live_server: str
) -> None:
    page.goto("/login")
    page.locator("input[name=username]").fill("compliance")
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("nav").get_by_role("link", name="话术与模板").click()

    page.get_by_test_id("check-text").fill("再不还钱就把你欠款的事发到你全部通讯录。")
    page.get_by_test_id("check-submit").click()
    findings = page.get_by_test_id("findings")
    expect(findings).to_contain_text("third-party-disclosure")
    expect(findings.locator("mark").first).to_be_visible()

    page.get_by_test_id("template-key").fill("browser-threat")
    page.get_by_test_id("template-body").fill(
        "{{ borrower_name }}，今天不还就去你单位找你领导，让你同事都知道你欠钱。"
    )
    page.get_by_test_id("template-submit").click()
    row = page.locator("tr", has_text="browser-threat")
    row.get_by_role("button", name="启用").click()
    refused = page.get_by_test_id("activation-refused")
    expect(refused).to_be_visible()
    expect(refused).to_contain_text("third-party-disclosure")
    expect(page.locator("tr", has_text="browser-threat")).to_contain_text("草稿")

    page.get_by_test_id("template-key").fill("browser-clean")
    page.get_by_test_id("template-body").fill(
        "{{ borrower_name }}您好，您尾号{{ loan_tail }}的借款将于{{ due_date }}到期，"
        "请通过官方App按时还款。如有困难，可致电{{ phone }}协商还款计划。"
    )
    page.get_by_test_id("template-submit").click()
    page.locator("tr", has_text="browser-clean").get_by_role("button", name="启用").click()
    expect(page.locator("tr", has_text="browser-clean")).to_contain_text("有效")
