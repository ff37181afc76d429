"""``fairdun complaints due`` and ``remind``: the deadline job, run in-process."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from fairdun.complaints import service
from fairdun.complaints.cli import complaints_app
from fairdun.complaints.config import ComplaintConfig
from fairdun.complaints.evidence import EvidenceStore
from fairdun.complaints.schemas import TriageCreate
from fairdun.identity.models import Role
from fairdun.identity.principal import Principal
from fairdun.kit import crypto, migrate
from fairdun.kit.clock import utcnow
from fairdun.kit.db import make_engine, session_factory
from fairdun.outbox.models import OutboxMessage
from tests.complaints.conftest import report
from tests.conftest import TEST_INDEX_KEY, TEST_KEY_1
from tests.factories import make_institution, make_user


@pytest.fixture(autouse=True)
def cli_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setattr(crypto, "_keyring", crypto._keyring)
    for name in list(os.environ):
        if name.upper().startswith("FAIRDUN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    for name, value in {
        "FAIRDUN_ENV": "test",
        "FAIRDUN_SECRET_KEY": "test-secret-key-" + "x" * 32,
        "FAIRDUN_DATA_KEYS": f"t1:{TEST_KEY_1}",
        "FAIRDUN_ACTIVE_KEY_ID": "t1",
        "FAIRDUN_BLIND_INDEX_KEY": TEST_INDEX_KEY,
        "FAIRDUN_DATABASE_URL": url,
    }.items():
        monkeypatch.setenv(name, value)
    return url


def test_remind_queues_each_reminder_once_and_due_lists_the_case(
    cli_url: str, tmp_path: Path
) -> None:
    engine = make_engine(cli_url)
    migrate.upgrade(engine)
    factory = session_factory(engine)
    config = ComplaintConfig(evidence_dir=tmp_path / "evidence")
    twenty_days_ago = utcnow() - timedelta(days=20)
    with factory() as db:
        lender = make_institution(db, name="甲银行")
        make_user(db, role=Role.INSTITUTION_ADMIN, institution=lender, email="admin@a.example")
        receipt = report(
            db, EvidenceStore(config.evidence_dir), config, lender, now=twenty_days_ago
        )
        regulator = Principal(role=Role.REGULATOR, institution_id=None)
        cid = receipt.complaint.id
        service.triage(db, regulator, cid, TriageCreate(forward=True), twenty_days_ago, config)
        db.commit()
    runner = CliRunner()
    listed = runner.invoke(complaints_app, ["due"])
    assert listed.exit_code == 0, listed.output
    assert "overdue" in listed.output
    first = runner.invoke(complaints_app, ["remind"])
    assert first.exit_code == 0, first.output
    assert "1 reminder(s) queued" in first.output
    again = runner.invoke(complaints_app, ["remind"])
    assert "0 reminder(s) queued" in again.output
    with factory() as db:
        assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    engine.dispose()
