"""The whole case path in Chromium: an anonymous report with an image and a recording, the
receipt, the reporter's case page, the regulator's review, the institution's answer, the
reporter's acceptance, and the regulator's dashboard with its charts."""

from __future__ import annotations

import io
import struct
import wave
import zlib
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
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

BANK = "示范城市商业银行"
MARKER = "浏览器测试举报"


def png_bytes() -> bytes:
    """A valid 2×2 red PNG, built by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def wav_bytes() -> bytes:
    """A valid tenth of a second of silence, 8 kHz mono."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 800)
    return out.getvalue()


def _login(page: Page, username: str) -> None:
    page.goto("/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("who")).to_be_visible()


def test_an_anonymous_report_goes_the_whole_way_and_the_dashboard_charts_it(
    page: Page, browser: Browser, live_server: str
) -> None:
    # The reporter: no account, anonymous, an image and a recording as evidence.
    page.goto("/report")
    page.get_by_test_id("kind-contact_or_relative").check()
    page.get_by_test_id("report-institution").fill(BANK)
    page.locator("input[name=categories][value=frequency]").check()
    page.locator("input[name=categories][value=third-party-disclosure]").check()
    page.get_by_test_id("report-narrative").fill(
        f"{MARKER}：催收员每天给我打十几个电话，还打到我单位，让我转告同事欠钱的事。"
    )
    expect(page.get_by_test_id("report-anonymous")).to_be_checked()
    page.get_by_test_id("report-evidence").set_input_files(
        [
            {"name": "screenshot.png", "mimeType": "image/png", "buffer": png_bytes()},
            {"name": "call.wav", "mimeType": "audio/wav", "buffer": wav_bytes()},
        ]
    )
    page.get_by_test_id("report-submit").click()
    expect(page.get_by_test_id("receipt")).to_be_visible()
    code = page.get_by_test_id("receipt-code").inner_text().strip()
    secret = page.get_by_test_id("receipt-secret").inner_text().strip()
    assert code and secret

    # The reporter looks the case up with the receipt.
    page.goto("/report/track")
    page.get_by_test_id("track-code").fill(code)
    page.get_by_test_id("track-secret").fill(secret)
    page.get_by_test_id("track-submit").click()
    expect(page.get_by_test_id("reporter-case")).to_be_visible()
    expect(page.get_by_test_id("case-narrative")).to_contain_text(MARKER)
    evidence = page.get_by_test_id("evidence-list")
    expect(evidence).to_contain_text("screenshot.png")
    expect(evidence).to_contain_text("call.wav")

    # The regulator reviews it and forwards it to the bank.
    regulator = browser.new_context(base_url=live_server)
    try:
        reg = regulator.new_page()
        _login(reg, "regulator")
        reg.goto("/complaints?status=submitted")
        reg.get_by_test_id("complaint-row").first.locator("a").first.click()
        expect(reg.get_by_test_id("case-narrative")).to_contain_text(MARKER)
        case_url = reg.url
        reg.get_by_test_id("triage-submit").click()
        expect(reg.get_by_test_id("case-deadline")).to_be_visible()

        # The bank's compliance officer answers.
        bank = browser.new_context(base_url=live_server)
        try:
            staff = bank.new_page()
            _login(staff, "compliance")
            staff.goto(case_url)
            expect(staff.get_by_test_id("case-narrative")).to_contain_text(MARKER)
            staff.get_by_test_id("respond-outcome").select_option("remedy")
            staff.get_by_test_id("respond-text").fill(
                "已核实，已停止向您的单位打电话，并处分了该催收员。"
            )
            staff.get_by_test_id("respond-submit").click()
            expect(staff.get_by_test_id("case-response")).to_contain_text("已停止向您的单位打电话")
        finally:
            bank.close()

        # The reporter sees the answer and accepts it.
        page.goto("/report/case")
        expect(page.get_by_test_id("case-response")).to_contain_text("已停止向您的单位打电话")
        page.get_by_test_id("feedback-accept").click()
        expect(page.get_by_test_id("case-status")).to_have_text("答复已接受")

        # The regulator's dashboard charts it.
        reg.goto("/dashboard")
        expect(reg.get_by_test_id("dashboard-title")).to_be_visible()
        expect(reg.get_by_test_id("dashboard-institutions")).to_contain_text(BANK)
        expect(reg.get_by_test_id("score-formula")).to_be_visible()
        for chart in ("chart-month", "chart-category", "chart-institution", "chart-region"):
            image = reg.get_by_test_id(chart)
            expect(image).to_be_visible()
            image.scroll_into_view_if_needed()
            reg.wait_for_function(
                "el => el.complete && el.naturalWidth > 0", arg=image.element_handle()
            )
        svg = reg.request.get("/dashboard/by-institution.svg")
        assert svg.ok and svg.headers["content-type"].startswith("image/svg+xml")
        assert BANK in svg.text()
    finally:
        regulator.close()
