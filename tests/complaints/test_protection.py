"""Reporter protection: the institution never sees the reporter's identity, phone, loan or
evidence without consent, nor any other institution's reports; personal data in what the
reporter wrote is masked in every view but the regulator's; every user-supplied text is
escaped; the audit trail carries no identity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairdun.audit.models import AuditRecord
from fairdun.complaints import service
from fairdun.complaints.config import ComplaintConfig
from fairdun.complaints.evidence import EvidenceStore
from fairdun.complaints.schemas import ResponseCreate, TextCreate, TriageCreate
from fairdun.identity.models import Role
from fairdun.kit.errors import Forbidden, NotFound
from tests.complaints.conftest import NARRATIVE, NOW, Desk, png_bytes, report
from tests.factories import csrf_from, login, make_user

NAME, PHONE = "王小明", "+8613900001111"
PERSONAL = ("王建国", "李秀英", "13812345678", "11010519491231002X", "建国路88号")


@pytest.fixture
def as_user(app: FastAPI) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(username: str) -> TestClient:
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return login(client, username)

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def forwarded(
    db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig, **fields: Any
) -> service.Receipt:
    receipt = report(db, store, config, desk.lender, **fields)
    service.triage(
        db, desk.regulator, receipt.complaint.id, TriageCreate(forward=True), NOW, config
    )
    db.commit()
    return receipt


def test_the_institution_sees_no_identity_without_consent(
    as_user: Any, db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    cid = forwarded(
        db, desk, store, config, anonymous=False, reporter_name=NAME, reporter_phone=PHONE
    ).complaint.id
    institution = as_user("lender-compliance")
    api = institution.get(f"/api/v1/complaints/{cid}")
    assert api.status_code == 200
    assert api.json()["reporter_name"] is None and api.json()["reporter_phone"] is None
    page = institution.get(f"/complaints/{cid}")
    for shown in (api.text, page.text):
        assert NAME not in shown and "13900001111" not in shown
    assert "举报人未同意提供" in page.text
    regulator = as_user("regulator")
    assert regulator.get(f"/api/v1/complaints/{cid}").json()["reporter_name"] == NAME


def test_with_consent_the_institution_sees_the_name_and_phone(
    as_user: Any, db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    cid = forwarded(
        db,
        desk,
        store,
        config,
        anonymous=False,
        reporter_name=NAME,
        reporter_phone=PHONE,
        consent_share_identity=True,
    ).complaint.id
    body = as_user("lender-compliance").get(f"/api/v1/complaints/{cid}").json()
    assert (body["reporter_name"], body["reporter_phone"]) == (NAME, PHONE)


def test_personal_data_in_the_narrative_is_masked_for_all_but_the_regulator(
    as_user: Any,
    client: TestClient,
    db: Session,
    desk: Desk,
    store: EvidenceStore,
    config: ComplaintConfig,
) -> None:
    receipt = forwarded(
        db, desk, store, config, message_text="王建国说：13812345678 是我的工号电话"
    )
    cid = receipt.complaint.id
    institution = as_user("lender-compliance")
    for shown in (
        institution.get(f"/api/v1/complaints/{cid}").text,
        institution.get(f"/complaints/{cid}").text,
        client.get(
            "/api/v1/reports/case",
            headers={
                "X-Tracking-Code": receipt.complaint.tracking_code,
                "X-Tracking-Secret": receipt.secret,
            },
        ).text,
    ):
        for personal in PERSONAL:
            assert personal not in shown
        assert "[电话]" in shown and "[身份证号]" in shown
    regulator = as_user("regulator").get(f"/api/v1/complaints/{cid}").json()
    assert regulator["narrative"] == NARRATIVE and not regulator["masked"]
    assert "王建国" in regulator["message_text"]


def test_evidence_is_shown_to_the_institution_only_if_the_reporter_agreed(
    as_user: Any, db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    files = [service.Upload("我家门口.png", png_bytes())]
    private = forwarded(db, desk, store, config, files=files).complaint.id
    shared = forwarded(
        db,
        desk,
        store,
        config,
        files=files,
        share_evidence=True,
        narrative="他们到我家门口泼油漆，拉横幅，说我欠钱不还，邻居都看到了。",
    ).complaint.id
    institution = as_user("lender-compliance")
    hidden = institution.get(f"/api/v1/complaints/{private}").json()
    assert hidden["evidence"] == []
    assert "举报人未同意向机构提供" in institution.get(f"/complaints/{private}").text
    evidence_id = (
        as_user("regulator").get(f"/api/v1/complaints/{private}").json()["evidence"][0]["id"]
    )
    refused = institution.get(f"/api/v1/complaints/{private}/evidence/{evidence_id}")
    assert refused.status_code == 403
    visible = institution.get(f"/api/v1/complaints/{shared}").json()["evidence"]
    assert len(visible) == 1
    download = institution.get(f"/complaints/{shared}/evidence/{visible[0]['id']}")
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-type"] == "image/png"
    assert download.content.startswith(b"\x89PNG")
    # Reading evidence is itself on the audit trail.
    assert db.scalar(select(AuditRecord).where(AuditRecord.action == "complaint.evidence_read"))


def test_the_loan_is_not_shown_to_the_institution_without_consent(
    db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    receipt = forwarded(db, desk, store, config)
    receipt.complaint.loan_id = None  # no loan here; the view decides from consent alone
    view = service.present(db, receipt.complaint, service.viewer_of(desk.staff), NOW)
    assert view.loan_id is None and view.reporter_name is None


def test_no_other_institution_and_no_other_role_reaches_a_report(
    as_user: Any, db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    cid = forwarded(
        db, desk, store, config, files=[service.Upload("a.png", png_bytes())], share_evidence=True
    ).complaint.id
    make_user(db, role=Role.COLLECTOR, institution=desk.lender, username="lender-collector")
    make_user(db, role=Role.PLATFORM_ADMIN, username="platform")
    db.commit()
    for username in ("other-compliance", "lender-collector", "platform"):
        client = as_user(username)
        for path in (
            f"/complaints/{cid}",
            f"/api/v1/complaints/{cid}",
            f"/complaints/{cid}/evidence/1",
            f"/api/v1/complaints/{cid}/evidence/1",
        ):
            assert client.get(path).status_code == 404, (username, path)
        assert client.get("/api/v1/complaints").status_code in (200, 403)
        listed = client.get("/api/v1/complaints")
        if listed.status_code == 200:
            assert listed.json() == []
    with pytest.raises(NotFound):
        service.ask(db, desk.other_staff, cid, TextCreate(text="?"), NOW)
    with pytest.raises(Forbidden):
        service.listing(db, service.Principal(role=Role.COLLECTOR, institution_id=desk.lender.id))


XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_script_payloads_in_every_field_are_escaped_on_every_page(
    as_user: Any,
    client: TestClient,
    db: Session,
    desk: Desk,
    store: EvidenceStore,
    config: ComplaintConfig,
) -> None:
    receipt = report(
        db,
        store,
        config,
        None,
        institution_name=f"网贷{XSS}",
        message_text=f"短信{XSS}",
        narrative=f"他们每天打电话骚扰我{XSS}",
        anonymous=False,
        reporter_name=f"王{XSS}",
        consent_share_identity=True,
        share_evidence=True,
        files=[service.Upload(f"{XSS}.txt", b"plain text evidence")],
    )
    c = receipt.complaint
    service.triage(
        db,
        desk.regulator,
        c.id,
        TriageCreate(institution_id=desk.lender.id, forward=True, note=f"备注{XSS}"),
        NOW,
        config,
    )
    service.ask(db, desk.staff, c.id, TextCreate(text=f"问题{XSS}"), NOW)
    service.reporter_answer(db, c, TextCreate(text=f"回答{XSS}"), NOW)
    service.respond(db, desk.staff, c.id, ResponseCreate(outcome="remedy", text=f"答复{XSS}"), NOW)  # type: ignore[arg-type]
    db.commit()
    track = client.get("/report/track")
    pages = {
        "reporter": client.post(
            "/report/track",
            data={
                "csrf_token": csrf_from(track.text),
                "code": c.tracking_code,
                "secret": receipt.secret,
            },
        ).text,
    }
    for username in ("regulator", "lender-compliance"):
        user = as_user(username)
        pages[f"{username} case"] = user.get(f"/complaints/{c.id}").text
        pages[f"{username} list"] = user.get("/complaints").text
    for where, html in pages.items():
        assert "<script>alert" not in html, where
        assert "<img src=x" not in html, where
    assert "&lt;script&gt;" in pages["regulator case"]
    assert pages["regulator case"].count("&lt;script&gt;") >= 7  # every field, escaped
    assert pages["reporter"].count("&lt;script&gt;") >= 3


def test_the_audit_trail_never_holds_the_reporters_identity_or_words(
    db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    receipt = forwarded(
        db, desk, store, config, anonymous=False, reporter_name=NAME, reporter_phone=PHONE
    )
    service.reporter_answer(db, receipt.complaint, TextCreate(text="我叫王小明"), NOW)
    db.commit()
    trail = json.dumps(
        [(r.actor, r.action, r.target, r.details) for r in db.scalars(select(AuditRecord))],
        ensure_ascii=False,
    )
    for secret in (NAME, "13900001111", *PERSONAL, receipt.secret):
        assert secret not in trail
    # Before it is forwarded, nothing about the report is on the institution's audit view.
    records = db.scalars(
        select(AuditRecord).where(AuditRecord.action == "complaint.submitted")
    ).all()
    assert all(r.institution_id is None for r in records)
