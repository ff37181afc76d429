"""Several workers at once on PostgreSQL, each with its own sessions and connections:
every message is sent exactly once, and a worker that dies mid-send does not cause a
second send (unless the adapter deduplicates on the idempotency key)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy.engine import Engine

from fairdun.outbox.adapters import OutgoingMessage, SendResult
from fairdun.outbox.dispatcher import Dispatcher
from fairdun.outbox.models import OutboxChannel, OutboxStatus
from tests.conftest import FakeClock
from tests.outbox.test_dispatcher import (
    POLICY,
    Recorder,
    WorkerDied,
    dispatcher,
    queue,
    statuses,
)

WORKERS = 4
MESSAGES = 200

pytestmark = pytest.mark.postgres


def _require_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent workers run on PostgreSQL (SQLite has one writer at a time)")


def _run_together(workers: list[Dispatcher], batch: int = 7) -> None:
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def loop(d: Dispatcher) -> None:
        try:
            barrier.wait()
            d.run(batch=batch, until_idle=True)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(d,)) for d in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_four_workers_send_two_hundred_messages_exactly_once(
    engine: Engine, clock: FakeClock
) -> None:
    _require_postgresql(engine)
    ids = queue(engine, clock, MESSAGES, OutboxChannel.SMS)
    rec = Recorder()
    workers = [dispatcher(engine, clock, rec) for _ in range(WORKERS)]
    assert len({w.worker_id for w in workers}) == WORKERS
    _run_together(workers)
    assert sorted(rec.sends) == ids
    assert set(rec.sends.values()) == {1}
    assert {m.status for m in statuses(engine).values()} == {OutboxStatus.SENT}
    assert {m.attempts for m in statuses(engine).values()} == {1}


class Doomed:
    """Sends through the shared recorder, then the process dies before recording."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.idempotent = rec.idempotent

    def send(self, message: OutgoingMessage) -> SendResult:
        self.rec.send(message)
        raise WorkerDied


@pytest.mark.parametrize("idempotent", [False, True], ids=["file-or-smtp", "webhook"])
def test_a_worker_killed_after_sending_is_not_resent_by_the_others(
    engine: Engine, clock: FakeClock, idempotent: bool
) -> None:
    _require_postgresql(engine)
    ids = queue(engine, clock, 40, OutboxChannel.EMAIL)
    rec = Recorder(idempotent=idempotent)

    # The doomed worker claims a batch of five and dies after sending the first.
    with pytest.raises(WorkerDied):
        dispatcher(engine, clock, Doomed(rec)).run_once(batch=5)
    victims = ids[:5]
    assert rec.sends == Counter({victims[0]: 1})

    # Three workers run while the lease still holds: none of the five is touched.
    _run_together([dispatcher(engine, clock, rec) for _ in range(3)])
    s = statuses(engine)
    assert [s[v].status for v in victims] == [OutboxStatus.SENDING] * 5
    assert sum(rec.sends[v] for v in victims) == 1

    # The lease runs out; the workers sweep and carry on.
    clock.advance(seconds=POLICY.lease.total_seconds() + 1)
    _run_together([dispatcher(engine, clock, rec) for _ in range(3)])
    s = statuses(engine)
    others = ids[5:]
    assert all(rec.sends[i] == 1 and s[i].status == OutboxStatus.SENT for i in others)
    if idempotent:
        # Re-sent with the same key, which the provider deduplicates on: all end sent.
        assert [s[v].status for v in victims] == [OutboxStatus.SENT] * 5
        assert rec.keys.count(f"outbox-{victims[0]}") == 2
        assert [rec.sends[v] for v in victims] == [2, 1, 1, 1, 1]
    else:
        # Never re-sent: the one that went out and the four that perhaps did not all wait
        # for a person (or a receipt) to settle them. At most once, not at least once.
        assert [s[v].status for v in victims] == [OutboxStatus.UNCERTAIN] * 5
        assert [rec.sends[v] for v in victims] == [1, 0, 0, 0, 0]
