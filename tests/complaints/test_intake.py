"""The public report form and API: a report with evidence gets a receipt; bad input is
refused naming the field and leaves nothing behind; the honeypot, the per-address limit
and CSRF hold; the receipt's secret is stored hashed and checked."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from fairdun.complaints import service
from fairdun.complaints.config import ComplaintConfig
from fairdun.complaints.evidence import EvidenceStore
from fairdun.complaints.models import Complaint, ComplaintEvent, ComplaintEvidence, IntakeMark
from fairdun.kit.errors import Invalid, NotFound, Throttled
from tests.complaints.conftest import NARRATIVE, Desk, png_bytes, report, wav_bytes
from tests.conftest import FakeClock
from tests.factories import csrf_from


def form_fields(desk: Desk, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "reporter_kind": "stranger",
        "institution": desk.lender.name,
        "categories": ["frequency", "hours"],
        "incident_date": "2026-11-28",
        "caller_numbers": "+86 171 0000 1111\n17100002222",
        "message_text": "再不还钱就去你单位闹",
        "narrative": NARRATIVE,
        "anonymous": "1",
    }
    fields.update(overrides)
    return fields


def post_report(
    client: TestClient, fields: dict[str, Any], files: list[tuple[str, bytes]] | None = None
) -> Any:
    page = client.get("/report")
    return client.post(
        "/report",
        data={"csrf_token": csrf_from(page.text), **fields},
        files=[
            ("evidence", (name, data, "application/octet-stream")) for name, data in files or []
        ],
    )


def receipt_of(html: str) -> tuple[str, str]:
    code = re.search(r'data-testid="receipt-code">([^<]+)<', html)
    secret = re.search(r'data-testid="receipt-secret">([^<]+)<', html)
    assert code and secret, "no receipt on the page"
    return code.group(1), secret.group(1)


def stored_files(config: ComplaintConfig) -> list[Path]:
    root = config.evidence_dir
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def count(db: Session, model: Any) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_an_anonymous_report_with_an_image_and_a_recording_gets_a_receipt(
    client: TestClient, db: Session, desk: Desk, config: ComplaintConfig
) -> None:
    response = post_report(
        client, form_fields(desk), [("photo.png", png_bytes()), ("call.wav", wav_bytes())]
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    code, secret = receipt_of(response.text)
    complaint = db.scalar(select(Complaint).where(Complaint.tracking_code == code))
    assert complaint is not None
    assert complaint.status == "submitted"
    assert complaint.anonymous and complaint.reporter_name is None
    assert not complaint.consent_share_identity
    assert complaint.institution_id == desk.lender.id
    assert complaint.caller_numbers == "+8617100001111\n+8617100002222"
    assert complaint.categories == "frequency hours"
    files = db.scalars(select(ComplaintEvidence)).all()
    assert sorted(f.content_type for f in files) == ["audio/wav", "image/png"]
    assert len(stored_files(config)) == 2
    kinds = [e.kind for e in db.scalars(select(ComplaintEvent)).all()]
    assert kinds == ["submitted", "evidence_added", "evidence_added"]
    # The receipt works on the tracking page.
    track = client.get("/report/track")
    case = client.post(
        "/report/track",
        data={"csrf_token": csrf_from(track.text), "code": code, "secret": secret},
    )
    assert case.status_code == 200
    assert 'data-testid="reporter-case"' in case.text


def test_the_secret_is_stored_only_as_a_keyed_hash(
    db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    receipt = report(db, store, config, desk.lender)
    raw = receipt.secret.replace("-", "")
    stored = db.execute(text("SELECT * FROM complaints")).mappings().one()
    assert all(raw not in str(v) and receipt.secret not in str(v) for v in stored.values())
    assert stored["secret_hash"] == service.secret_hash(receipt.secret)
    assert len(stored["secret_hash"]) == 64


def test_the_receipt_opens_the_case_and_a_wrong_secret_or_code_does_not(
    db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    receipt = report(db, store, config, desk.lender)
    code = receipt.complaint.tracking_code
    assert service.lookup(db, code, receipt.secret).id == receipt.complaint.id
    # Typed by hand: lower case, spaces, no dashes.
    assert service.lookup(db, code.lower(), receipt.secret.lower().replace("-", " ")).id
    wrong = receipt.secret[:-1] + ("A" if receipt.secret[-1] != "A" else "B")
    for bad_code, bad_secret in [(code, wrong), ("FDXXXXXXXX", receipt.secret), (code, "")]:
        with pytest.raises(NotFound, match="tracking code or the secret is wrong"):
            service.lookup(db, bad_code, bad_secret)


def test_a_wrong_secret_on_the_tracking_page_is_refused(
    client: TestClient, db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    receipt = report(db, store, config, desk.lender)
    track = client.get("/report/track")
    response = client.post(
        "/report/track",
        data={
            "csrf_token": csrf_from(track.text),
            "code": receipt.complaint.tracking_code,
            "secret": "AAAAA-BBBBB-CCCCC-DDDDD",
        },
        follow_redirects=False,
    )
    assert response.status_code == 404
    assert "fairdun_case" not in response.headers.get("set-cookie", "")
    assert client.get("/report/case", follow_redirects=False).status_code == 303


def test_a_forged_case_cookie_opens_nothing(
    client: TestClient, db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    receipt = report(db, store, config, desk.lender)
    client.cookies.set(
        "fairdun_case", f"{receipt.complaint.tracking_code}.9999999999.{'0' * 64}", path="/report"
    )
    response = client.get("/report/case", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/report/track"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"narrative": "太短"}, "narrative"),
        ({"reporter_kind": "collector"}, "reporter_kind"),
        ({"institution": ""}, "institution"),
        ({"categories": ["frequency", "made-up"]}, "categories"),
        ({"caller_numbers": "call me maybe"}, "caller_numbers"),
        ({"incident_date": "2026-13-45"}, "incident_date"),
        ({"incident_date": "2027-01-01"}, "incident_date"),
        ({"anonymous": "", "reporter_name": ""}, "reporter_name"),
        ({"reporter_name": "王小明"}, "reporter_name"),
        ({"consent_share_identity": "1"}, "consent_share_identity"),
        ({"shield": "1", "shield_phone": "not a number"}, "shield_phone"),
        ({"loan_id": "1"}, "loan_id"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(
    client: TestClient,
    db: Session,
    desk: Desk,
    config: ComplaintConfig,
    overrides: dict[str, Any],
    field: str,
) -> None:
    response = post_report(client, form_fields(desk, **overrides), [("a.png", png_bytes())])
    assert response.status_code == 422, response.text
    match = re.search(r'data-testid="report-error" data-field="([^"]*)">([^<]*)<', response.text)
    assert match, "no error on the page"
    assert match.group(1) == field, match.group(2)
    assert field in match.group(2)
    assert count(db, Complaint) == 0
    assert count(db, ComplaintEvidence) == 0
    assert stored_files(config) == []
    # What the reporter typed is kept in the form, so nothing has to be typed again.
    assert "再不还钱就去你单位闹" in response.text


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            [("ok.png", png_bytes()), ("photo.jpg", b"<html><script>alert(1)</script></html>")],
            "photo.jpg",
        ),
        ([("a.txt", b"one")] * 6, "at most 5 files"),
        ([("huge.txt", b"a" * (10 * 1024 * 1024 + 1))], "larger than 10 MB"),
    ],
)
def test_a_bad_file_refuses_the_whole_report_and_leaves_no_file(
    client: TestClient,
    db: Session,
    desk: Desk,
    config: ComplaintConfig,
    files: list[tuple[str, bytes]],
    message: str,
) -> None:
    response = post_report(client, form_fields(desk), files)
    assert response.status_code == 422
    assert 'data-field="evidence"' in response.text
    assert message in response.text
    assert count(db, Complaint) == 0
    assert stored_files(config) == []


def test_the_honeypot_refuses_a_robot_and_stores_nothing(
    client: TestClient, db: Session, desk: Desk, config: ComplaintConfig
) -> None:
    response = post_report(
        client, form_fields(desk, website="http://spam.example"), [("a.png", png_bytes())]
    )
    assert response.status_code == 422
    assert 'data-field="website"' in response.text
    assert count(db, Complaint) == 0
    assert stored_files(config) == []
    # The honeypot is on the form, hidden from people.
    form = client.get("/report").text
    assert re.search(r'<div hidden aria-hidden="true">\s*<label>[^<]*<input name="website"', form)


def test_without_a_csrf_token_nothing_is_stored(
    client: TestClient, db: Session, desk: Desk
) -> None:
    client.get("/report")
    response = client.post("/report", data=form_fields(desk))
    assert response.status_code == 403
    forged = client.post("/report", data={**form_fields(desk), "csrf_token": "1." + "0" * 64})
    assert forged.status_code == 403
    assert count(db, Complaint) == 0


def test_the_per_address_limit_says_when_to_try_again(
    client: TestClient, db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    for _ in range(config.reports_per_hour):
        report(db, store, config, desk.lender, requester="testclient")
    response = post_report(client, form_fields(desk))
    assert response.status_code == 429
    assert "at most 10 per hour" in response.text
    assert "minute" in response.text
    assert count(db, Complaint) == config.reports_per_hour
    # Another address is not affected.
    report(db, store, config, desk.lender, requester="192.0.2.1")


def test_the_limit_counts_per_hour_and_per_day(
    db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig, clock: FakeClock
) -> None:
    now = clock.now
    for _ in range(config.reports_per_hour):
        report(db, store, config, desk.lender, now=now)
    with pytest.raises(Throttled) as info:
        report(db, store, config, desk.lender, now=now + timedelta(minutes=10))
    assert 60 <= info.value.retry_after_seconds <= 3600
    db.rollback()
    sent = config.reports_per_hour
    later = now
    while sent < config.reports_per_day:
        later += timedelta(hours=1, minutes=1)
        for _ in range(min(config.reports_per_hour, config.reports_per_day - sent)):
            report(db, store, config, desk.lender, now=later)
            sent += 1
    with pytest.raises(Throttled, match="per day"):
        report(db, store, config, desk.lender, now=later + timedelta(hours=2))
    db.rollback()
    report(db, store, config, desk.lender, now=now + timedelta(days=1, hours=1))


def test_the_address_is_kept_only_as_a_keyed_hash_apart_from_the_report(
    db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    report(db, store, config, desk.lender, requester="203.0.113.7")
    rows = db.execute(text("SELECT * FROM complaint_intake_marks")).mappings().all()
    assert len(rows) == 1 and "203.0.113.7" not in str(dict(rows[0]))
    assert "203.0.113.7" not in str(db.execute(text("SELECT * FROM complaints")).all())
    # Marks older than a day are forgotten.
    report(db, store, config, desk.lender, requester="192.0.2.2", now=service_now_plus(days=2))
    assert count(db, IntakeMark) == 1


def service_now_plus(**delta: float) -> Any:
    from tests.complaints.conftest import NOW

    return NOW + timedelta(**delta)


def test_personal_data_is_encrypted_at_rest(
    db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    report(
        db,
        store,
        config,
        desk.lender,
        anonymous=False,
        reporter_name="王小明",
        reporter_phone="13900001111",
        message_text="再不还钱就去你单位闹",
        caller_numbers=["17100001111"],
        files=[service.Upload("王小明的截图.png", png_bytes())],
    )
    row = db.execute(text("SELECT * FROM complaints")).mappings().one()
    for column in (
        "reporter_name",
        "reporter_phone",
        "narrative",
        "message_text",
        "caller_numbers",
    ):
        assert str(row[column]).startswith("fd1:"), column
    dump = str(dict(row))
    for secret in ("王小明", "13900001111", "王建国", "单位", "17100001111"):
        assert secret not in dump
    evidence = db.execute(text("SELECT original_name FROM complaint_evidence")).scalar_one()
    assert evidence.startswith("fd1:")


def test_the_json_api_files_a_report_and_follows_it(
    client: TestClient, db: Session, desk: Desk, config: ComplaintConfig
) -> None:
    response = client.post(
        "/api/v1/reports",
        json={
            "reporter_kind": "borrower",
            "institution_name": "某不在名录的网贷平台",
            "categories": ["threat"],
            "narrative": NARRATIVE,
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert re.fullmatch(r"[0-9A-Z]{10}", body["tracking_code"])
    assert re.fullmatch(r"[0-9A-Z]{5}(-[0-9A-Z]{5}){3}", body["secret"])
    headers = {"X-Tracking-Code": body["tracking_code"], "X-Tracking-Secret": body["secret"]}
    case = client.get("/api/v1/reports/case", headers=headers)
    assert case.status_code == 200
    assert case.json()["institution"] == "某不在名录的网贷平台"
    assert "13812345678" not in case.text
    added = client.post(
        "/api/v1/reports/case/evidence",
        headers=headers,
        files=[("files", ("call.wav", wav_bytes(), "audio/wav"))],
    )
    assert added.status_code == 201, added.text
    assert added.json()[0]["content_type"] == "audio/wav"
    wrong = {**headers, "X-Tracking-Secret": "AAAAA-AAAAA-AAAAA-AAAAA"}
    assert client.get("/api/v1/reports/case", headers=wrong).status_code == 404
    assert (
        client.post(
            "/api/v1/reports/case/evidence",
            headers=wrong,
            files=[("files", ("a.txt", b"x", "text/plain"))],
        ).status_code
        == 404
    )
    assert len(stored_files(config)) == 1


def test_the_json_api_names_the_bad_field(client: TestClient, db: Session, desk: Desk) -> None:
    response = client.post(
        "/api/v1/reports",
        json={"reporter_kind": "stranger", "institution_id": desk.lender.id, "narrative": "短"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "narrative"
    honeypot = client.post(
        "/api/v1/reports",
        json={
            "reporter_kind": "stranger",
            "institution_id": desk.lender.id,
            "narrative": NARRATIVE,
            "website": "x",
        },
    )
    assert honeypot.status_code == 422
    assert honeypot.json()["error"]["details"][0]["field"] == "website"
    regulator = client.post(
        "/api/v1/reports",
        json={"reporter_kind": "stranger", "institution_id": 10_000, "narrative": NARRATIVE},
    )
    assert regulator.json()["error"]["details"][0]["field"] == "institution_id"
    assert count(db, Complaint) == 0


def test_the_registry_search_finds_institutions_but_not_the_regulator(
    client: TestClient, desk: Desk
) -> None:
    found = client.get("/api/v1/reports/institutions", params={"q": "消费"}).json()
    assert [i["name"] for i in found] == [desk.lender.name]
    names = {i["name"] for i in client.get("/api/v1/reports/institutions").json()}
    assert "监管局" not in names
    assert client.get("/api/v1/reports/institutions", params={"q": "%"}).json() == []


def test_a_report_about_an_institution_named_by_hand_keeps_the_name(
    db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    typed = report(db, store, config, None, institution_name=desk.lender.name)
    assert typed.complaint.institution_id == desk.lender.id
    unknown = report(db, store, config, None, institution_name="某某网贷")
    assert unknown.complaint.institution_id is None
    assert unknown.complaint.institution_text == "某某网贷"


def test_invalid_is_raised_for_an_anonymous_report_with_a_name(
    db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    with pytest.raises(Invalid) as info:
        report(db, store, config, desk.lender, reporter_name="王小明")
    assert info.value.field == "reporter_name"
