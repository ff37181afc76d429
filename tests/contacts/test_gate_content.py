"""An agent's free text passes the content checker before the gate allows the contact:
findings deny it under ``fairdun.content`` with the category and the span, and nothing is
reserved; lawful text is allowed."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairdun.audit.models import AuditRecord
from fairdun.contacts.content_gate import RULE_CONTENT
from fairdun.contacts.models import ContactLogEntry
from fairdun.identity.models import Role
from tests.conftest import FakeClock
from tests.contacts.conftest import MORNING, Book, ask
from tests.factories import make_token

THREAT = "王先生，今天再不还钱，我们就把你欠款的事发给你全部通讯录，再去你单位找领导。"
LAWFUL = (
    "王先生您好，我是甲银行工号1234，关于您尾号8899的借款，请方便时回电，我们可以商量还款计划。"
)


def _reservations(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(ContactLogEntry)) or 0


def test_text_with_findings_is_denied_naming_category_and_span(db: Session, book: Book) -> None:
    result = ask(
        db, book.collector, book.loan, book.debtor, book.debtor_phone, MORNING, text=THREAT
    )
    assert not result.decision.allowed
    assert result.reservation is None
    assert _reservations(db) == 0
    assert RULE_CONTENT in {v.rule for v in result.violations}
    categories = {f.category for f in result.findings}
    assert "third-party-disclosure" in categories
    for f in result.findings:
        assert THREAT[f.start : f.end] == f.span
        assert any(f.category in v.message and f.span in v.message for v in result.violations)
    record = db.scalars(select(AuditRecord).where(AuditRecord.action == "contact.denied")).one()
    assert "third-party-disclosure" in record.details


def test_lawful_text_is_allowed(db: Session, book: Book) -> None:
    result = ask(
        db, book.collector, book.loan, book.debtor, book.debtor_phone, MORNING, text=LAWFUL
    )
    assert result.decision.allowed, [v.message for v in result.violations]
    assert result.findings == ()


def test_text_that_cannot_be_checked_is_denied_not_passed(db: Session, book: Book) -> None:
    result = ask(
        db, book.collector, book.loan, book.debtor, book.debtor_phone, MORNING, text="abc\x00"
    )
    assert not result.decision.allowed
    assert [v.rule for v in result.violations] == [RULE_CONTENT]
    assert "control character" in result.violations[0].message


def test_api_returns_the_findings(
    client: TestClient, db: Session, book: Book, clock: FakeClock
) -> None:
    clock.now = MORNING
    _token, raw = make_token(db, institution=book.lender, role=Role.COLLECTOR)
    db.commit()
    response = client.post(
        "/api/v1/contacts/authorize",
        json={
            "loan_id": book.loan.id,
            "party_id": book.debtor,
            "point_id": book.debtor_phone,
            "channel": "call",
            "text": THREAT,
        },
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["allowed"] is False
    assert RULE_CONTENT in body["rules"]
    assert {"category", "span", "start", "end", "rule", "explanation"} <= set(body["findings"][0])
