"""The regulator's dashboard: figures per institution, the score on a hand-computed case,
the charts as script-free SVG, the CSV export, and tenancy (an institution sees only its
own figures)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from fairdun.complaints import service, stats
from fairdun.complaints.config import ComplaintConfig
from fairdun.complaints.evidence import EvidenceStore
from fairdun.complaints.schemas import ResponseCreate, TriageCreate
from fairdun.contacts.models import ContactDecision
from fairdun.identity.models import Role
from fairdun.institutions.models import Institution
from fairdun.loans.models import Loan
from tests.complaints.conftest import NOW, Desk, report
from tests.conftest import FakeClock
from tests.factories import login, make_loan, make_user

CHARTS = ("by-month", "by-category", "by-institution", "by-region")


def _decision(db: Session, inst: Institution, loan: Loan, allowed: bool, rules: str) -> None:
    db.add(
        ContactDecision(
            institution_id=inst.id,
            collector_institution_id=inst.id,
            loan_id=loan.id,
            allowed=allowed,
            rules=rules,
            actor="test",
            decided_at=NOW,
        )
    )


def _arrange(db: Session, store: EvidenceStore, config: ComplaintConfig, desk: Desk) -> None:
    """The lender: 4 reports (3 forwarded), 2 loans, 4 gate decisions of which 1 denied.
    Of the forwarded: one answered in time with a remedy, one answered late with an
    explanation, one unanswered past its deadline. The other lender: 1 forwarded report
    and a denial of its own. One report names an institution not in the registry."""
    cases = []
    for i in range(4):
        r = report(db, store, config, desk.lender, requester=f"203.0.113.{i}")
        cases.append(r.complaint.id)
    other = report(db, store, config, desk.other, requester="203.0.113.50").complaint.id
    report(db, store, config, None, requester="203.0.113.51", institution_name="某网贷APP")
    for cid in [*cases[:3], other]:
        service.triage(db, desk.regulator, cid, TriageCreate(forward=True), NOW, config)
    service.triage(db, desk.regulator, cases[3], TriageCreate(), NOW, config)
    service.respond(
        db,
        desk.staff,
        cases[0],
        ResponseCreate.model_validate({"outcome": "remedy", "text": "我们已停止该催收员的工作。"}),
        NOW + timedelta(days=1),
    )
    service.respond(
        db,
        desk.staff,
        cases[1],
        ResponseCreate.model_validate({"outcome": "explanation", "text": "经核查，催收合规。"}),
        NOW + timedelta(days=20),
    )
    loans = [make_loan(db, desk.lender, external_id=f"L-{i}") for i in range(2)]
    other_loan = make_loan(db, desk.other, external_id="O-1")
    _decision(db, desk.lender, loans[0], True, "")
    _decision(db, desk.lender, loans[0], True, "")
    _decision(db, desk.lender, loans[1], True, "")
    _decision(db, desk.lender, loans[1], False, "cn.time-window")
    _decision(db, desk.other, other_loan, False, "us-regf.cease")
    db.commit()


def test_the_regulator_sees_every_institution_and_the_hand_computed_score(
    db: Session, store: EvidenceStore, config: ComplaintConfig, desk: Desk
) -> None:
    _arrange(db, store, config, desk)
    board = stats.dashboard(db, None, NOW + timedelta(days=30))
    lender = next(f for f in board.institutions if f.institution_id == desk.lender.id)
    assert (lender.complaints, lender.loans) == (4, 2)
    assert (lender.due, lender.on_time, lender.overdue_open) == (3, 1, 1)
    assert (lender.answered, lender.upheld) == (2, 1)
    assert (lender.gate_decisions, lender.gate_denials) == (4, 1)
    assert lender.region == "北京"
    # D = 1/3; V = 0 (20,000 per 10k loans); U = 1 - 1/2; G = 1 - 1/4
    # 100 × (0.4/3 + 0.3·0 + 0.2·0.5 + 0.1·0.75) = 30.83
    assert lender.score == 30.8
    assert board.total == 6
    assert board.unregistered == 1
    assert dict(board.by_institution) == {"甲消费金融": 4, "乙小贷": 1, stats.NOT_REGISTERED: 1}
    assert dict(board.denials) == {"cn.time-window": 1, "us-regf.cease": 1}
    assert board.deadline == {"on_time": 1, "late": 3}  # the other lender is overdue too
    assert dict(board.by_month)["2026-12"] == 6


def test_the_dashboard_page_shows_the_formula_charts_and_export(
    client: TestClient,
    db: Session,
    store: EvidenceStore,
    config: ComplaintConfig,
    desk: Desk,
    clock: FakeClock,
) -> None:
    _arrange(db, store, config, desk)
    clock.advance(days=30)
    login(client, "regulator")
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert 'data-testid="score-formula"' in page.text
    assert "0.4·D + 0.3·V + 0.2·U + 0.1·G" in page.text
    assert "甲消费金融" in page.text and "乙小贷" in page.text
    assert "30.8" in page.text
    for chart in CHARTS:
        assert f'src="/dashboard/{chart}.svg"' in page.text
        svg = client.get(f"/dashboard/{chart}.svg")
        assert svg.status_code == 200
        assert svg.headers["content-type"].startswith("image/svg+xml")
        assert b"<svg" in svg.content and b"<script" not in svg.content
    assert "甲消费金融".encode() in client.get("/dashboard/by-institution.svg").content
    exported = client.get("/dashboard/export.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    by_name = {r["institution"]: r for r in rows}
    assert by_name["甲消费金融"]["compliance_score"] == "30.8"
    assert by_name["甲消费金融"]["complaints"] == "4"
    assert by_name["甲消费金融"]["deadline_compliance"] == "0.3333"
    assert by_name["乙小贷"]["gate_denial_rate"] == "1.0000"


def test_an_institution_sees_only_its_own_figures(
    client: TestClient,
    db: Session,
    store: EvidenceStore,
    config: ComplaintConfig,
    desk: Desk,
    clock: FakeClock,
) -> None:
    _arrange(db, store, config, desk)
    clock.advance(days=30)
    login(client, "lender-compliance")
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert "甲消费金融" in page.text
    assert "乙小贷" not in page.text
    assert "us-regf.cease" not in page.text  # the other lender's denial
    assert "cn.time-window" in page.text
    for chart in CHARTS:
        body = client.get(f"/dashboard/{chart}.svg").content.decode()
        assert "乙小贷" not in body and "某网贷" not in body
    rows = list(csv.DictReader(io.StringIO(client.get("/dashboard/export.csv").text[1:])))
    assert [r["institution"] for r in rows] == ["甲消费金融"]
    # Only the reports forwarded to it count: 3 of the 4.
    assert rows[0]["complaints"] == "3"
    board = stats.dashboard(db, desk.other.id, clock.now)
    assert [f.name for f in board.institutions] == ["乙小贷"]
    assert board.total == 1


def test_other_roles_are_refused(client: TestClient, db: Session, desk: Desk) -> None:
    make_user(db, role=Role.COLLECTOR, institution=desk.lender, username="lender-collector")
    db.commit()
    login(client, "lender-collector")
    assert client.get("/dashboard").status_code == 403
    assert client.get("/dashboard/export.csv").status_code == 403
    assert client.get("/dashboard/by-month.svg").status_code == 403


def test_csv_cells_never_start_a_formula(
    db: Session, store: EvidenceStore, config: ComplaintConfig, desk: Desk
) -> None:
    from fairdun.complaints.dashboard import csv_text

    desk.lender.name = "=HYPERLINK(1)"
    report(db, store, config, desk.lender)
    db.commit()
    text = csv_text(stats.dashboard(db, None, NOW))
    assert "'=HYPERLINK(1)" in text
    assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text


def test_an_empty_platform_still_renders(client: TestClient, db: Session, desk: Desk) -> None:
    login(client, "regulator")
    assert client.get("/dashboard").status_code == 200
    for chart in CHARTS:
        assert client.get(f"/dashboard/{chart}.svg").status_code == 200
