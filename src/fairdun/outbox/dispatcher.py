"""The outbox dispatcher: claim, send outside any transaction, record.

Each step is its own short transaction:

1. sweep: leases that ran out (a worker died mid-send) become uncertain, or queued again
   on a channel whose adapter deduplicates (``adapter.idempotent``);
2. claim: up to ``batch`` due messages become ``sending`` under this worker's lease, and
   that is committed *before* anything is sent;
3. send each message through its channel's adapter, with no transaction open;
4. record the outcome: sent, queued again after a backoff, failed, or uncertain.

A worker that dies between 3 and 4 leaves the message ``sending``; step 1 of a later run
settles it without a blind re-send. See docs/outbox.md.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from fairdun.kit.clock import Clock
from fairdun.kit.db import unit_of_work
from fairdun.outbox import service
from fairdun.outbox.adapters import Adapter, OutgoingMessage, PermanentError, TransientError
from fairdun.outbox.models import OutboxChannel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    # Far longer than any adapter's timeout: a live worker never outlasts its lease.
    lease: timedelta = timedelta(minutes=5)


def backoff(attempts: int, policy: RetryPolicy, rng: random.Random) -> timedelta:
    """Exponential, capped, with jitter: between half and all of min(cap, base * 2^(n-1)),
    so workers that failed together do not retry together."""
    exponent = min(max(attempts - 1, 0), 20)  # bounded: a large multiple overflows
    ceiling = min(policy.cap, policy.base * (1 << exponent))
    return ceiling * rng.uniform(0.5, 1.0)


def new_worker_id() -> str:
    """Unique per process (and per dispatcher): host, pid and a random suffix."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    uncertain: int = 0
    requeued_expired: int = 0
    uncertain_expired: int = 0
    skipped: int = 0  # the outcome could not be recorded: someone else holds the message

    def add(self, other: DispatchReport) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Dispatcher:
    factory: sessionmaker[Session]
    adapters: Mapping[OutboxChannel, Adapter]
    clock: Clock
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    worker_id: str = field(default_factory=new_worker_id)
    rng: random.Random = field(default_factory=random.Random)

    def sweep(self) -> tuple[int, int]:
        resendable = [c for c, a in self.adapters.items() if a.idempotent]
        with unit_of_work(self.factory) as session:
            return service.sweep_expired(
                session,
                now=self.clock(),
                resendable=resendable,
                max_attempts=self.policy.max_attempts,
            )

    def claim(self, batch: int) -> list[tuple[OutgoingMessage, int]]:
        """Claim and commit; returns each message with its attempt number."""
        with unit_of_work(self.factory) as session:
            claimed = service.claim_due(
                session,
                worker_id=self.worker_id,
                now=self.clock(),
                lease=self.policy.lease,
                limit=batch,
                channels=list(self.adapters),
            )
            return [(OutgoingMessage.of(m), m.attempts) for m in claimed]

    def deliver(self, message: OutgoingMessage, attempts: int, report: DispatchReport) -> None:
        """Send one claimed message and record what happened. No transaction is open while
        the adapter runs. A BaseException (the process being killed) is not caught."""
        adapter = self.adapters[message.channel]
        try:
            result = adapter.send(message)
        except TransientError as exc:
            self._transient(message, attempts, str(exc), report)
            return
        except PermanentError as exc:
            self._record(report, "failed", message, error=str(exc))
            return
        except Exception as exc:  # the fate is unknown
            log.exception("outbox %s: adapter error, fate unknown", message.idempotency_key)
            if adapter.idempotent:
                self._transient(message, attempts, f"unknown outcome: {exc!r}", report)
            else:
                self._record(report, "uncertain", message, error=f"unknown outcome: {exc!r}")
            return
        with unit_of_work(self.factory) as session:
            ok = service.mark_sent(
                session, message.id, provider_id=result.provider_id, now=self.clock()
            )
        report.sent += ok
        report.skipped += not ok

    def _transient(
        self, message: OutgoingMessage, attempts: int, error: str, report: DispatchReport
    ) -> None:
        if attempts >= self.policy.max_attempts:
            self._record(report, "failed", message, error=f"gave up after {attempts}: {error}")
            return
        at = self.clock() + backoff(attempts, self.policy, self.rng)
        with unit_of_work(self.factory) as session:
            ok = service.mark_retry(
                session, message.id, worker_id=self.worker_id, error=error, next_attempt_at=at
            )
        report.retried += ok
        report.skipped += not ok

    def _record(
        self, report: DispatchReport, outcome: str, message: OutgoingMessage, *, error: str
    ) -> None:
        with unit_of_work(self.factory) as session:
            if outcome == "failed":
                ok = service.mark_failed(session, message.id, worker_id=self.worker_id, error=error)
                report.failed += ok
            else:
                ok = service.mark_uncertain(
                    session, message.id, worker_id=self.worker_id, error=error
                )
                report.uncertain += ok
        report.skipped += not ok
        if ok:
            log.warning("outbox %s %s: %s", message.idempotency_key, outcome, error)

    def run_once(self, batch: int = 50) -> DispatchReport:
        """One pass: sweep, claim a batch, deliver it."""
        report = DispatchReport()
        report.requeued_expired, report.uncertain_expired = self.sweep()
        claimed = self.claim(batch)
        report.claimed = len(claimed)
        for message, attempts in claimed:
            self.deliver(message, attempts, report)
        return report

    def run(
        self,
        *,
        batch: int = 50,
        poll: float = 2.0,
        stop: threading.Event | None = None,
        until_idle: bool = False,
    ) -> DispatchReport:
        """Loop until ``stop`` is set (or, with ``until_idle``, until a pass claims nothing).
        A full batch is followed at once by another; an empty one waits ``poll`` seconds."""
        stop = stop or threading.Event()
        total = DispatchReport()
        while not stop.is_set():
            report = self.run_once(batch)
            total.add(report)
            if report.claimed == 0:
                if until_idle:
                    break
                stop.wait(poll)
        return total
