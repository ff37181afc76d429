"""The dispatcher on a real database (SQLite, and PostgreSQL when configured): claim,
send outside a transaction, record; retries back off; a dead worker's message is never
re-sent blindly; delivery receipts settle the outcome."""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fairdun.kit.db import session_factory, unit_of_work
from fairdun.outbox import service
from fairdun.outbox.adapters import (
    OutboxFileAdapter,
    OutgoingMessage,
    PermanentError,
    SendResult,
    TransientError,
)
from fairdun.outbox.dispatcher import Dispatcher, RetryPolicy, backoff
from fairdun.outbox.models import OutboxChannel, OutboxMessage, OutboxStatus
from tests.conftest import FakeClock

POLICY = RetryPolicy(
    max_attempts=3,
    base=timedelta(seconds=10),
    cap=timedelta(minutes=5),
    lease=timedelta(minutes=1),
)


class WorkerDied(BaseException):
    """The process ends between sending and recording (SIGKILL, power loss)."""


class Recorder:
    """A fake adapter: counts every send per message (and per idempotency key), and can be
    told what to do on a given attempt."""

    def __init__(
        self,
        *,
        idempotent: bool = False,
        behave: Callable[[OutgoingMessage, int], None] | None = None,
    ) -> None:
        self.idempotent = idempotent
        self.behave = behave
        self.sends: Counter[int] = Counter()
        self.keys: list[str] = []
        self._lock = threading.Lock()

    def send(self, message: OutgoingMessage) -> SendResult:
        with self._lock:
            self.sends[message.id] += 1
            self.keys.append(message.idempotency_key)
            n = self.sends[message.id]
        if self.behave is not None:
            self.behave(message, n)
        return SendResult(provider_id=f"prov-{message.id}")


def die_after_sending(message: OutgoingMessage, n: int) -> None:
    if n == 1:
        raise WorkerDied


def queue(engine: Engine, clock: FakeClock, count: int, channel: OutboxChannel) -> list[int]:
    with unit_of_work(session_factory(engine)) as session:
        ids = [
            service.enqueue(
                session,
                channel=channel,
                recipient=f"+861380000{i:04d}",
                body=f"message {i}",
                kind="test.message",
                now=clock(),
            ).id
            for i in range(count)
        ]
    return ids


def dispatcher(engine: Engine, clock: FakeClock, adapter: object, **kw: object) -> Dispatcher:
    adapters = {c: adapter for c in OutboxChannel}
    return Dispatcher(
        factory=session_factory(engine),
        adapters=adapters,  # type: ignore[arg-type]
        clock=clock,
        policy=POLICY,
        rng=random.Random(7),
        **kw,  # type: ignore[arg-type]
    )


def statuses(engine: Engine) -> dict[int, OutboxMessage]:
    with session_factory(engine)() as session:
        return {m.id: m for m in session.scalars(select(OutboxMessage)).all()}


def test_a_queued_message_is_sent_once_and_recorded(engine: Engine, clock: FakeClock) -> None:
    [mid] = queue(engine, clock, 1, OutboxChannel.SMS)
    rec = Recorder()
    report = dispatcher(engine, clock, rec).run_once()
    again = dispatcher(engine, clock, rec).run_once()
    assert (report.claimed, report.sent, again.claimed) == (1, 1, 0)
    assert rec.sends == Counter({mid: 1})
    m = statuses(engine)[mid]
    assert m.status == OutboxStatus.SENT
    assert (m.provider_message_id, m.sent_at, m.attempts) == (f"prov-{mid}", clock.now, 1)
    assert m.claimed_by is None and m.claimed_until is None


def test_the_claim_is_committed_before_the_adapter_runs(engine: Engine, clock: FakeClock) -> None:
    [mid] = queue(engine, clock, 1, OutboxChannel.EMAIL)
    seen: list[tuple[str, str | None]] = []

    def look(message: OutgoingMessage, n: int) -> None:
        # Another connection sees the claim: it was committed, and no transaction is open.
        m = statuses(engine)[message.id]
        seen.append((m.status, m.claimed_by))

    d = dispatcher(engine, clock, Recorder(behave=look))
    d.run_once()
    assert seen == [(OutboxStatus.SENDING, d.worker_id)]
    assert statuses(engine)[mid].status == OutboxStatus.SENT


def test_a_transient_error_backs_off_then_gives_up(engine: Engine, clock: FakeClock) -> None:
    [mid] = queue(engine, clock, 1, OutboxChannel.SMS)

    def flaky(message: OutgoingMessage, n: int) -> None:
        raise TransientError(f"busy {n}")

    rec = Recorder(behave=flaky)
    d = dispatcher(engine, clock, rec)
    assert d.run_once().retried == 1
    m = statuses(engine)[mid]
    assert m.status == OutboxStatus.QUEUED and m.last_error == "busy 1"
    assert m.next_attempt_at is not None
    assert clock.now + POLICY.base / 2 <= m.next_attempt_at <= clock.now + POLICY.base
    assert d.run_once().claimed == 0  # not due yet
    clock.now = m.next_attempt_at
    assert d.run_once().retried == 1
    m2 = statuses(engine)[mid]
    assert m2.next_attempt_at is not None
    assert m2.next_attempt_at - clock.now >= POLICY.base  # the second wait is longer
    clock.now = m2.next_attempt_at
    assert d.run_once().failed == 1  # third attempt of three
    m3 = statuses(engine)[mid]
    assert m3.status == OutboxStatus.FAILED and m3.attempts == 3
    assert m3.last_error == "gave up after 3: busy 3"
    clock.advance(days=1)
    assert d.run_once().claimed == 0
    assert rec.sends[mid] == 3


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(1)
    waits = [backoff(n, POLICY, rng) for n in range(1, 12)]
    for n, wait in enumerate(waits, start=1):
        ceiling = min(POLICY.cap, POLICY.base * 2 ** (n - 1))
        assert ceiling / 2 <= wait <= ceiling
    assert len({w.total_seconds() for w in waits}) == len(waits)  # jitter
    assert backoff(10_000, POLICY, rng) <= POLICY.cap


def test_a_permanent_error_fails_at_once(engine: Engine, clock: FakeClock) -> None:
    [mid] = queue(engine, clock, 1, OutboxChannel.EMAIL)

    def refuse(message: OutgoingMessage, n: int) -> None:
        raise PermanentError("no such mailbox")

    d = dispatcher(engine, clock, Recorder(behave=refuse))
    assert d.run_once().failed == 1
    m = statuses(engine)[mid]
    assert (m.status, m.last_error, m.attempts) == (OutboxStatus.FAILED, "no such mailbox", 1)


def test_an_unknown_adapter_error_makes_a_non_idempotent_message_uncertain(
    engine: Engine, clock: FakeClock
) -> None:
    [mid] = queue(engine, clock, 1, OutboxChannel.EMAIL)

    def disconnect(message: OutgoingMessage, n: int) -> None:
        raise ConnectionResetError("reset after DATA")

    rec = Recorder(behave=disconnect)
    d = dispatcher(engine, clock, rec)
    assert d.run_once().uncertain == 1
    clock.advance(days=1)
    assert d.run_once().claimed == 0
    assert statuses(engine)[mid].status == OutboxStatus.UNCERTAIN
    assert rec.sends[mid] == 1


def test_a_dead_workers_message_becomes_uncertain_and_is_not_sent_again(
    engine: Engine, clock: FakeClock
) -> None:
    [mid] = queue(engine, clock, 1, OutboxChannel.LETTER)
    rec = Recorder(behave=die_after_sending)
    with pytest.raises(WorkerDied):
        dispatcher(engine, clock, rec).run_once()
    assert statuses(engine)[mid].status == OutboxStatus.SENDING

    survivor = dispatcher(engine, clock, rec)
    assert survivor.run_once().claimed == 0  # the lease still runs
    clock.advance(seconds=POLICY.lease.total_seconds() + 1)
    report = survivor.run_once()
    assert (report.uncertain_expired, report.claimed) == (1, 0)
    clock.advance(days=1)
    survivor.run_once()
    m = statuses(engine)[mid]
    assert m.status == OutboxStatus.UNCERTAIN
    assert m.last_error is not None and "not re-sent" in m.last_error
    assert rec.sends[mid] == 1


def test_a_dead_workers_message_is_resent_with_the_same_key_when_the_adapter_dedupes(
    engine: Engine, clock: FakeClock
) -> None:
    [mid] = queue(engine, clock, 1, OutboxChannel.SMS)
    rec = Recorder(idempotent=True, behave=die_after_sending)
    with pytest.raises(WorkerDied):
        dispatcher(engine, clock, rec).run_once()
    clock.advance(seconds=POLICY.lease.total_seconds() + 1)
    report = dispatcher(engine, clock, rec).run_once()
    assert (report.requeued_expired, report.sent) == (1, 1)
    assert rec.keys == [f"outbox-{mid}", f"outbox-{mid}"]
    m = statuses(engine)[mid]
    assert (m.status, m.attempts) == (OutboxStatus.SENT, 2)


def test_a_late_answer_from_a_slow_worker_still_counts(engine: Engine, clock: FakeClock) -> None:
    """The lease ran out while the send was in flight; the send then succeeded."""
    [mid] = queue(engine, clock, 1, OutboxChannel.EMAIL)
    d = dispatcher(engine, clock, Recorder())
    assert len(d.claim(10)) == 1
    clock.advance(seconds=POLICY.lease.total_seconds() + 1)
    assert dispatcher(engine, clock, Recorder()).sweep() == (0, 1)
    with unit_of_work(session_factory(engine)) as s:
        assert service.mark_sent(s, mid, provider_id="late", now=clock.now)
    assert statuses(engine)[mid].status == OutboxStatus.SENT


def test_the_file_adapter_writes_a_masked_line_per_message(
    engine: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    import json

    queue(engine, clock, 2, OutboxChannel.SMS)
    path = tmp_path / "outbox" / "sent.jsonl"
    report = dispatcher(engine, clock, OutboxFileAdapter(path, clock=clock)).run_once()
    assert report.sent == 2
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["to"] for line in lines] == ["*" * 10 + "0000", "*" * 10 + "0001"]
    assert [line["body"] for line in lines] == ["message 0", "message 1"]
    assert lines[0]["id"].startswith("outbox-") and lines[0]["channel"] == "sms"


def test_a_claim_takes_at_most_the_batch_in_id_order(engine: Engine, clock: FakeClock) -> None:
    ids = queue(engine, clock, 12, OutboxChannel.SMS)
    d = dispatcher(engine, clock, Recorder())
    assert [m.id for m, _ in d.claim(5)] == ids[:5]
    assert [m.id for m, _ in d.claim(5)] == ids[5:10]
    assert [(m.id, n) for m, n in d.claim(5)] == [(ids[10], 1), (ids[11], 1)]
    assert d.claim(5) == []


def test_only_channels_with_an_adapter_are_claimed(engine: Engine, clock: FakeClock) -> None:
    [sms] = queue(engine, clock, 1, OutboxChannel.SMS)
    [voice] = queue(engine, clock, 1, OutboxChannel.VOICE)
    d = Dispatcher(
        factory=session_factory(engine),
        adapters={OutboxChannel.SMS: Recorder()},
        clock=clock,
        policy=POLICY,
    )
    assert d.run_once().sent == 1
    s = statuses(engine)
    assert (s[sms].status, s[voice].status) == (OutboxStatus.SENT, OutboxStatus.QUEUED)


# --- delivery receipts -----------------------------------------------------------------


def test_receipts_settle_the_outcome(engine: Engine, db: Session, clock: FakeClock) -> None:
    a, b, c = queue(engine, clock, 3, OutboxChannel.SMS)
    dispatcher(engine, clock, Recorder()).run_once()
    later = clock.now + timedelta(minutes=2)
    assert service.record_receipt(db, f"prov-{a}", "delivered", later)
    assert service.record_receipt(db, f"outbox-{b}", "failed", later)
    assert service.record_receipt(db, c, "delivered", later)
    db.commit()
    s = statuses(engine)
    assert (s[a].status, s[a].delivered_at) == (OutboxStatus.DELIVERED, later)
    assert s[b].status == OutboxStatus.FAILED
    assert s[c].status == OutboxStatus.DELIVERED
    # Delivered is final: a late "failed" does not undo it.
    assert not service.record_receipt(db, f"prov-{a}", "failed", later)
    assert db.get(OutboxMessage, a).status == OutboxStatus.DELIVERED  # type: ignore[union-attr]


def test_a_receipt_resolves_an_uncertain_message(
    engine: Engine, db: Session, clock: FakeClock
) -> None:
    [mid] = queue(engine, clock, 1, OutboxChannel.LETTER)
    with pytest.raises(WorkerDied):
        dispatcher(engine, clock, Recorder(behave=die_after_sending)).run_once()
    clock.advance(minutes=5)
    dispatcher(engine, clock, Recorder()).sweep()
    assert service.record_receipt(db, f"outbox-{mid}", "delivered", clock.now)
    db.commit()
    assert statuses(engine)[mid].status == OutboxStatus.DELIVERED


@pytest.mark.parametrize(
    ("reference", "status"),
    [
        ("prov-nope", "delivered"),
        (999_999, "delivered"),
        ("outbox-999999", "failed"),
        ("outbox-x", "delivered"),
        ("", "delivered"),
        ("prov-1", "exploded"),
    ],
)
def test_a_receipt_for_an_unknown_message_is_logged_and_ignored(
    engine: Engine,
    db: Session,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    reference: str | int,
    status: str,
) -> None:
    [mid] = queue(engine, clock, 1, OutboxChannel.SMS)
    dispatcher(engine, clock, Recorder()).run_once()
    with caplog.at_level(logging.WARNING, logger="fairdun.outbox.service"):
        assert service.record_receipt(db, reference, status, clock.now) is False
    assert "receipt ignored" in caplog.text
    db.commit()
    assert statuses(engine)[mid].status == OutboxStatus.SENT


def test_enqueue_keeps_its_defaults(engine: Engine, db: Session, clock: FakeClock) -> None:
    m = service.enqueue(
        db, channel=OutboxChannel.EMAIL, recipient="a@b.cn", body="hi", kind="k", now=clock.now
    )
    db.commit()
    db.expire_all()
    fresh = db.get(OutboxMessage, m.id)
    assert fresh is not None
    assert (fresh.status, fresh.attempts, fresh.next_attempt_at) == (OutboxStatus.QUEUED, 0, None)
