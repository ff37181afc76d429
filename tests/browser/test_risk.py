"""Risk control in a real browser, on the demo portfolio: the analyst's watchlist with
reason codes and the evaluation report, maker-checker on a manual list entry (the maker is
refused, a second person approves), and the borrower's own page with their appeal."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.test_roles import log_in

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests skipped: playwright cannot be imported; pip install -e '.[dev]'",
    exc_type=ImportError,
)
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


def test_analyst_sees_the_watchlist_with_reasons_and_the_report(
    page: Page, live_server: str
) -> None:
    page.goto("/login")
    log_in(page, "analyst")
    page.get_by_test_id("nav").get_by_role("link", name="风险控制").click()
    expect(page.get_by_test_id("model-id")).to_contain_text("early-warning-scorecard@")
    page.goto("/risk/watchlist")
    rows = page.get_by_test_id("watch-row")
    expect(rows.first).to_be_visible()
    losses = [
        float(t.replace(",", "")) for t in page.get_by_test_id("expected-loss").all_inner_texts()
    ]
    assert losses == sorted(losses, reverse=True)
    rows.first.locator("a").click()
    expect(page.get_by_test_id("loan-risk")).to_be_visible()
    expect(page.get_by_test_id("risk-reasons").locator("li").first).to_be_visible()
    page.goto("/risk/report")
    expect(page.locator("h2").first).to_be_visible()
    assert "AUC" in page.content() and "WOE" in page.content()


def test_a_manual_entry_needs_a_second_person(page: Page, live_server: str) -> None:
    page.goto("/login")
    log_in(page, "analyst")
    page.goto("/risk/lists?status=pending")
    pending = page.get_by_test_id("entry-row").first
    expect(pending).to_be_visible()
    entry = pending.get_attribute("data-entry")
    pending.get_by_test_id("approve").click()
    expect(page.get_by_test_id("form-error")).to_be_visible()
    page.get_by_test_id("logout").click()
    page.goto("/login")
    log_in(page, "bank-admin")
    page.goto("/risk/lists?status=pending")
    page.locator(f'[data-entry="{entry}"]').get_by_test_id("approve").click()
    page.goto("/risk/lists?status=active")
    row = page.locator(f'[data-entry="{entry}"]')
    expect(row.get_by_test_id("entry-status")).to_have_text("生效中")


def test_the_borrower_sees_their_entry_and_appeal(page: Page, live_server: str) -> None:
    page.goto("/login")
    log_in(page, "borrower")
    page.get_by_test_id("nav").get_by_role("link", name="我的信用状况").click()
    expect(page.get_by_test_id("my-entry").first).to_be_visible()
    expect(page.get_by_test_id("my-appeal").first).to_contain_text("待答复")
