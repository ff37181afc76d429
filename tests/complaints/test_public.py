"""The public pages, no log-in: statistics with small cells hidden and only consented,
masked narratives; the education pages generated from the policy packs; the registry
check; the true-cost calculator."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairdun.complaints import service, stats
from fairdun.complaints.config import ComplaintConfig
from fairdun.complaints.evidence import EvidenceStore
from fairdun.complaints.models import ComplaintEvent
from fairdun.complaints.schemas import TriageCreate
from fairdun.compliance import packs
from fairdun.identity.principal import SYSTEM
from fairdun.institutions import service as institutions
from fairdun.institutions.models import Institution, InstitutionKind, LicenceStatus
from fairdun.institutions.schemas import EngagementCreate, LicenceChangeCreate
from fairdun.web.security import LANG_COOKIE
from tests.complaints.conftest import NOW, Desk, report
from tests.factories import make_institution

CELL = re.compile(r'data-testid="stats-(?:cell|total)">([^<]*|&lt;10)<')


def _reviewed(
    db: Session,
    store: EvidenceStore,
    config: ComplaintConfig,
    desk: Desk,
    inst: Institution | None,
    n: int,
    tag: str,
    **fields: object,
) -> list[int]:
    ids = []
    for i in range(n):
        r = report(db, store, config, inst, requester=f"198.51.{tag}.{i}", **fields)
        service.triage(db, desk.regulator, r.complaint.id, TriageCreate(), NOW, config)
        ids.append(r.complaint.id)
    db.commit()
    return ids


def _row(html: str, label: str) -> list[str]:
    found = re.search(r"<td>" + re.escape(label) + r"</td>(.*?)</tr>", html, re.S)
    assert found is not None, label
    return [c.replace("&lt;", "<") for c in CELL.findall(found.group(1))]


def test_a_cell_of_ten_is_shown_and_a_cell_of_nine_hidden(
    client: TestClient, db: Session, store: EvidenceStore, config: ComplaintConfig, desk: Desk
) -> None:
    _reviewed(db, store, config, desk, desk.lender, 10, "1")
    _reviewed(db, store, config, desk, desk.other, 9, "2")
    # Not reviewed yet: never counted.
    report(db, store, config, desk.other, requester="198.51.3.1")
    page = client.get("/stats")
    assert page.status_code == 200
    assert 'data-testid="suppression-rule"' in page.text
    quarters = stats.last_quarters(NOW)
    assert quarters[-1] == "2026-Q4"
    assert _row(page.text, "甲消费金融") == ["<10", "<10", "<10", "10", "10"]
    # 9 reports: below the threshold, pooled with the other small institutions and hidden.
    assert "乙小贷" not in page.text
    other = re.search(
        r"<td>[^<]*(?:Other institutions|其他机构)[^<]*</td>(.*?)</tr>", page.text, re.S
    )
    assert other is not None
    assert [c.replace("&lt;", "<") for c in CELL.findall(other.group(1))] == ["<10"] * 5
    assert ">9<" not in page.text


def test_the_statistics_need_no_login_and_show_no_narrative_without_consent(
    client: TestClient, db: Session, store: EvidenceStore, config: ComplaintConfig, desk: Desk
) -> None:
    consented = _reviewed(
        db,
        store,
        config,
        desk,
        desk.lender,
        1,
        "4",
        narrative="同意公开的举报：催收员每天打电话，号码13812345678，还骂人。",
        consent_publish=True,
    )
    _reviewed(
        db, store, config, desk, desk.lender, 1, "5", narrative="不同意公开的举报：催收员威胁我。"
    )
    # Consented but not reviewed: not published yet.
    report(
        db,
        store,
        config,
        desk.lender,
        requester="198.51.6.1",
        narrative="未审核的举报：催收员冒充警察。",
        consent_publish=True,
    )
    kinds = db.scalars(
        select(ComplaintEvent.kind).where(ComplaintEvent.complaint_id == consented[0])
    ).all()
    assert "publish_consented" in kinds
    page = client.get("/stats")
    assert page.status_code == 200
    published = re.findall(r'data-testid="stats-narrative"><p class="details">([^<]*)<', page.text)
    assert len(published) == 1
    assert published[0].startswith("同意公开的举报")
    assert "13812345678" not in page.text and "[电话]" in published[0]
    assert "不同意公开" not in page.text and "未审核" not in page.text


def test_a_narrative_is_escaped(
    client: TestClient, db: Session, store: EvidenceStore, config: ComplaintConfig, desk: Desk
) -> None:
    _reviewed(
        db,
        store,
        config,
        desk,
        desk.lender,
        1,
        "7",
        narrative="<script>alert(1)</script> 催收员每天骚扰我的家人。",
        consent_publish=True,
    )
    page = client.get("/stats")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text


def test_the_report_form_offers_publication_consent_off_by_default(client: TestClient) -> None:
    form = client.get("/report").text
    box = re.search(r'<input[^>]*name="consent_publish"[^>]*>', form)
    assert box is not None and "checked" not in box.group(0)


# --- education ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh_Hans", "en"])
def test_the_rules_page_lists_every_rule_of_both_packs(client: TestClient, lang: str) -> None:
    client.cookies.set(LANG_COOKIE, lang)
    page = client.get("/learn")
    assert page.status_code == 200
    shown = set(re.findall(r'data-testid="learn-rule" data-rule="([^"]+)"', page.text))
    for pack_id in ("cn", "us-regf"):
        pack = packs.load(pack_id)
        assert {r.id for r in pack.rules} <= shown
        for rule in pack.rules:
            title = rule.title_zh if lang == "zh_Hans" else rule.title_en
            assert title in page.text or title.replace("'", "&#39;") in page.text
    assert 'href="/report"' in page.text
    assert 'href="/learn/check"' in page.text and 'href="/learn/cost"' in page.text


def test_the_registry_check_shows_licence_and_engaged_agencies(
    client: TestClient, db: Session, desk: Desk
) -> None:
    agency = make_institution(db, name="丙合规催收", kind=InstitutionKind.COLLECTION_AGENCY)
    institutions.engage_agency(
        db,
        SYSTEM,
        desk.lender.id,
        EngagementCreate(agency_id=agency.id, contract_ref="C-1", start_date=date(2026, 1, 1)),
    )
    institutions.change_licence(
        db, SYSTEM, desk.other.id, LicenceChangeCreate(status=LicenceStatus.SUSPENDED, reason="x")
    )
    db.commit()
    client.cookies.set(LANG_COOKIE, "en")
    by_name = client.get("/learn/check", params={"q": "消费金融"}).text
    assert "甲消费金融" in by_name
    agencies = re.search(r'data-testid="check-agencies">([^<]*)<', by_name)
    assert agencies is not None and "丙合规催收" in agencies.group(1)
    by_code = client.get("/learn/check", params={"q": desk.other.credit_code}).text
    assert "乙小贷" in by_code
    assert re.search(r'data-testid="check-licence">suspended', by_code)
    served = client.get("/learn/check", params={"q": "丙合规"}).text
    assert re.search(r'data-testid="check-lenders">甲消费金融', served)
    unknown = client.get("/learn/check", params={"q": "<script>假冒公司"}).text
    assert 'data-testid="check-none"' in unknown
    assert "<script>假冒" not in unknown
    # The regulator itself is not a collector: never listed.
    assert "监管局" not in client.get("/learn/check", params={"q": "监管"}).text


def test_the_calculator_page_gives_the_ledgers_rate(client: TestClient) -> None:
    page = client.get(
        "/learn/cost", params={"amount": "10000", "instalments": "12", "payment": "1000"}
    ).text
    assert re.search(r'data-testid="cost-apr">35\.07%<', page)
    assert 'data-testid="cost-over"' in page
    assert "年利率24%（2015年民间借贷司法解释）" in page  # the default language, translated
    fair = client.get(
        "/learn/cost", params={"amount": "12000", "instalments": "12", "payment": "1010"}
    ).text
    assert 'data-testid="cost-under"' in fair
    bad = client.get(
        "/learn/cost", params={"amount": "10000", "instalments": "x", "payment": "1000"}
    ).text
    assert 'data-field="instalments"' in bad
    assert client.get("/learn/cost").status_code == 200


@pytest.mark.parametrize("path", ["/learn", "/learn/check", "/learn/cost", "/stats"])
def test_a_visitor_switches_the_public_pages_to_english(client: TestClient, path: str) -> None:
    page = client.get(path).text
    assert '<html lang="zh-Hans">' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None and token.group(1)
    response = client.post(
        "/lang",
        data={"csrf_token": token.group(1), "lang": "en", "next": path},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert '<html lang="en">' in client.get(path).text
