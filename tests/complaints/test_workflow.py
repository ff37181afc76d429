"""The case path for each role, the whitelist enforced through the API, deadlines with
the extra time the rules allow, reminders through the outbox, and the trail every step
leaves on the timeline and in the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairdun.audit import service as audit
from fairdun.audit.models import AuditRecord
from fairdun.complaints import repository, service
from fairdun.complaints.config import ComplaintConfig
from fairdun.complaints.evidence import EvidenceStore
from fairdun.complaints.models import Complaint, ComplaintEvent
from fairdun.complaints.schemas import (
    ComplexityCreate,
    FeedbackCreate,
    NoteCreate,
    ResponseCreate,
    TextCreate,
    TriageCreate,
)
from fairdun.complaints.transitions import DeadlineState
from fairdun.kit.errors import Conflict, Forbidden, Invalid, NotFound
from fairdun.outbox.models import OutboxMessage
from tests.complaints.conftest import NOW, Desk, report
from tests.complaints.texts import GENUINE
from tests.conftest import FakeClock
from tests.factories import csrf_from, login


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


def test_the_whole_path_through_the_pages_of_each_role(
    client: TestClient,
    as_user: Any,
    db: Session,
    desk: Desk,
    store: EvidenceStore,
    config: ComplaintConfig,
    clock: FakeClock,
) -> None:
    receipt = report(db, store, config, desk.lender)
    cid = receipt.complaint.id
    # The institution cannot see a report the regulator has not forwarded.
    institution = as_user("lender-compliance")
    assert institution.get(f"/complaints/{cid}").status_code == 404
    assert f'/complaints/{cid}"' not in institution.get("/complaints").text

    regulator = as_user("regulator")
    page = regulator.get(f"/complaints/{cid}")
    assert 'data-testid="triage-form"' in page.text
    reviewed = regulator.post(
        f"/complaints/{cid}/triage",
        data={
            "csrf_token": csrf_from(page.text),
            "categories": ["frequency", "hours"],
            "forward": "1",
            "note": "模板投诉？否",
        },
        follow_redirects=False,
    )
    assert reviewed.status_code == 303

    clock.advance(days=3)
    institution = as_user("lender-compliance")  # three days later: a new session
    page = institution.get(f"/complaints/{cid}")
    assert page.status_code == 200
    assert 'data-testid="deadline-on_time"' not in page.text  # the detail page says it so:
    assert "2026-12-16" in page.text  # received 12-01, 15 days, counted from 12-02
    answered = institution.post(
        f"/complaints/{cid}/respond",
        data={
            "csrf_token": csrf_from(page.text),
            "outcome": "remedy",
            "text": "已对该催收员停职调查，并停止联系您的单位。",
        },
        follow_redirects=False,
    )
    assert answered.status_code == 303

    track = client.get("/report/track")
    case = client.post(
        "/report/track",
        data={
            "csrf_token": csrf_from(track.text),
            "code": receipt.complaint.tracking_code,
            "secret": receipt.secret,
        },
    )
    assert "已对该催收员停职调查" in case.text
    assert 'data-testid="feedback-form"' in case.text
    accepted = client.post(
        "/report/case/feedback",
        data={"csrf_token": csrf_from(case.text), "accepted": "yes", "comment": "谢谢"},
        follow_redirects=False,
    )
    assert accepted.status_code == 303

    regulator = as_user("regulator")
    page = regulator.get(f"/complaints/{cid}")
    closed = regulator.post(
        f"/complaints/{cid}/close",
        data={"csrf_token": csrf_from(page.text), "note": "已解决"},
        follow_redirects=False,
    )
    assert closed.status_code == 303
    db.expire_all()
    complaint = db.get(Complaint, cid)
    assert complaint is not None and complaint.status == "closed"
    assert complaint.response_outcome == "remedy"
    events = [e.kind for e in repository.events(db, cid)]
    assert events == [
        "submitted",
        "triaged",
        "forwarded",
        "responded",
        "feedback_accepted",
        "closed",
    ]
    actions = [
        r.action
        for r in db.scalars(
            select(AuditRecord)
            .where(AuditRecord.target == f"complaint:{cid}")
            .order_by(AuditRecord.id)
        )
    ]
    assert actions == [
        "complaint.submitted",
        "complaint.triaged",
        "complaint.forwarded",
        "complaint.responded",
        "complaint.feedback_accepted",
        "complaint.closed",
    ]
    assert audit.verify(db).ok
    # The reporter's page shows the whole public timeline; the regulator's note is not on it.
    final = client.get("/report/case")
    assert "模板投诉" not in final.text
    assert final.text.count('<tr data-kind="') == 5


STEPS = {
    "triage": ("triage", {"forward": False}),
    "forward": ("forward", {}),
    "respond": ("response", {"outcome": "explanation", "text": "我们已经核实，情况如下。"}),
    "escalate": ("escalate", {}),
    "close": ("close", {}),
}


@pytest.mark.parametrize(
    ("status_path", "step", "who", "expected"),
    [
        # A new report cannot be forwarded, answered or escalated before it is reviewed.
        ([], "forward", "regulator", 409),
        ([], "escalate", "regulator", 409),
        ([], "respond", "lender", 404),  # the institution does not even see it yet
        ([], "respond", "regulator", 403),
        # Once forwarded: only the institution answers; the regulator cannot triage again.
        (["triage", "forward"], "triage", "regulator", 409),
        (["triage", "forward"], "respond", "regulator", 403),
        (["triage", "forward"], "close", "regulator", 409),
        (["triage", "forward"], "forward", "regulator", 409),
        (["triage", "forward"], "escalate", "lender", 403),
        (["triage", "forward"], "respond", "other", 404),
        # A closed case is final.
        (["close"], "triage", "regulator", 409),
        (["close"], "close", "regulator", 409),
        (["close"], "escalate", "regulator", 409),
    ],
)
def test_the_api_refuses_every_step_off_the_whitelist_and_changes_nothing(
    as_user: Any,
    db: Session,
    desk: Desk,
    store: EvidenceStore,
    config: ComplaintConfig,
    status_path: list[str],
    step: str,
    who: str,
    expected: int,
) -> None:
    cid = report(db, store, config, desk.lender).complaint.id
    users = {"regulator": "regulator", "lender": "lender-compliance", "other": "other-compliance"}
    regulator = as_user("regulator")
    token = {"X-CSRF-Token": csrf_from(regulator.get("/").text)}
    for done in status_path:
        path, body = STEPS[done]
        assert (
            regulator.post(f"/api/v1/complaints/{cid}/{path}", json=body, headers=token).status_code
            == 200
        )
    client = regulator if who == "regulator" else as_user(users[who])
    headers = {"X-CSRF-Token": csrf_from(client.get("/").text)}
    db.expire_all()
    before = (db.get(Complaint, cid).status, len(repository.events(db, cid)))  # type: ignore[union-attr]
    path, body = STEPS[step]
    response = client.post(f"/api/v1/complaints/{cid}/{path}", json=body, headers=headers)
    assert response.status_code == expected, response.text
    db.expire_all()
    assert (db.get(Complaint, cid).status, len(repository.events(db, cid))) == before  # type: ignore[union-attr]


def test_the_reporter_can_only_accept_or_dispute_an_answer(
    db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    receipt = forwarded(db, desk, store, config)
    with pytest.raises(Conflict, match="forwarded cannot become accepted"):
        service.reporter_feedback(db, receipt.complaint, FeedbackCreate(accepted=True), NOW)
    db.rollback()
    service.respond(
        db,
        desk.staff,
        receipt.complaint.id,
        ResponseCreate(outcome="no_action", text="经核实，不存在违规行为。"),
        NOW,
    )  # type: ignore[arg-type]
    service.reporter_feedback(
        db, receipt.complaint, FeedbackCreate(accepted=False, comment="他们还在打"), NOW
    )
    db.commit()
    assert receipt.complaint.status == "disputed"
    with pytest.raises(Conflict):
        service.reporter_feedback(db, receipt.complaint, FeedbackCreate(accepted=True), NOW)
    db.rollback()
    # A dispute goes back to the institution with a fresh deadline, or up to the regulator.
    later = NOW + timedelta(days=20)
    service.forward(db, desk.regulator, receipt.complaint.id, NoteCreate(note="请重新核查"), later)
    db.commit()
    assert receipt.complaint.status == "forwarded"
    assert receipt.complaint.due_at is not None and receipt.complaint.due_at > later + timedelta(
        days=15
    )
    assert receipt.complaint.responded_at is None


def test_complex_cases_get_30_days_and_60_with_a_seniors_approval(
    db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    c = forwarded(db, desk, store, config).complaint
    assert c.forwarded_at is not None
    first_due = c.due_at
    with pytest.raises(Invalid) as info:
        service.raise_complexity(
            db,
            desk.staff,
            c.id,
            ComplexityCreate(complexity="extended", reason="需要调取录音"),
            NOW,
        )  # type: ignore[arg-type]
    assert info.value.field == "approved_by"
    db.rollback()
    with pytest.raises(Conflict, match="already marked complex"):
        service.raise_complexity(
            db,
            desk.staff,
            c.id,
            ComplexityCreate(complexity="extended", reason="需要调取录音", approved_by="副总经理"),
            NOW,
        )  # type: ignore[arg-type]
    db.rollback()
    service.raise_complexity(
        db,
        desk.staff,
        c.id,
        ComplexityCreate(complexity="complex", reason="涉及委外机构"),
        NOW + timedelta(days=5),
    )  # type: ignore[arg-type]
    db.commit()
    assert c.due_at is not None and first_due is not None
    assert c.due_at - first_due == timedelta(days=15)
    service.raise_complexity(
        db,
        desk.staff,
        c.id,
        ComplexityCreate(complexity="extended", reason="需要调取录音", approved_by="副总经理"),
        NOW + timedelta(days=20),
    )  # type: ignore[arg-type]
    db.commit()
    assert c.due_at - first_due == timedelta(days=45)
    assert c.extension_approved_by == "副总经理"
    # The notice to the reporter is on their timeline, with the reason.
    view = service.present(db, c, service.REPORTER, NOW)
    assert [e.note for e in view.timeline if e.kind == "marked_extended"] == ["需要调取录音"]
    with pytest.raises(Conflict):
        service.raise_complexity(
            db,
            desk.staff,
            c.id,
            ComplexityCreate(complexity="extended", reason="再延长", approved_by="总经理"),
            NOW + timedelta(days=21),
        )  # type: ignore[arg-type]


def test_no_more_time_once_the_deadline_has_passed(
    db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    c = forwarded(db, desk, store, config).complaint
    assert c.due_at is not None
    with pytest.raises(Conflict, match="deadline has passed"):
        service.raise_complexity(
            db, desk.staff, c.id, ComplexityCreate(complexity="complex", reason="太晚了"), c.due_at
        )  # type: ignore[arg-type]
    with pytest.raises(Forbidden):
        service.raise_complexity(
            db, desk.regulator, c.id, ComplexityCreate(complexity="complex", reason="监管"), NOW
        )  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        service.raise_complexity(
            db, desk.other_staff, c.id, ComplexityCreate(complexity="complex", reason="别家"), NOW
        )  # type: ignore[arg-type]


def test_overdue_cases_are_flagged_listed_and_answered_late_is_recorded(
    as_user: Any,
    db: Session,
    desk: Desk,
    store: EvidenceStore,
    config: ComplaintConfig,
    clock: FakeClock,
) -> None:
    late = forwarded(db, desk, store, config, narrative=GENUINE[0]).complaint
    on_time = forwarded(db, desk, store, config, narrative=GENUINE[1]).complaint
    assert late.due_at is not None
    clock.now = late.due_at + timedelta(hours=1)
    regulator = as_user("regulator")
    due = service.due_cases(db, clock.now)
    assert {(d.complaint_id, d.state) for d in due} == {
        (late.id, DeadlineState.OVERDUE),
        (on_time.id, DeadlineState.OVERDUE),
    }
    service.respond(
        db,
        desk.staff,
        on_time.id,
        ResponseCreate(outcome="relief", text="已减免全部罚息。"),
        clock.now,
    )  # type: ignore[arg-type]
    db.commit()
    overdue = regulator.get("/api/v1/complaints", params={"overdue": "true"}).json()
    assert [c["id"] for c in overdue] == [late.id]
    assert overdue[0]["deadline"] == "overdue"
    answered = regulator.get(f"/api/v1/complaints/{on_time.id}").json()
    assert answered["deadline"] == "answered_late"
    page = regulator.get("/complaints")
    assert 'data-testid="deadline-overdue"' in page.text
    assert 'data-testid="deadline-answered_late"' in page.text
    assert [d["id"] for d in regulator.get("/api/v1/complaints/due").json()] == [late.id]
    # The regulator may take an overdue case over.
    token = {"X-CSRF-Token": csrf_from(regulator.get("/").text)}
    assert (
        regulator.post(
            f"/api/v1/complaints/{late.id}/escalate", json={"note": "逾期未答复"}, headers=token
        ).json()["status"]
        == "escalated"
    )


def test_reminders_go_through_the_outbox_once_when_due_soon_and_once_when_overdue(
    db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    c = forwarded(db, desk, store, config).complaint
    assert c.due_at is not None
    assert service.send_reminders(db, NOW + timedelta(days=5)) == 0
    soon = c.due_at - timedelta(days=2)
    assert service.send_reminders(db, soon) == 1
    assert service.send_reminders(db, soon + timedelta(hours=6)) == 0
    db.commit()
    messages = db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(m.kind, m.channel, m.recipient) for m in messages] == [
        ("complaint.reminder", "email", "compliance@lender.example")
    ]
    assert f"#{c.id}" in messages[0].body and "2026-12-16" in messages[0].body
    assert service.send_reminders(db, c.due_at + timedelta(minutes=1)) == 1
    db.commit()
    assert len(db.scalars(select(OutboxMessage)).all()) == 2
    kinds = [e.kind for e in repository.events(db, c.id)]
    assert kinds[-2:] == ["reminder_due_soon", "reminder_overdue"]
    # The reminders are for the institution and the regulator, not the reporter.
    reporter_kinds = [e.kind for e in service.present(db, c, service.REPORTER, NOW).timeline]
    assert "reminder_overdue" not in reporter_kinds


def test_questions_and_answers_between_the_institution_and_the_reporter(
    db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    receipt = forwarded(db, desk, store, config)
    c = receipt.complaint
    service.ask(db, desk.staff, c.id, TextCreate(text="请提供来电的具体日期。"), NOW)
    db.commit()
    view = service.present(db, c, service.REPORTER, NOW)
    assert view.open_question
    service.reporter_answer(db, c, TextCreate(text="11月3日晚上，我叫刘洋，电话13812345678"), NOW)
    db.commit()
    assert not service.present(db, c, service.REPORTER, NOW).open_question
    staff_view = service.present(db, c, service.viewer_of(desk.staff), NOW)
    answer = next(e.note for e in staff_view.timeline if e.kind == "answer")
    assert answer is not None and "刘洋" not in answer and "13812345678" not in answer
    regulator_view = service.present(db, c, service.viewer_of(desk.regulator), NOW)
    assert "刘洋" in next(e.note for e in regulator_view.timeline if e.kind == "answer")  # type: ignore[operator]
    # The institution asks only while the case waits for its answer.
    service.respond(
        db, desk.staff, c.id, ResponseCreate(outcome="explanation", text="已核实并说明情况。"), NOW
    )  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        service.ask(db, desk.staff, c.id, TextCreate(text="还有问题"), NOW)


def test_every_step_is_on_the_timeline_with_who_took_it(
    db: Session, desk: Desk, store: EvidenceStore, config: ComplaintConfig
) -> None:
    c = forwarded(db, desk, store, config).complaint
    events = db.scalars(
        select(ComplaintEvent)
        .where(ComplaintEvent.complaint_id == c.id)
        .order_by(ComplaintEvent.id)
    ).all()
    assert [(e.kind, e.party, e.from_status, e.to_status) for e in events] == [
        ("submitted", "reporter", None, "submitted"),
        ("triaged", "regulator", "submitted", "triaged"),
        ("forwarded", "regulator", "triaged", "forwarded"),
    ]
    assert events[1].actor == desk.regulator.actor
    assert events[1].audience == "regulator"
