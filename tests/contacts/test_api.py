"""The gate's JSON API and the public shield: decisions are answers (200), bad input is 422
naming the field, numbers are masked, and the one-time code travels through the outbox."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairdun.audit.models import AuditRecord
from fairdun.contacts.models import (
    ContactParty,
    ContactPoint,
    ShieldedNumber,
    ShieldVerification,
)
from fairdun.identity.models import Role
from fairdun.outbox.models import OutboxMessage
from tests.conftest import FakeClock
from tests.contacts.conftest import MORNING, Book
from tests.factories import make_party, make_token


def _bearer(db: Session, book: Book, role: Role = Role.COLLECTOR) -> dict[str, str]:
    _token, raw = make_token(db, institution=book.lender, role=role)
    db.commit()
    return {"Authorization": f"Bearer {raw}"}


def _propose(client: TestClient, headers: dict[str, str], book: Book, **fields: object):  # type: ignore[no-untyped-def]
    body = {
        "loan_id": book.loan.id,
        "party_id": book.debtor,
        "point_id": book.debtor_phone,
        "channel": "call",
        **fields,
    }
    return client.post("/api/v1/contacts/authorize", json=body, headers=headers)


def test_allowed_then_outcome_then_denied_at_night(
    client: TestClient, db: Session, book: Book, clock: FakeClock
) -> None:
    clock.now = MORNING
    headers = _bearer(db, book)
    allowed = _propose(client, headers, book)
    assert allowed.status_code == 200, allowed.text
    body = allowed.json()
    assert body["allowed"] is True
    assert body["pack"] == "cn"
    assert body["pack_version"] == "2026.1"
    token = body["reservation"]
    outcome = client.post(
        f"/api/v1/contacts/{token}/outcome", json={"outcome": "conversation"}, headers=headers
    )
    assert outcome.status_code == 200, outcome.text
    assert outcome.json()["outcome"] == "conversation"
    again = client.post(
        f"/api/v1/contacts/{token}/outcome", json={"outcome": "no_answer"}, headers=headers
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    clock.advance(hours=13, minutes=30)  # 23:30 in Shanghai
    denied = _propose(client, headers, book)
    assert denied.status_code == 200
    body = denied.json()
    assert body["allowed"] is False
    assert body["rules"] == ["cn.time-window"]
    assert body["violations"][0]["message_zh"]
    assert body["earliest_lawful_local"] == "2026-12-02 08:00 Asia/Shanghai"


def test_bad_input_is_422_naming_the_field_and_changes_nothing(
    client: TestClient, db: Session, book: Book, clock: FakeClock
) -> None:
    clock.now = MORNING
    headers = _bearer(db, book)
    audits = db.scalar(select(func.count()).select_from(AuditRecord))
    bad_purpose = _propose(client, headers, book, purpose="intimidate")
    assert bad_purpose.status_code == 422
    assert bad_purpose.json()["error"]["details"][0]["field"] == "purpose"
    phone_book = client.post(
        f"/api/v1/loans/{book.loan.id}/parties",
        json={
            "role": "contact_person",
            "name": "王五",
            "lawful_basis": "consent",
            "basis_date": "2026-01-10",
            "point": {"kind": "phone", "value": "13800000000", "source": "device_address_book"},
        },
        headers=headers,
    )
    assert phone_book.status_code == 422
    detail = phone_book.json()["error"]["details"][0]
    assert detail["field"] == "point.source"
    assert "通讯录" in detail["message"]
    a_list = client.post(
        f"/api/v1/loans/{book.loan.id}/parties",
        json=[{"role": "contact_person", "name": f"联系人{n}"} for n in range(50)],
        headers=headers,
    )
    assert a_list.status_code == 422
    contacts_field = client.post(
        f"/api/v1/loans/{book.loan.id}/parties",
        json={"role": "guarantor", "name": "钱七", "contract_reference": "G-1", "contacts": []},
        headers=headers,
    )
    assert contacts_field.status_code == 422
    assert contacts_field.json()["error"]["details"][0]["field"] == "contacts"
    no_basis = client.post(
        f"/api/v1/loans/{book.loan.id}/parties",
        json={"role": "contact_person", "name": "王五"},
        headers=headers,
    )
    assert no_basis.status_code == 422
    fields = {d["field"] for d in no_basis.json()["error"]["details"]}
    assert fields == {"lawful_basis", "basis_date"}
    no_contract = client.post(
        f"/api/v1/loans/{book.loan.id}/parties",
        json={"role": "guarantor", "name": "钱七"},
        headers=headers,
    )
    assert no_contract.json()["error"]["details"][0]["field"] == "contract_reference"
    bad_zone = client.post(
        f"/api/v1/parties/{book.debtor}/points",
        json={
            "kind": "phone",
            "value": "13800000001",
            "source": "borrower_provided",
            "timezone": "Asia/Peking",
        },
        headers=headers,
    )
    assert bad_zone.status_code == 422
    assert bad_zone.json()["error"]["details"][0]["field"] == "timezone"
    assert db.scalar(select(func.count()).select_from(AuditRecord)) == audits
    assert db.scalar(select(func.count()).select_from(ContactParty)) == 1


def test_parties_list_masks_numbers_and_a_contact_person_keeps_its_basis(
    client: TestClient, db: Session, book: Book, clock: FakeClock
) -> None:
    clock.now = MORNING
    headers = _bearer(db, book)
    added = client.post(
        f"/api/v1/loans/{book.loan.id}/parties",
        json={
            "role": "contact_person",
            "name": "王五",
            "lawful_basis": "consent",
            "basis_date": "2026-01-10",
            "point": {"kind": "phone", "value": "138 0000 1234", "source": "borrower_provided"},
        },
        headers=headers,
    )
    assert added.status_code == 201, added.text
    listed = client.get(f"/api/v1/loans/{book.loan.id}/parties", headers=headers)
    assert listed.status_code == 200
    text = listed.text
    assert "13800001234" not in text
    assert "13900000000" not in text
    [debtor, person] = listed.json()
    assert debtor["role"] == "debtor"
    assert debtor["points"][0]["source"] == "loan_contract"
    assert person["lawful_basis"] == "consent"
    assert person["designated_by"] == "borrower"
    assert person["points"][0]["masked"] == "+86*******1234"
    assert person["points"][0]["timezone"] == "Asia/Shanghai"


def _code(db: Session) -> str:
    db.expire_all()
    message = db.scalar(select(OutboxMessage).order_by(OutboxMessage.id.desc()))
    assert message is not None
    assert message.kind == "shield.code"
    assert message.status == "queued"
    digits = [w for w in message.body.replace("，", " ").replace(":", " ").split() if w.isdigit()]
    return digits[0]


def test_a_shielded_number_is_never_contacted_about_someone_elses_debt(
    client: TestClient, db: Session, book: Book, clock: FakeClock
) -> None:
    clock.now = MORNING
    person = make_party(db, book.loan, name="路人甲", phone="+86 100 5555 0000")
    db.commit()
    requested = client.post("/api/v1/shield/request", json={"phone": "100 5555 0000"})
    assert requested.status_code == 200, requested.text
    verification = requested.json()["verification"]
    code = _code(db)
    stored = db.scalar(select(ShieldVerification))
    assert stored is not None
    assert code not in stored.code_hash
    wrong = "000000" if code != "000000" else "111111"
    bad = client.post("/api/v1/shield/verify", json={"verification": verification, "code": wrong})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "code"
    db.expire_all()
    assert db.scalar(select(ShieldVerification.attempts)) == 1  # counted despite the error
    good = client.post("/api/v1/shield/verify", json={"verification": verification, "code": code})
    assert good.status_code == 200, good.text
    assert good.json()["shielded"] is True
    [shield] = db.scalars(select(ShieldedNumber)).all()
    assert "10055550000" not in shield.number_hash
    headers = _bearer(db, book)
    point = db.scalar(select(ContactParty.id).where(ContactParty.id == person))

    point = db.scalar(select(ContactPoint.id).where(ContactPoint.party_id == person))
    denied = _propose(client, headers, book, party_id=person, point_id=point, purpose="locate")
    assert "fairdun.third-party-shield" in denied.json()["rules"]


def test_the_shield_does_not_protect_a_debtor_from_their_own_debt(
    client: TestClient, db: Session, book: Book, clock: FakeClock
) -> None:
    clock.now = MORNING
    requested = client.post("/api/v1/shield/request", json={"phone": "+86 139 0000 0000"})
    verification = requested.json()["verification"]
    verified = client.post(
        "/api/v1/shield/verify", json={"verification": verification, "code": _code(db)}
    )
    assert verified.status_code == 200
    allowed = _propose(client, _bearer(db, book), book)
    assert allowed.json()["allowed"] is True, allowed.json()


def test_wrong_codes_and_repeated_requests_are_throttled(
    client: TestClient, db: Session, clock: FakeClock
) -> None:
    clock.now = MORNING
    first = client.post("/api/v1/shield/request", json={"phone": "+86 100 7777 0000"})
    verification = first.json()["verification"]
    code = _code(db)
    wrong = "000000" if code != "000000" else "111111"
    answers = [
        client.post("/api/v1/shield/verify", json={"verification": verification, "code": wrong})
        for _ in range(6)
    ]
    assert [a.status_code for a in answers] == [422] * 5 + [429]
    right_too_late = client.post(
        "/api/v1/shield/verify", json={"verification": verification, "code": code}
    )
    assert right_too_late.status_code == 429
    for _ in range(2):
        assert (
            client.post("/api/v1/shield/request", json={"phone": "+86 100 7777 0000"}).status_code
            == 200
        )
    fourth = client.post("/api/v1/shield/request", json={"phone": "+86 100 7777 0000"})
    assert fourth.status_code == 429
    assert fourth.headers["Retry-After"] == "3600"
    clock.advance(hours=1, minutes=1)
    assert (
        client.post("/api/v1/shield/request", json={"phone": "+86 100 7777 0000"}).status_code
        == 200
    )
    expired = client.post("/api/v1/shield/request", json={"phone": "+86 100 8888 0000"})
    code = _code(db)
    clock.advance(minutes=11)
    late = client.post(
        "/api/v1/shield/verify",
        json={"verification": expired.json()["verification"], "code": code},
    )
    assert late.status_code == 422
    assert "expired" in late.json()["error"]["message"]
