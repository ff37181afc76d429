"""Risk control end to end on a small demo portfolio: the model trained on the ledger, the
portfolio scored, lists and limit decisions made, and the pages and API that show them.

The portfolio (400 loans) is seeded and the model trained once per module into a SQLite
file; each test works on its own copy of that file and of the model directory."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from fairdun.audit.models import AuditRecord
from fairdun.config import Settings
from fairdun.demo import seed
from fairdun.identity.models import User
from fairdun.kit import migrate
from fairdun.kit.db import session_factory, unit_of_work
from fairdun.loans.models import Borrower, Loan
from fairdun.loans.service import CapPolicy
from fairdun.risk import service
from fairdun.risk.demo import seed_risk
from fairdun.risk.models import (
    CreditDecision,
    CreditLine,
    ListAppeal,
    ListEntry,
    ListStatus,
    PromiseToPay,
    RiskScore,
)
from tests.conftest import FakeClock, make_settings
from tests.factories import csrf_from, login

AS_OF = date(2026, 11, 30)
PASSWORD = seed.DEMO_PASSWORD


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("risk-demo")
    db_file, models = root / "demo.db", root / "models"
    engine = create_engine(f"sqlite:///{db_file}")
    migrate.upgrade(engine)
    settings = make_settings(f"sqlite:///{db_file}", risk_model_dir=str(models))
    factory = session_factory(engine)
    with unit_of_work(factory) as session:
        seed.seed(session)
    with unit_of_work(factory) as session:
        caps = CapPolicy.from_ids(
            settings.rate_caps, settings.collectable_cap, settings.one_year_lpr
        )
        seed.seed_portfolio(session, as_of=AS_OF, caps=caps, n_loans=400)
        seed.link_demo_borrower(session)
    seed_risk(engine, factory, settings, AS_OF)
    engine.dispose()
    return db_file, models


@pytest.fixture
def engine(seeded: tuple[Path, Path], tmp_path: Path) -> Iterator[Engine]:
    copy = tmp_path / "demo.db"
    shutil.copy(seeded[0], copy)
    eng = create_engine(f"sqlite:///{copy}")
    yield eng
    eng.dispose()


@pytest.fixture
def settings(engine: Engine, seeded: tuple[Path, Path], tmp_path: Path) -> Settings:
    models = tmp_path / "models"
    shutil.copytree(seeded[1], models)
    return make_settings(
        engine.url.render_as_string(hide_password=False), risk_model_dir=str(models)
    )


def _count(db: Session, model: type) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


# --- what the demo seeded ------------------------------------------------------------------


def test_the_demo_scores_open_loans_under_30_days_with_reasons(
    db: Session, settings: Settings
) -> None:
    bundle = service.active_bundle(settings)
    scores = list(db.scalars(select(RiskScore)))
    assert scores, "nothing was scored"
    open_under_30 = db.scalar(
        select(func.count())
        .select_from(Loan)
        .where(Loan.status.in_(("current", "delinquent")), Loan.days_past_due < 30)
    )
    assert len(scores) == open_under_30
    for s in scores:
        assert s.model_id == bundle.model_id and s.model_sha256 == bundle.sha256
        assert 0.0 <= s.probability <= 1.0
        assert s.days_past_due < 30
        assert s.expected_loss == round(s.probability * s.exposure)
        assert s.score is not None  # the champion is the scorecard
    riskiest = max(scores, key=lambda s: s.probability)
    words = service.reasons_in(riskiest.reasons, "zh")
    assert words and all(re.search(r"[\u4e00-\u9fff]", w) for w in words)
    assert service.reasons_in(riskiest.reasons, "en")[0].isascii()
    # Scorecard points fall as the probability rises.
    by_points = sorted(scores, key=lambda s: s.score or 0)
    assert by_points[0].probability >= by_points[-1].probability


def test_every_credit_line_got_one_audited_decision_never_above_the_cap(db: Session) -> None:
    lines = _count(db, CreditLine)
    assert lines > 0
    assert _count(db, CreditDecision) == lines
    for decision, line in db.execute(
        select(CreditDecision, CreditLine).join(
            CreditLine, CreditLine.borrower_id == CreditDecision.borrower_id
        )
    ):
        assert decision.new_rate <= Decimal("0.24")
        assert line.annual_rate == decision.new_rate and line.credit_limit == decision.new_limit
        why = json.loads(decision.explanation)
        assert why["zh"] and why["en"]
    actions = {a for (a,) in db.execute(select(AuditRecord.action))}
    assert {"risk.scored", "risk.list.added", "risk.appeal.opened"} <= actions


def test_promises_were_recorded_and_feed_the_features(db: Session) -> None:
    from fairdun.risk import features

    assert _count(db, PromiseToPay) > 0
    frame = features.compute_features(db, AS_OF)
    assert frame["promises_kept"].sum() + frame["promises_broken"].sum() > 0


def test_a_second_day_run_is_a_no_op(engine: Engine, db: Session, settings: Settings) -> None:
    before = (
        _count(db, RiskScore),
        _count(db, CreditDecision),
        _count(db, ListEntry),
        _count(db, ListAppeal),
        _count(db, PromiseToPay),
    )
    again = seed_risk(engine, session_factory(engine), settings, AS_OF)
    assert not again.trained
    db.expire_all()
    after = (
        _count(db, RiskScore),
        _count(db, CreditDecision),
        _count(db, ListEntry),
        _count(db, ListAppeal),
        _count(db, PromiseToPay),
    )
    assert after == before


def test_a_tampered_bundle_is_refused_and_scoring_stops(db: Session, settings: Settings) -> None:
    bundle = service.active_bundle(settings)
    model_json = Path(settings.risk_model_dir) / bundle.model_id / "model.json"
    raw = bytearray(model_json.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    model_json.write_bytes(bytes(raw))
    with pytest.raises(service.NoActiveModel, match="refused"):
        service.active_bundle(settings)


def test_watchlist_is_sorted_by_expected_loss(db: Session, settings: Settings) -> None:
    from fairdun.identity.models import Role
    from fairdun.identity.principal import Principal

    bank = db.scalar(select(User.institution_id).where(User.username == "analyst"))
    analyst = Principal(role=Role.RISK_ANALYST, institution_id=bank)
    day, rows = service.watchlist(db, analyst, limit=50)
    assert day == AS_OF and rows
    losses = [r.score.expected_loss for r in rows]
    assert losses == sorted(losses, reverse=True)
    assert {r.loan.institution_id for r in rows} == {bank}


# --- pages and API ---------------------------------------------------------------------------


def test_risk_pages_render_for_the_analyst(client: TestClient) -> None:
    login(client, "analyst", PASSWORD)
    overview = client.get("/risk")
    assert overview.status_code == 200
    assert "early-warning-scorecard@" in overview.text
    assert "AUC (train)" in overview.text
    assert 'data-testid="pending-count">1<' in overview.text  # the demo's manual entry
    watch = client.get("/risk/watchlist")
    assert watch.status_code == 200 and watch.text.count('data-testid="watch-row"') > 0
    psi = client.get("/risk/monitoring")
    assert psi.status_code == 200 and 'data-testid="psi-row"' in psi.text
    assert client.get("/risk/decisions").text.count('data-testid="decision-row"') > 0
    assert client.get("/risk/lists").status_code == 200
    report = client.get("/risk/report")
    assert report.status_code == 200
    assert "sandbox" in report.headers["content-security-policy"]
    assert "AUC" in report.text and "WOE" in report.text


def test_risk_pages_are_refused_to_collectors(client: TestClient) -> None:
    login(client, "collector", PASSWORD)
    assert client.get("/risk").status_code == 403
    assert client.get("/risk/watchlist").status_code == 403


def test_maker_checker_through_the_pages(client: TestClient, db: Session) -> None:
    bank = db.scalar(select(User.institution_id).where(User.username == "analyst"))
    borrower = db.scalar(
        select(Borrower).where(Borrower.institution_id == bank).order_by(Borrower.id.desc())
    )
    assert borrower is not None
    login(client, "analyst", PASSWORD)
    csrf = csrf_from(client.get("/risk/lists").text)
    made = client.post(
        "/risk/lists",
        data={
            "csrf_token": csrf,
            "borrower": borrower.external_id,
            "kind": "black",
            "reason": "身份证件疑似冒用，待核实",
            "effective_date": AS_OF.isoformat(),
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    entry = db.scalar(select(ListEntry).order_by(ListEntry.id.desc()))
    assert entry is not None and entry.status == ListStatus.PENDING
    # The maker cannot be the checker.
    same = client.post(f"/risk/lists/{entry.id}/approve", data={"csrf_token": csrf})
    assert same.status_code == 403 and 'data-testid="form-error"' in same.text
    db.expire_all()
    assert db.get(ListEntry, entry.id).status == ListStatus.PENDING  # type: ignore[union-attr]
    client.post("/logout", data={"csrf_token": csrf})
    login(client, "bank-admin", PASSWORD)
    csrf = csrf_from(client.get("/risk/lists").text)
    ok = client.post(
        f"/risk/lists/{entry.id}/approve", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert ok.status_code == 303
    db.expire_all()
    checked = db.get(ListEntry, entry.id)
    assert checked is not None and checked.status == ListStatus.ACTIVE
    assert checked.checker and checked.checker != checked.maker


def test_the_borrower_appeals_and_the_analyst_upholds(
    client: TestClient, db: Session, clock: FakeClock
) -> None:
    login(client, "borrower", PASSWORD)
    mine = client.get("/risk/mine")
    assert mine.status_code == 200 and 'data-testid="my-entry"' in mine.text
    assert 'data-testid="my-appeal"' in mine.text  # the demo's open appeal
    user = db.scalar(select(User).where(User.username == "borrower"))
    own = db.scalar(select(Borrower).where(Borrower.user_id == user.id))  # type: ignore[union-attr]
    assert own is not None
    fresh = ListEntry(
        institution_id=own.institution_id,
        borrower_id=own.id,
        kind="grey",
        source="rule",
        rule_id="test.grey",
        reason="test",
        effective_date=AS_OF,
        status=ListStatus.ACTIVE,
        maker="system:test",
    )
    db.add(fresh)
    db.commit()
    csrf = csrf_from(client.get("/risk/mine").text)
    short = client.post(
        "/risk/mine/appeal", data={"csrf_token": csrf, "entry_id": str(fresh.id), "text": "不对"}
    )
    assert short.status_code == 422 and "10" in short.text
    opened = client.post(
        "/risk/mine/appeal",
        data={
            "csrf_token": csrf,
            "entry_id": str(fresh.id),
            "text": "我从未逾期，这条记录是系统错误，请核查还款流水。",
        },
    )
    assert opened.status_code == 200 and 'data-testid="appeal-opened"' in opened.text
    appeal = db.scalar(select(ListAppeal).where(ListAppeal.entry_id == fresh.id))
    assert appeal is not None
    assert appeal.due_date == clock().date() + timedelta(days=15)
    client.post("/logout", data={"csrf_token": csrf})
    login(client, "analyst", PASSWORD)
    csrf = csrf_from(client.get("/risk/lists").text)
    decided = client.post(
        f"/risk/appeals/{appeal.id}/decide",
        data={"csrf_token": csrf, "upheld": "1", "note": "核实无误，移出灰名单"},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    db.expire_all()
    assert db.get(ListEntry, fresh.id).status == ListStatus.REVOKED  # type: ignore[union-attr]


def test_api_watchlist_and_loan_risk(client: TestClient, db: Session) -> None:
    login(client, "analyst", PASSWORD)
    csrf = csrf_from(client.get("/risk").text)
    rows = client.get(
        "/api/v1/risk/watchlist?limit=5&lang=en", headers={"X-CSRF-Token": csrf}
    ).json()
    assert 0 < len(rows) <= 5
    assert rows[0]["expected_loss"] >= rows[-1]["expected_loss"]
    loan_id = rows[0]["loan_id"]
    detail = client.get(f"/api/v1/loans/{loan_id}/risk", headers={"X-CSRF-Token": csrf}).json()
    assert detail[0]["loan_id"] == loan_id and detail[0]["reasons"]
    page = client.get(f"/loans/{loan_id}")
    assert 'data-testid="loan-risk"' in page.text


def test_an_active_file_naming_a_renamed_bundle_is_refused(settings: Settings) -> None:
    """The report and the scores are filed under the model id, so the directory the ACTIVE
    file names must hold exactly that bundle."""
    root = Path(settings.risk_model_dir)
    bundle = service.active_bundle(settings)
    (root / bundle.model_id).rename(root / "other@1")
    (root / service.ACTIVE_FILE).write_text("other@1\n", encoding="utf-8")
    with pytest.raises(service.NoActiveModel, match="holds"):
        service.active_bundle(settings)
