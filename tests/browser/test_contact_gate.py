"""The demo collector proposes a contact on a loan's page and sees why the gate denied it."""

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


def test_collector_asks_to_call_a_contact_person_and_sees_the_denial_reason(
    page: Page, live_server: str
) -> None:
    page.goto("/login")
    page.locator("input[name=username]").fill("collector")
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("who")).to_be_visible()
    # The demo seed gives parties to the bank's first delinquent loans (lowest ids).
    loans = page.request.get("/api/loans?status=delinquent&limit=1000").json()
    loan_id = min(loan["id"] for loan in loans)
    page.goto(f"/loans/{loan_id}")
    page.get_by_test_id("loan-contacts-link").click()
    expect(page.get_by_test_id("contacts-title")).to_be_visible()
    parties = page.get_by_test_id("parties")
    expect(parties).to_contain_text("联系人")
    expect(parties).not_to_contain_text("10030000000")  # numbers are masked
    option = page.get_by_test_id("propose-target").locator("option", has_text="示范联系人甲")
    page.get_by_test_id("propose-target").select_option(option.get_attribute("value"))
    page.get_by_test_id("propose-channel").select_option("call")
    page.get_by_test_id("propose-purpose").select_option("locate")
    page.get_by_test_id("propose-submit").click()
    expect(page.get_by_test_id("decision-denied")).to_be_visible()
    reasons = page.get_by_test_id("decision-reasons")
    expect(reasons).to_contain_text("cn.contact-person-not-lost")
    expect(reasons).to_contain_text("债务人并未失联")
    expect(page.get_by_test_id("decisions")).to_contain_text("cn.contact-person-not-lost")
