"""Message templates: a draft with content findings cannot be activated, and nothing
changes when it is refused (the refusal is audited); a clean draft activates and retires
the previous version; unknown variables are refused at creation, naming the variable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairdun.audit.models import AuditRecord
from fairdun.identity.models import Role
from fairdun.kit.errors import Forbidden, Invalid
from fairdun.messaging import service
from fairdun.messaging.models import MessageTemplate
from fairdun.messaging.schemas import TemplateCreate
from tests.factories import collector_of, lender_admin, make_institution, make_token

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
CLEAN_ZH = "{{ borrower_name }}您好，您在{{ institution }}尾号{{ loan_tail }}的借款将于{{ due_date }}到期，请按时还款。"  # noqa: E501
THREAT_ZH = "{{ borrower_name }}，再不还钱就把你的欠款发到你全部通讯录和你单位领导。"


def _draft(db: Session, lender, body: str, **fields: object) -> MessageTemplate:  # type: ignore[no-untyped-def]
    data = TemplateCreate(
        key=str(fields.pop("key", "due-reminder")), channel="sms", lang="zh", body=body, **fields
    )  # type: ignore[arg-type]
    template = service.create(db, lender_admin(lender), data, NOW)
    db.commit()
    return template


def test_a_template_with_findings_is_not_activated_and_the_refusal_is_audited(
    db: Session,
) -> None:
    lender = make_institution(db, name="星河消费金融")
    template = _draft(db, lender, THREAT_ZH)
    result = service.activate(db, lender_admin(lender), template.id, NOW)
    db.commit()
    assert not result.activated
    assert "third-party-disclosure" in {f.category for f in result.findings}
    assert all(result.rendered[f.start : f.end] == f.span for f in result.findings if f.span)
    db.expire_all()
    assert db.get(MessageTemplate, template.id).status == "draft"  # type: ignore[union-attr]
    refused = db.scalars(
        select(AuditRecord).where(AuditRecord.action == "template.activation_refused")
    ).all()
    assert [r.target for r in refused] == [f"template:{template.id}"]


def test_a_clean_template_activates_and_retires_the_previous_version(db: Session) -> None:
    lender = make_institution(db, name="星河消费金融")
    first = _draft(db, lender, CLEAN_ZH)
    assert service.activate(db, lender_admin(lender), first.id, NOW).activated
    second = _draft(db, lender, CLEAN_ZH + "如已还款请忽略。")
    assert second.version == 2
    result = service.activate(db, lender_admin(lender), second.id, NOW)
    db.commit()
    assert result.activated, result.findings
    db.expire_all()
    assert db.get(MessageTemplate, first.id).status == "retired"  # type: ignore[union-attr]
    assert db.get(MessageTemplate, second.id).status == "active"  # type: ignore[union-attr]


def test_first_contact_template_must_name_the_institution(db: Session) -> None:
    lender = make_institution(db, name="星河消费金融")
    nameless = _draft(db, lender, "您好，您的借款已到期，请及时处理。", first_contact=True)
    result = service.activate(db, lender_admin(lender), nameless.id, NOW)
    assert not result.activated
    assert [f.rule for f in result.findings] == ["cn.institution-identity"]
    named = _draft(
        db,
        lender,
        "您好，这里是{{ institution }}，您的借款已到期，请及时处理。",
        key="first",
        first_contact=True,
    )
    assert service.activate(db, lender_admin(lender), named.id, NOW).activated


def test_unknown_variables_and_bad_context_are_refused_naming_them(db: Session) -> None:
    lender = make_institution(db)
    with pytest.raises(Invalid, match="borower_name"):
        _draft(db, lender, "{{ borower_name }}您好")
    with pytest.raises(Invalid, match="does not parse"):
        _draft(db, lender, "{{ borrower_name ")
    with pytest.raises(Invalid, match="channel 'fax'"):
        service.create(
            db,
            lender_admin(lender),
            TemplateCreate(key="x", channel="fax", lang="zh", body="您好"),
            NOW,
        )
    assert db.scalars(select(MessageTemplate)).all() == []


def test_collectors_may_not_write_or_activate(db: Session) -> None:
    lender = make_institution(db)
    template = _draft(db, lender, CLEAN_ZH)
    with pytest.raises(Forbidden):
        service.create(
            db,
            collector_of(lender),
            TemplateCreate(key="x", channel="sms", lang="zh", body="您好"),
            NOW,
        )
    with pytest.raises(Forbidden):
        service.activate(db, collector_of(lender), template.id, NOW)


def test_api_activation_refused_is_409_with_findings(client: TestClient, db: Session) -> None:
    lender = make_institution(db, name="星河消费金融")
    _token, raw = make_token(db, institution=lender, role=Role.COMPLIANCE_OFFICER)
    db.commit()
    headers = {"Authorization": f"Bearer {raw}"}
    created = client.post(
        "/api/v1/templates",
        json={"key": "threat", "channel": "sms", "lang": "zh", "body": THREAT_ZH},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    template_id = created.json()["id"]
    checked = client.post(f"/api/v1/templates/{template_id}/check", headers=headers)
    assert checked.status_code == 200
    assert checked.json()["findings"]
    refused = client.post(f"/api/v1/templates/{template_id}/activate", headers=headers)
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["activated"] is False and body["status"] == "draft"
    assert {"category", "span", "rule", "explanation"} <= set(body["findings"][0])
    listed = client.get("/api/v1/templates", headers=headers).json()
    assert [t["status"] for t in listed] == ["draft"]
