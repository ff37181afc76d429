"""The loan pages in a real browser, on the demo portfolio."""

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


def test_collector_filters_the_book_and_opens_a_loan_with_its_chart(
    page: Page, live_server: str
) -> None:
    page.goto("/login")
    log_in(page, "collector")
    page.goto("/")
    summary = page.get_by_test_id("bucket-summary")
    expect(summary).to_be_visible()
    # The portfolio depends on the day it was seeded: take a delinquent bucket that has loans.
    counts = {
        tile.locator("a").inner_text(): int(tile.locator("strong").inner_text())
        for tile in summary.locator("li").all()
    }
    bucket = next(code for code in ("M1", "M2", "M3", "M4", "M5", "M6") if counts.get(code))
    page.goto("/loans")
    page.locator("select[name=bucket]").select_option(bucket)
    page.get_by_test_id("loan-filters").get_by_role("button").click()
    page.wait_for_url(f"**/loans?*bucket={bucket}*")
    rows = page.get_by_test_id("loans").locator("tbody tr")
    expect(rows.first).to_be_visible()
    for text in rows.locator("td:nth-child(6)").all_inner_texts():
        assert text.strip() == bucket
    rows.first.locator("a").click()
    expect(page.get_by_test_id("loan-title")).to_be_visible()
    expect(page.get_by_test_id("schedule")).to_be_visible()
    dpd = int(page.get_by_test_id("dpd").inner_text())
    low = {"M1": 1, "M2": 31, "M3": 61, "M4": 91, "M5": 121, "M6": 151}[bucket]
    assert low <= dpd <= low + 29
    chart = page.locator("img.chart")
    expect(chart).to_be_visible()
    # The SVG chart really loads (an image that failed has no natural width); wait for it,
    # as a visible <img> may still be loading.
    page.wait_for_function(
        "() => { const i = document.querySelector('img.chart');"
        " return i !== null && i.complete && i.naturalWidth > 0; }",
        timeout=15_000,
    )


def test_borrower_sees_only_their_own_loans(page: Page, live_server: str) -> None:
    page.goto("/login")
    log_in(page, "borrower")
    table = page.get_by_test_id("my-loans")
    expect(table).to_be_visible()
    links = table.locator("a")
    count = links.count()
    assert count >= 1
    page.goto("/loans")
    expect(page.get_by_test_id("loan-count")).to_contain_text(str(count))
