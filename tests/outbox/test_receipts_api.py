"""``POST /api/v1/outbox/receipts``: signed delivery receipts from the SMS provider update
the message; a bad or stale signature changes nothing; an unknown message is ignored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from fairdun.outbox import service
from fairdun.outbox.adapters import sign
from fairdun.outbox.models import OutboxChannel, OutboxMessage, OutboxStatus
from fairdun.web.app import create_app
from tests.conftest import FakeClock, make_settings

SECRET = "provider-shared-secret"


@pytest.fixture
def receipts(engine: Engine, clock: FakeClock) -> Iterator[TestClient]:
    settings = make_settings(
        engine.url.render_as_string(hide_password=False), sms_webhook_secret=SECRET
    )
    with TestClient(create_app(settings, engine=engine, clock=clock)) as client:
        yield client


def _sent_message(db: Session, now: datetime) -> OutboxMessage:
    message = service.enqueue(
        db,
        channel=OutboxChannel.SMS,
        recipient="+8613800009999",
        body="【示范银行】还款提醒。回复TD退订。",
        kind="test",
        now=now,
    )
    message.status = OutboxStatus.SENT
    message.provider_message_id = "prov-42"
    message.sent_at = now
    db.commit()
    return message


def _post(
    client: TestClient, payload: dict[str, object], at: datetime, secret: str = SECRET
) -> object:
    body = json.dumps(payload).encode()
    stamp = str(int(at.timestamp()))
    return client.post(
        "/api/v1/outbox/receipts",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Fairdun-Timestamp": stamp,
            "X-Fairdun-Signature": sign(secret.encode(), stamp, body),
        },
    )


def test_a_signed_receipt_marks_the_message_delivered(
    receipts: TestClient, db: Session, clock: FakeClock
) -> None:
    message = _sent_message(db, clock())
    answer = _post(receipts, {"reference": "prov-42", "status": "delivered"}, clock())
    assert answer.status_code == 200 and answer.json() == {"applied": True}  # type: ignore[attr-defined]
    db.expire_all()
    assert db.get(OutboxMessage, message.id).status == OutboxStatus.DELIVERED  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("secret", "skew", "status"),
    [("wrong-secret", timedelta(0), 401), (SECRET, timedelta(minutes=10), 401)],
    ids=["bad signature", "stale timestamp"],
)
def test_a_bad_or_stale_signature_changes_nothing(
    receipts: TestClient,
    db: Session,
    clock: FakeClock,
    secret: str,
    skew: timedelta,
    status: int,
) -> None:
    message = _sent_message(db, clock())
    answer = _post(
        receipts, {"reference": "prov-42", "status": "delivered"}, clock() - skew, secret
    )
    assert answer.status_code == status  # type: ignore[attr-defined]
    db.expire_all()
    assert db.get(OutboxMessage, message.id).status == OutboxStatus.SENT  # type: ignore[union-attr]


def test_an_unknown_message_is_ignored_not_an_error(receipts: TestClient, clock: FakeClock) -> None:
    answer = _post(receipts, {"reference": "no-such-id", "status": "delivered"}, clock())
    assert answer.status_code == 200 and answer.json() == {"applied": False}  # type: ignore[attr-defined]


def test_a_malformed_receipt_is_refused_by_name(receipts: TestClient, clock: FakeClock) -> None:
    answer = _post(receipts, {"status": "delivered"}, clock())
    assert answer.status_code == 422 and "reference" in answer.text  # type: ignore[attr-defined]


def test_without_a_secret_receipts_are_unavailable(client: TestClient) -> None:
    stamp = str(int(datetime.now(UTC).timestamp()))
    answer = client.post(
        "/api/v1/outbox/receipts",
        content=b"{}",
        headers={"X-Fairdun-Timestamp": stamp, "X-Fairdun-Signature": "sha256=00"},
    )
    assert answer.status_code == 503
