"""Fifty dialers ask the gate for the same debtor at the same instant, each in its own
session and connection: exactly as many calls are allowed as the caps permit."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fairdun.contacts import service as contacts
from fairdun.contacts.models import ContactDecision, ContactLogEntry, ContactPoint
from fairdun.contacts.schemas import AuthorizeCreate
from fairdun.kit.db import session_factory, unit_of_work
from tests.contacts.conftest import MORNING, Book
from tests.factories import make_party

THREADS = 50


def _storm(engine: Engine, book: Book, party: int, point: int) -> list[contacts.GateResult]:
    factory = session_factory(engine)
    barrier = threading.Barrier(THREADS)
    results: list[contacts.GateResult] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def dialer() -> None:
        try:
            barrier.wait()
            with unit_of_work(factory) as session:
                result = contacts.authorize(
                    session,
                    book.collector,
                    AuthorizeCreate(
                        loan_id=book.loan.id, party_id=party, point_id=point, channel="call"
                    ),
                    MORNING,
                )
            with lock:
                results.append(result)
        except BaseException as exc:  # pragma: no cover - reported below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=dialer) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == THREADS
    return results


def _require_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the 50-dialer storm runs on PostgreSQL (SQLite has one writer at a time)")


def test_fifty_dialers_to_the_debtor_get_exactly_three_open_calls(
    engine: Engine, db: Session, book: Book
) -> None:
    """Open reservations count as conversations: three a day with a debtor."""
    _require_postgresql(engine)
    results = _storm(engine, book, book.debtor, book.debtor_phone)
    allowed = [r for r in results if r.decision.allowed]
    assert len(allowed) == 3
    denied_rules = {v.rule for r in results if not r.decision.allowed for v in r.violations}
    assert denied_rules == {"cn.voice-conversations-daily"}
    assert db.scalar(select(func.count()).select_from(ContactLogEntry)) == 3
    assert db.scalar(select(func.count()).select_from(ContactDecision)) == THREADS


def test_fifty_dialers_to_one_number_get_exactly_six_attempts(
    engine: Engine, db: Session, book: Book
) -> None:
    """A guarantor's conversations are not capped; the six attempts per number are."""
    _require_postgresql(engine)
    guarantor = make_party(db, book.loan, role="guarantor", name="钱七", phone="+86 100 0000 0009")
    point = db.scalar(select(ContactPoint.id).where(ContactPoint.party_id == guarantor))
    assert point is not None
    db.commit()
    results = _storm(engine, book, guarantor, point)
    allowed = [r for r in results if r.decision.allowed]
    assert len(allowed) == 6
    denied_rules = {v.rule for r in results if not r.decision.allowed for v in r.violations}
    assert denied_rules == {"cn.dial-attempts-daily"}
    reservations = db.scalars(select(ContactLogEntry.reservation)).all()
    assert len(set(reservations)) == 6
