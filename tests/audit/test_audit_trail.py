"""The audit trail on a real database: append-only in app and database, tamper-evident."""

from __future__ import annotations

import itertools
import json
import threading

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from fairdun.audit import service as audit
from fairdun.audit.guard import AuditImmutable
from fairdun.audit.models import AuditRecord
from fairdun.identity.models import Role
from fairdun.kit.db import session_factory, unit_of_work
from tests.factories import make_institution, make_user


def _chain_of_five(db: Session) -> list[AuditRecord]:
    records = [
        audit.record(db, actor="user:1", action="test.step", target=f"t:{i}", details={"i": i})
        for i in range(5)
    ]
    db.commit()
    return records


def _without_triggers(db: Session, sql: str, params: dict[str, object]) -> None:
    """Tamper the way an attacker with database access would: bypass the triggers."""
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        db.execute(text("ALTER TABLE audit_records DISABLE TRIGGER audit_records_append_only"))
        db.execute(text(sql), params)
        db.execute(text("ALTER TABLE audit_records ENABLE TRIGGER audit_records_append_only"))
    else:
        db.execute(text("DROP TRIGGER audit_records_no_update"))
        db.execute(text("DROP TRIGGER audit_records_no_delete"))
        db.execute(text(sql), params)
    db.commit()


def test_records_form_a_verified_chain(db: Session) -> None:
    records = _chain_of_five(db)
    assert records[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    result = audit.verify(db)
    assert result.ok and result.checked == 5


def test_verify_names_the_first_altered_record(db: Session) -> None:
    records = _chain_of_five(db)
    _without_triggers(
        db,
        "UPDATE audit_records SET details = :d WHERE id = :id",
        {"d": json.dumps({"i": 99}), "id": records[2].id},
    )
    result = audit.verify(db)
    assert not result.ok
    assert result.broken_id == records[2].id
    assert "altered" in (result.problem or "")


def test_verify_names_the_record_after_a_deleted_one(db: Session) -> None:
    records = _chain_of_five(db)
    _without_triggers(db, "DELETE FROM audit_records WHERE id = :id", {"id": records[1].id})
    result = audit.verify(db)
    assert result.broken_id == records[2].id
    assert "link" in (result.problem or "")


def test_application_refuses_to_update_an_audit_record(db: Session) -> None:
    record = _chain_of_five(db)[0]
    record.details = "{}"
    with pytest.raises(AuditImmutable):
        db.flush()


def test_application_refuses_to_delete_an_audit_record(db: Session) -> None:
    record = _chain_of_five(db)[0]
    db.delete(record)
    with pytest.raises(AuditImmutable):
        db.flush()


def test_application_refuses_bulk_update_and_delete(db: Session) -> None:
    _chain_of_five(db)
    with pytest.raises(AuditImmutable):
        db.execute(update(AuditRecord).values(actor="x"))
    with pytest.raises(AuditImmutable):
        db.execute(delete(AuditRecord))


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_records SET actor = 'mallory'",
        "DELETE FROM audit_records",
        "TRUNCATE audit_records",
    ],
)
def test_database_trigger_refuses_raw_update_delete_and_truncate(db: Session, sql: str) -> None:
    if sql.startswith("TRUNCATE") and db.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE statement")
    _chain_of_five(db)
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(text(sql))
    db.rollback()
    assert audit.verify(db).ok


def test_a_fork_of_the_chain_is_impossible(db: Session) -> None:
    """Two records can never claim the same predecessor (unique prev_hash)."""
    first = _chain_of_five(db)[-1]
    clone = AuditRecord(
        created_at=first.created_at,
        actor="x",
        action="x",
        target="",
        institution_id=None,
        details="{}",
        decided_by=None,
        prev_hash=first.prev_hash,
        hash="f" * 64,
    )
    db.add(clone)
    with pytest.raises(DBAPIError):
        db.flush()


def test_decisions_of_the_registry_are_audited(db: Session) -> None:
    inst = make_institution(db, name="审计银行")
    make_user(db, role=Role.COLLECTOR, institution=inst)
    db.commit()
    actions = [
        r.action for r in audit.repository.list_records(db, institution_id=inst.id, limit=10)
    ]
    assert "institution.registered" in actions
    assert "user.created" in actions


def test_concurrent_writers_never_fork_the_chain(engine: Engine) -> None:
    """Four threads append at once, each in its own transactions; the chain stays one line."""
    factory = session_factory(engine)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                with unit_of_work(factory) as session:
                    audit.record(
                        session, actor=f"thread:{n}", action="test.concurrent", target=str(i)
                    )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with factory() as session:
        result = audit.verify(session)
    assert result.ok
    assert result.checked == 60
