"""``fairdun worker --once`` end to end: a queued message leaves through the file adapter,
with the recipient masked, and is recorded as sent."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from fairdun.cli import app
from fairdun.kit import crypto, migrate
from fairdun.kit.db import session_factory, unit_of_work
from fairdun.outbox import service
from fairdun.outbox.models import OutboxChannel, OutboxMessage, OutboxStatus
from tests.conftest import TEST_INDEX_KEY, TEST_KEY_1


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(crypto, "_keyring", crypto._keyring)
    for name in list(os.environ):
        if name.upper().startswith("FAIRDUN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "FAIRDUN_ENV": "test",
        "FAIRDUN_SECRET_KEY": "test-secret-key-" + "x" * 32,
        "FAIRDUN_DATA_KEYS": f"t1:{TEST_KEY_1}",
        "FAIRDUN_ACTIVE_KEY_ID": "t1",
        "FAIRDUN_BLIND_INDEX_KEY": TEST_INDEX_KEY,
        "FAIRDUN_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "FAIRDUN_OUTBOX_FILE": str(tmp_path / "out" / "sent.jsonl"),
    }.items():
        monkeypatch.setenv(name, value)


def test_worker_once_sends_a_queued_message_through_the_file_adapter(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    migrate.upgrade(engine)
    with unit_of_work(session_factory(engine)) as session:
        message_id = service.enqueue(
            session,
            channel=OutboxChannel.SMS,
            recipient="+8613800001234",
            body="【示范银行】您本月的还款日是15日。回复TD退订。",
            kind="test.reminder",
            now=datetime.now(UTC),
        ).id
    result = CliRunner().invoke(app, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "sent 1" in result.output
    lines = (tmp_path / "out" / "sent.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert "13800001234" not in lines[0] and record["to"].endswith("1234")
    assert record["id"] == f"outbox-{message_id}" and "还款日" in record["body"]
    with session_factory(engine)() as session:
        sent = session.get(OutboxMessage, message_id)
        assert sent is not None and sent.status == OutboxStatus.SENT
    # A second pass finds nothing to send: nothing leaves twice.
    again = CliRunner().invoke(app, ["worker", "--once"])
    assert "sent 0" in again.output
    assert len((tmp_path / "out" / "sent.jsonl").read_text(encoding="utf-8").splitlines()) == 1
    engine.dispose()
