"""The loan's contacts page: a collector proposes contacts and sees why one was denied; the
public shield page works without logging in."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairdun.contacts.models import ContactParty, ContactPoint, ShieldedNumber
from fairdun.identity.models import Role
from fairdun.outbox.models import OutboxMessage
from tests.conftest import FakeClock
from tests.contacts.conftest import MORNING, Book
from tests.factories import csrf_from, login, make_party, make_user


def _collector(db: Session, book: Book) -> str:
    make_user(db, role=Role.COLLECTOR, institution=book.lender, username="page-collector")
    db.commit()
    return "page-collector"


def test_a_collector_sees_the_reason_a_contact_is_denied(
    client: TestClient, db: Session, book: Book, clock: FakeClock
) -> None:
    clock.now = MORNING
    person = make_party(db, book.loan, name="赵六", phone="+86 100 0000 0077")
    point = db.scalar(select(ContactPoint.id).where(ContactPoint.party_id == person))
    login(client, _collector(db, book))
    detail = client.get(f"/loans/{book.loan.id}")
    assert f"/loans/{book.loan.id}/contacts" in detail.text
    page = client.get(f"/loans/{book.loan.id}/contacts")
    assert page.status_code == 200
    assert "+86*******0077" in page.text
    assert "10000000077" not in page.text
    answer = client.post(
        f"/loans/{book.loan.id}/contacts/propose",
        data={
            "csrf_token": csrf_from(page.text),
            "target": f"{person}:{point}",
            "channel": "call",
            "purpose": "locate",
        },
    )
    assert answer.status_code == 200
    assert 'data-testid="decision-denied"' in answer.text
    assert "cn.contact-person-not-lost" in answer.text
    assert "债务人并未失联" in answer.text  # the reason, in Chinese by default
    allowed = client.post(
        f"/loans/{book.loan.id}/contacts/propose",
        data={
            "csrf_token": csrf_from(answer.text),
            "target": f"{book.debtor}:{book.debtor_phone}",
            "channel": "call",
            "purpose": "collect",
        },
    )
    assert 'data-testid="decision-allowed"' in allowed.text
    reservation = re.search(r'name="reservation" value="([^"]+)"', allowed.text)
    assert reservation
    recorded = client.post(
        f"/loans/{book.loan.id}/contacts/outcome",
        data={
            "csrf_token": csrf_from(allowed.text),
            "reservation": reservation.group(1),
            "outcome": "conversation",
        },
    )
    assert recorded.status_code == 200
    assert "有效通话" in recorded.text or "conversation" in recorded.text


def test_a_page_form_with_a_refused_source_changes_nothing(
    client: TestClient, db: Session, book: Book, clock: FakeClock
) -> None:
    clock.now = MORNING
    login(client, _collector(db, book))
    page = client.get(f"/loans/{book.loan.id}/contacts")
    answer = client.post(
        f"/loans/{book.loan.id}/contacts/parties",
        data={
            "csrf_token": csrf_from(page.text),
            "role": "contact_person",
            "name": "通讯录里的人",
            "phone": "13800000000",
            "source": "call_log",
            "lawful_basis": "consent",
            "basis_date": "2026-01-01",
        },
    )
    assert answer.status_code == 422
    assert "not a lawful source" in answer.text
    assert db.scalar(select(func.count()).select_from(ContactParty)) == 1  # the debtor only


def test_the_public_shield_page_sends_a_code_and_shields_the_number(
    client: TestClient, db: Session, clock: FakeClock
) -> None:
    clock.now = MORNING
    form = client.get("/shield")
    assert form.status_code == 200
    sent = client.post(
        "/shield", data={"csrf_token": csrf_from(form.text), "phone": "+86 100 4444 0000"}
    )
    assert sent.status_code == 200
    verification = re.search(r'name="verification" value="([^"]+)"', sent.text)
    assert verification
    message = db.scalar(select(OutboxMessage))
    assert message is not None
    code = re.search(r"(\d{6})", message.body)
    assert code
    no_csrf = client.post(
        "/shield/verify", data={"verification": verification.group(1), "code": code.group(1)}
    )
    assert no_csrf.status_code == 403
    done = client.post(
        "/shield/verify",
        data={
            "csrf_token": csrf_from(sent.text),
            "verification": verification.group(1),
            "code": code.group(1),
        },
    )
    assert 'data-testid="shield-done"' in done.text
    assert db.scalar(select(func.count()).select_from(ShieldedNumber)) == 1
