"""Write to and read the outbox. Never commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairdun.outbox.models import OutboxChannel, OutboxMessage, OutboxStatus


def enqueue(
    session: Session,
    *,
    channel: OutboxChannel,
    recipient: str,
    body: str,
    kind: str,
    now: datetime,
    institution_id: int | None = None,
) -> OutboxMessage:
    """Queue one message in the caller's transaction: it leaves only if the caller commits."""
    message = OutboxMessage(
        channel=channel,
        recipient=recipient,
        body=body,
        kind=kind,
        institution_id=institution_id,
        status=OutboxStatus.QUEUED,
        created_at=now,
    )
    session.add(message)
    session.flush()
    return message


def listing(
    session: Session, *, status: OutboxStatus | None = None, limit: int = 50
) -> list[OutboxMessage]:
    """The newest messages first."""
    stmt = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(OutboxMessage.status == status)
    return list(session.scalars(stmt).all())
