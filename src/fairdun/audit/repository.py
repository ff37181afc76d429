"""All SQL of the audit trail."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from fairdun.audit.chain import Entry
from fairdun.audit.models import AuditRecord

# Any constant works; it names the lock that serialises appends on PostgreSQL.
_PG_LOCK_KEY = 0x6661697264756E


def lock_chain(session: Session) -> None:
    """Serialise appends so two writers never read the same chain head.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: a write statement that
    matches no row still takes the database's write lock (waiting out other
    writers), so the head read next is current until this transaction commits.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    elif dialect == "sqlite":
        session.execute(text("UPDATE audit_records SET actor = actor WHERE 0 = 1"))


def head_hash(session: Session) -> str | None:
    return session.scalar(select(AuditRecord.hash).order_by(AuditRecord.id.desc()).limit(1))


def add(session: Session, record: AuditRecord) -> None:
    session.add(record)
    session.flush()


def iter_entries(session: Session, batch: int = 1000) -> Iterator[Entry]:
    """Records in id order as plain values (no ORM identity map growth on long chains)."""
    cols = (
        AuditRecord.id,
        AuditRecord.created_at,
        AuditRecord.actor,
        AuditRecord.action,
        AuditRecord.target,
        AuditRecord.institution_id,
        AuditRecord.details,
        AuditRecord.decided_by,
        AuditRecord.prev_hash,
        AuditRecord.hash,
    )
    last_id = 0
    while True:
        rows = session.execute(
            select(*cols).where(AuditRecord.id > last_id).order_by(AuditRecord.id).limit(batch)
        ).all()
        if not rows:
            return
        for r in rows:
            yield Entry(*r)
        last_id = rows[-1][0]


def list_records(
    session: Session, *, institution_id: int | None, limit: int, before_id: int | None = None
) -> list[AuditRecord]:
    stmt = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
    if institution_id is not None:
        stmt = stmt.where(AuditRecord.institution_id == institution_id)
    if before_id is not None:
        stmt = stmt.where(AuditRecord.id < before_id)
    return list(session.scalars(stmt).all())


def count(session: Session) -> int:
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).select_from(AuditRecord)) or 0)
