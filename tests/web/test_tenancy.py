"""Tenancy, proven over every route of the app.

The test enumerates ``app.routes``: a route added later is exercised automatically.
Any route with a path parameter is called by a user of institution A with the id of
a record of institution B and must answer 404 and change nothing; any list must not
leak B's records; anonymous callers get 401 (API) or a redirect to log in (pages).
A new path parameter or request body makes this test fail until it is added below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairdun.complaints import service as complaints
from fairdun.complaints.config import ComplaintConfig
from fairdun.complaints.evidence import EvidenceStore
from fairdun.complaints.models import Complaint, ComplaintEvent, ComplaintEvidence
from fairdun.complaints.schemas import ReportCreate, TriageCreate
from fairdun.contacts import service as contacts
from fairdun.contacts.models import ContactDecision, ContactLogEntry, ContactParty, ContactPoint
from fairdun.contacts.schemas import AuthorizeCreate
from fairdun.identity.models import ApiToken, Role, User
from fairdun.identity.principal import Principal
from fairdun.institutions.models import Institution, InstitutionKind, LicenceChange
from fairdun.loans import service as loans
from fairdun.loans.models import Borrower, DelinquencyPause, Loan, LoanPayment, Product
from fairdun.loans.schemas import PauseCreate, PaymentCreate
from fairdun.messaging import service as templates
from fairdun.messaging.models import MessageTemplate
from fairdun.messaging.schemas import TemplateCreate
from fairdun.risk import lists as risk_lists
from fairdun.risk.models import CreditDecision, CreditLine, ListAppeal, ListEntry, RiskScore
from fairdun.web.routes import all_routes
from tests.factories import (
    TODAY,
    collector_of,
    csrf_from,
    debtor_party_ids,
    lender_admin,
    login,
    make_borrower,
    make_institution,
    make_loan,
    make_product,
    make_token,
    make_user,
)

SECRET_B = "乙方银行-TENANT-B-MARKER"

# Routes anyone may call, logged in or not.
PUBLIC = {
    ("GET", "/api/health"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/lang"),
    ("GET", "/api/docs"),
    ("GET", "/api/docs/oauth2-redirect"),
    ("GET", "/api/openapi.json"),
    # The third-party shield: anyone may shield their own number.
    ("GET", "/shield"),
    ("POST", "/shield"),
    ("POST", "/shield/verify"),
    ("POST", "/api/v1/shield/request"),
    ("POST", "/api/v1/shield/verify"),
    # The reporting platform: anyone may report, and follow a case with its receipt.
    ("GET", "/report"),
    ("POST", "/report"),
    ("GET", "/report/track"),
    ("POST", "/report/track"),
    ("GET", "/report/case"),
    ("POST", "/report/case/evidence"),
    ("POST", "/report/case/answer"),
    ("POST", "/report/case/feedback"),
    ("POST", "/api/v1/reports"),
    ("GET", "/api/v1/reports/institutions"),
    ("GET", "/api/v1/reports/case"),
    ("POST", "/api/v1/reports/case/evidence"),
    ("POST", "/api/v1/reports/case/answers"),
    ("POST", "/api/v1/reports/case/feedback"),
    # Public statistics and the borrower education pages.
    ("GET", "/stats"),
    ("GET", "/learn"),
    ("GET", "/learn/check"),
    ("GET", "/learn/cost"),
    # Delivery receipts from the SMS provider: signed with the shared secret, not a login.
    ("POST", "/api/v1/outbox/receipts"),
}

# A valid request body per route, so that validation passes and tenancy is what decides.
JSON_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/institutions"): {
        "name": "Newco",
        "credit_code": "91110000100000099P",
        "kind": "bank",
        "licence_number": "X",
    },
    ("POST", "/api/institutions/{institution_id}/licence"): {"status": "suspended", "reason": "x"},
    ("POST", "/api/institutions/{institution_id}/engagements"): {
        "agency_id": 0,
        "contract_ref": "C-1",
        "start_date": "2026-01-01",
    },
    ("POST", "/api/users"): {
        "username": "intruder",
        "display_name": "I",
        "role": "collector",
        "password": "long-enough-pw",
        "institution_id": "<B>",
    },
    ("POST", "/api/tokens"): {"name": "intruder", "role": "collector", "institution_id": "<B>"},
    ("POST", "/api/tokens/{token_id}/revoke"): {},
    ("POST", "/api/products"): {"code": "intruder", "name": "I", "institution_id": "<B>"},
    ("POST", "/api/borrowers"): {"external_id": "intruder", "name": "I", "institution_id": "<B>"},
    ("POST", "/api/loans"): {
        "external_id": "intruder",
        "borrower_id": 0,
        "product_id": 0,
        "principal": 100_000,
        "annual_rate": "0.1",
        "term_months": 3,
        "start_date": "2026-01-01",
        "method": "equal_instalment",
    },
    ("POST", "/api/loans/{loan_id}/payments"): {"paid_date": "2026-06-01", "amount": 100},
    ("POST", "/api/loans/{loan_id}/payments/{payment_id}/reverse"): {"reason": "x"},
    ("POST", "/api/loans/{loan_id}/pauses"): {"start_date": "2026-06-01", "reason": "hardship"},
    ("POST", "/api/loans/{loan_id}/pauses/{pause_id}/end"): {"end_date": "2026-09-01"},
    ("POST", "/api/loans/{loan_id}/charge-off"): {"charged_off_date": "2026-06-01", "reason": "x"},
    ("POST", "/api/v1/contacts/authorize"): {"loan_id": "<B>", "channel": "call"},
    ("POST", "/api/v1/contacts/{reservation}/outcome"): {"outcome": "no_answer"},
    ("POST", "/api/v1/loans/{loan_id}/account-events"): {"kind": "cease_request"},
    ("POST", "/api/v1/loans/{loan_id}/parties"): {
        "role": "guarantor",
        "name": "I",
        "contract_reference": "G-1",
    },
    ("POST", "/api/v1/content/check"): {"text": "您好，请按时还款。"},
    ("POST", "/api/v1/templates"): {
        "key": "intruder",
        "channel": "sms",
        "lang": "zh",
        "body": "您好，请按时还款。",
        "institution_id": "<B>",
    },
    ("POST", "/api/v1/templates/{template_id}/check"): {},
    ("POST", "/api/v1/templates/{template_id}/activate"): {},
    ("POST", "/api/v1/parties/{party_id}/points"): {
        "kind": "phone",
        "value": "13800000000",
        "source": "borrower_provided",
    },
    ("POST", "/api/v1/complaints/{complaint_id}/triage"): {"categories": [], "forward": True},
    ("POST", "/api/v1/complaints/{complaint_id}/forward"): {},
    ("POST", "/api/v1/complaints/{complaint_id}/response"): {
        "outcome": "remedy",
        "text": "intruder answer text",
    },
    ("POST", "/api/v1/complaints/{complaint_id}/complexity"): {
        "complexity": "complex",
        "reason": "intruder",
    },
    ("POST", "/api/v1/complaints/{complaint_id}/questions"): {"text": "intruder?"},
    ("POST", "/api/v1/complaints/{complaint_id}/escalate"): {},
    ("POST", "/api/v1/complaints/{complaint_id}/close"): {},
}
FORM_BODIES: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/institutions"): {
        "name": "Newco",
        "credit_code": "91110000100000099P",
        "kind": "bank",
        "licence_number": "X",
    },
    ("POST", "/institutions/{institution_id}/licence"): {"status": "suspended", "reason": "x"},
    ("POST", "/users"): {
        "username": "intruder2",
        "display_name": "I",
        "role": "collector",
        "password": "long-enough-pw",
    },
    ("POST", "/tokens"): {"name": "intruder", "role": "collector"},
    ("POST", "/tokens/{token_id}/revoke"): {},
    ("POST", "/logout"): {},
    ("POST", "/loans/{loan_id}/contacts/propose"): {"target": "", "channel": "call"},
    ("POST", "/loans/{loan_id}/contacts/outcome"): {"reservation": "x", "outcome": "no_answer"},
    ("POST", "/templates/check"): {"text": "您好，请按时还款。"},
    ("POST", "/templates"): {"key": "intruder", "channel": "sms", "lang": "zh", "body": "您好"},
    ("POST", "/templates/{template_id}/activate"): {},
    ("POST", "/loans/{loan_id}/contacts/events"): {"kind": "cease_request"},
    ("POST", "/loans/{loan_id}/contacts/parties"): {
        "role": "guarantor",
        "name": "I",
        "phone": "13800000000",
        "source": "borrower_provided",
        "contract_reference": "G-1",
    },
    ("POST", "/complaints/{complaint_id}/triage"): {"forward": "1"},
    ("POST", "/complaints/{complaint_id}/forward"): {},
    ("POST", "/complaints/{complaint_id}/respond"): {
        "outcome": "remedy",
        "text": "intruder answer text",
    },
    ("POST", "/complaints/{complaint_id}/complexity"): {
        "complexity": "complex",
        "reason": "intruder",
    },
    ("POST", "/complaints/{complaint_id}/question"): {"text": "intruder?"},
    ("POST", "/complaints/{complaint_id}/escalate"): {},
    ("POST", "/complaints/{complaint_id}/close"): {},
    ("POST", "/risk/lists"): {
        "borrower": "B-SECRET-BORROWER",
        "kind": "black",
        "reason": "intruder",
        "effective_date": "2026-06-01",
    },
    ("POST", "/risk/lists/{entry_id}/approve"): {},
    ("POST", "/risk/lists/{entry_id}/reject"): {"note": "intruder"},
    ("POST", "/risk/lists/{entry_id}/revoke"): {"note": "intruder"},
    ("POST", "/risk/appeals/{appeal_id}/decide"): {"upheld": "1", "note": "intruder"},
    ("POST", "/risk/mine/appeal"): {"entry_id": "<B>", "text": "intruder appeal text"},
}
# Routes that end the caller's own session; run last so the others keep a session.
RUN_LAST = {("POST", "/logout")}


@dataclass
class World:
    a: Institution
    b: Institution
    b_user: User
    b_token: ApiToken
    agency: Institution
    b_loan: Loan
    b_payment: LoanPayment
    b_pause: DelinquencyPause
    b_borrower: Borrower
    b_product: Product
    b_party: int
    b_reservation: str
    b_template: int
    b_complaint: int
    b_evidence: int
    b_entry: int
    b_appeal: int


@pytest.fixture
def world(db: Session, tmp_path: Path) -> World:
    a = make_institution(db, name="甲方银行")
    b = make_institution(db, name=SECRET_B)
    agency = make_institution(db, name="丙方催收", kind=InstitutionKind.COLLECTION_AGENCY)
    b_user = make_user(db, role=Role.COLLECTOR, institution=b, username="b-secret-user")
    b_token, _ = make_token(db, institution=b)
    for role in (
        Role.INSTITUTION_ADMIN,
        Role.COMPLIANCE_OFFICER,
        Role.COLLECTOR,
        Role.RISK_ANALYST,
        Role.BORROWER,
    ):
        make_user(db, role=role, institution=a, username=f"a-{role.value}")
    make_user(db, role=Role.AGENCY_COLLECTOR, institution=agency, username="a-agency_collector")
    # Institution A's own book, so every role has something of its own to see.
    a_borrower_user = db.scalar(select(User).where(User.username == "a-borrower"))
    make_loan(db, a, borrower=make_borrower(db, a, user=a_borrower_user), external_id="A-LOAN")
    # Institution B's book: a product, a borrower, a loan with a payment and a pause.
    b_product = make_product(db, b, code="b-secret-product")
    b_borrower = make_borrower(db, b, external_id="B-SECRET-BORROWER", name=SECRET_B)
    b_loan = make_loan(
        db,
        b,
        borrower=b_borrower,
        product=b_product,
        external_id="B-SECRET-LOAN",
        start_date=date(2026, 1, 10),
    )
    b_admin = lender_admin(b)
    b_payment = loans.record_payment(
        db,
        b_admin,
        b_loan.id,
        PaymentCreate(paid_date=date(2026, 2, 10), amount=50_000),
        today=TODAY,
    )
    b_pause = loans.pause_delinquency(
        db,
        b_admin,
        b_loan.id,
        PauseCreate(start_date=date(2026, 3, 1), reason="hardship"),
        today=TODAY,
    )
    # A's agency is engaged by B and holds B's loan: A's lender staff still must not see it.
    b_loan.placed_agency_id = None
    # B's contact parties and a reservation its collector made through the gate.
    b_party, b_phone = debtor_party_ids(db, b_loan)
    b_contact = contacts.authorize(
        db,
        collector_of(b),
        AuthorizeCreate(loan_id=b_loan.id, party_id=b_party, point_id=b_phone, channel="call"),
        datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
    )
    assert b_contact.reservation is not None
    b_template = templates.create(
        db,
        lender_admin(b),
        TemplateCreate(key="b-secret-template", channel="sms", lang="zh", body=SECRET_B),
        datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
    )
    # A report about B, forwarded to B, with an evidence file: only B and the regulator see it.
    b_receipt = complaints.submit(
        db,
        ReportCreate(
            reporter_kind="stranger",  # type: ignore[arg-type]
            institution_id=b.id,
            narrative=f"{SECRET_B} 的催收员每天打电话骚扰我。",
        ),
        [],
        requester="198.51.100.9",
        now=datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
        config=ComplaintConfig(evidence_dir=tmp_path),
        store=EvidenceStore(tmp_path),
    )
    b_complaint = b_receipt.complaint
    complaints.triage(
        db,
        Principal(role=Role.REGULATOR, institution_id=None, name="regulator"),
        b_complaint.id,
        TriageCreate(forward=True),
        datetime(2026, 12, 1, 3, 0, tzinfo=UTC),
        ComplaintConfig(evidence_dir=tmp_path),
    )
    b_evidence = ComplaintEvidence(
        complaint_id=b_complaint.id,
        storage_name="0" * 32,
        original_name=SECRET_B,
        kind="text",
        content_type="text/plain; charset=utf-8",
        size_bytes=1,
        sha256="0" * 64,
        created_at=datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
    )
    db.add(b_evidence)
    # B's risk records: a score of B's loan, a pending manual list entry with an appeal.
    db.add(
        RiskScore(
            institution_id=b.id,
            loan_id=b_loan.id,
            borrower_id=b_borrower.id,
            as_of=TODAY,
            model_id="b-secret-model@1",
            model_sha256="0" * 64,
            probability=0.9,
            exposure=100_000,
            expected_loss=90_000,
        )
    )
    b_entry = risk_lists.add_entry(
        db,
        actor="user:b-maker",
        institution_id=b.id,
        borrower_id=b_borrower.id,
        kind="grey",
        source="manual",
        reason=SECRET_B,
        effective_date=TODAY,
    )
    b_appeal = risk_lists.open_appeal(
        db,
        actor="user:b-borrower",
        institution_id=b.id,
        borrower_id=b_borrower.id,
        entry_id=b_entry.id,
        text=f"{SECRET_B} appeal text",
        today=TODAY,
    )
    db.flush()
    db.commit()
    return World(
        a,
        b,
        b_user,
        b_token,
        agency,
        b_loan,
        b_payment,
        b_pause,
        b_borrower,
        b_product,
        b_party,
        str(b_contact.reservation.reservation),
        b_template.id,
        b_complaint.id,
        b_evidence.id,
        b_entry.id,
        b_appeal.id,
    )


def fill(path: str, world: World) -> str:
    ids = {
        "institution_id": world.b.id,
        "user_id": world.b_user.id,
        "token_id": world.b_token.id,
        "loan_id": world.b_loan.id,
        "payment_id": world.b_payment.id,
        "pause_id": world.b_pause.id,
        "borrower_id": world.b_borrower.id,
        "product_id": world.b_product.id,
        "party_id": world.b_party,
        "reservation": world.b_reservation,
        "template_id": world.b_template,
        "complaint_id": world.b_complaint,
        "evidence_id": world.b_evidence,
        "entry_id": world.b_entry,
        "appeal_id": world.b_appeal,
    }
    for name in re.findall(r"{(\w+)}", path):
        assert name in ids, (
            f"route {path} has path parameter {name!r}: add a record of institution B for it "
            "to the tenancy test, so cross-tenant access is checked"
        )
        path = path.replace("{" + name + "}", str(ids[name]))
    return path


def snapshot(db: Session, world: World) -> tuple[Any, ...]:
    db.expire_all()
    b = db.get(Institution, world.b.id)
    token = db.get(ApiToken, world.b_token.id)
    assert b is not None and token is not None
    loan = db.get(Loan, world.b_loan.id)
    assert loan is not None
    return (
        b.licence_status,
        b.name,
        token.revoked_at,
        loan.days_past_due,
        loan.status,
        loan.charged_off_date,
        loan.paused,
        db.scalar(
            select(func.count()).select_from(LoanPayment).where(LoanPayment.loan_id == loan.id)
        ),
        db.scalar(
            select(func.count())
            .select_from(DelinquencyPause)
            .where(DelinquencyPause.loan_id == loan.id)
        ),
        db.scalar(select(func.count()).select_from(Loan).where(Loan.institution_id == world.b.id)),
        db.scalar(
            select(func.count()).select_from(Product).where(Product.institution_id == world.b.id)
        ),
        db.scalar(
            select(func.count()).select_from(Borrower).where(Borrower.institution_id == world.b.id)
        ),
        db.scalar(select(func.count()).select_from(User).where(User.institution_id == world.b.id)),
        db.scalar(
            select(func.count()).select_from(ApiToken).where(ApiToken.institution_id == world.b.id)
        ),
        db.scalar(
            select(func.count())
            .select_from(LicenceChange)
            .where(LicenceChange.institution_id == world.b.id)
        ),
        *(
            db.scalar(select(func.count()).select_from(t).where(t.institution_id == world.b.id))
            for t in (ContactParty, ContactPoint, ContactLogEntry, ContactDecision)
        ),
        db.scalar(select(ContactLogEntry.outcome).where(ContactLogEntry.loan_id == loan.id)),
        db.scalar(
            select(func.count())
            .select_from(MessageTemplate)
            .where(MessageTemplate.institution_id == world.b.id)
        ),
        db.scalar(select(MessageTemplate.status).where(MessageTemplate.id == world.b_template)),
        db.scalar(select(Complaint.status).where(Complaint.id == world.b_complaint)),
        db.scalar(select(Complaint.complexity).where(Complaint.id == world.b_complaint)),
        db.scalar(select(Complaint.response_text).where(Complaint.id == world.b_complaint)),
        db.scalar(
            select(func.count())
            .select_from(ComplaintEvent)
            .where(ComplaintEvent.complaint_id == world.b_complaint)
        ),
        db.scalar(
            select(func.count())
            .select_from(ComplaintEvidence)
            .where(ComplaintEvidence.complaint_id == world.b_complaint)
        ),
        *(
            db.scalar(select(func.count()).select_from(t).where(t.institution_id == world.b.id))
            for t in (ListEntry, ListAppeal, CreditLine, CreditDecision, RiskScore)
        ),
        db.scalar(select(ListEntry.status).where(ListEntry.id == world.b_entry)),
        db.scalar(select(ListAppeal.status).where(ListAppeal.id == world.b_appeal)),
    )


def call(client: TestClient, method: str, template: str, world: World, csrf: str) -> Any:
    url = fill(template, world)
    key = (method, template)
    if template.startswith("/api"):
        headers = {"X-CSRF-Token": csrf}
        if method == "GET":
            return client.get(url, headers=headers, follow_redirects=False)
        assert key in JSON_BODIES, f"{method} {template}: add a valid JSON body to JSON_BODIES"
        body = dict(JSON_BODIES[key])
        # Bodies that can name an institution name B's: the server must ignore or refuse it.
        if body.get("institution_id") == "<B>":
            body["institution_id"] = world.b.id
        if "agency_id" in body:
            body["agency_id"] = world.agency.id
        if body.get("loan_id") == "<B>":
            body["loan_id"] = world.b_loan.id
        if "borrower_id" in body:
            body["borrower_id"] = world.b_borrower.id
            body["product_id"] = world.b_product.id
        return client.request(method, url, json=body, headers=headers, follow_redirects=False)
    if method == "GET":
        return client.get(url, follow_redirects=False)
    assert key in FORM_BODIES, f"{method} {template}: add a valid form body to FORM_BODIES"
    form = {**FORM_BODIES[key], "csrf_token": csrf}
    if form.get("entry_id") == "<B>":
        form["entry_id"] = str(world.b_entry)
    if "institution_id" not in template:
        form["institution_id"] = str(world.b.id)
    return client.request(method, url, data=form, follow_redirects=False)


ROLES = [
    "a-institution_admin",
    "a-compliance_officer",
    "a-collector",
    "a-risk_analyst",
    "a-borrower",
    "a-agency_collector",
]


@pytest.mark.parametrize("username", ROLES)
def test_no_route_reaches_another_institutions_records(
    username: str, app: FastAPI, client: TestClient, db: Session, world: World
) -> None:
    login(client, username)
    csrf = csrf_from(client.get("/").text)
    before = snapshot(db, world)
    routes = sorted(
        (r for r in all_routes(app) if r not in PUBLIC), key=lambda r: (r in RUN_LAST, r[1], r[0])
    )
    assert len(routes) >= 20, "route enumeration found too few routes"
    for method, template in routes:
        response = call(client, method, template, world, csrf)
        where = f"{username} {method} {template} -> {response.status_code}"
        if "{" in template:
            assert response.status_code == 404, where
        else:
            assert response.status_code in (200, 201, 303, 403, 404, 409, 422), where
            assert SECRET_B not in response.text, f"{where}: leaks institution B's name"
            assert "b-secret-user" not in response.text, f"{where}: leaks institution B's user"
            assert world.b_token.prefix not in response.text, (
                f"{where}: leaks institution B's token"
            )
            for marker in (
                "B-SECRET-LOAN",
                "B-SECRET-BORROWER",
                "b-secret-product",
                "b-secret-template",
                "b-secret-model",
            ):
                assert marker not in response.text, f"{where}: leaks institution B's {marker}"
        assert snapshot(db, world) == before, f"{where}: changed institution B's records"


def test_every_non_public_route_requires_login(
    app: FastAPI, client: TestClient, world: World
) -> None:
    for method, template in all_routes(app):
        if (method, template) in PUBLIC:
            continue
        response = client.request(method, fill(template, world), follow_redirects=False)
        where = f"anonymous {method} {template} -> {response.status_code}"
        if template.startswith("/api"):
            assert response.status_code == 401, where
            assert response.json()["error"]["code"] == "unauthenticated", where
        else:
            assert response.status_code == 303, where
            assert response.headers["location"].startswith("/login"), where


def test_api_token_of_institution_a_cannot_reach_b(
    app: FastAPI, client: TestClient, db: Session, world: World
) -> None:
    _token, raw = make_token(db, institution=world.a, role=Role.INSTITUTION_ADMIN)
    db.commit()
    headers = {"Authorization": f"Bearer {raw}"}
    for method, template in all_routes(app):
        if not template.startswith("/api") or (method, template) in PUBLIC:
            continue
        url = fill(template, world)
        body = JSON_BODIES.get((method, template))
        response = client.request(method, url, json=body, headers=headers)
        where = f"token {method} {template} -> {response.status_code}"
        if "{" in template:
            assert response.status_code == 404, where
        assert SECRET_B not in response.text, where


def test_regulator_sees_every_institution(client: TestClient, db: Session, world: World) -> None:
    reg_inst = make_institution(db, name="监管", kind=InstitutionKind.REGULATOR)
    make_user(db, role=Role.REGULATOR, institution=reg_inst, username="reg")
    db.commit()
    login(client, "reg")
    names = {i["name"] for i in client.get("/api/institutions").json()}
    assert {SECRET_B, "甲方银行"} <= names
    assert client.get(f"/institutions/{world.b.id}").status_code == 200
