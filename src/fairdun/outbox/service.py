"""Write to and read the outbox. Never commits."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from fairdun.outbox.models import OutboxChannel, OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)


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


# --- dispatch: every change below is a conditional UPDATE, safe under concurrent workers ---

_DUE = (OutboxStatus.QUEUED,)


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        OutboxMessage.status.in_(_DUE),
        or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now),
    )


def claim_due(
    session: Session,
    *,
    worker_id: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    channels: Collection[OutboxChannel] | None = None,
) -> list[OutboxMessage]:
    """Claim up to ``limit`` due messages for ``worker_id``: status sending, a lease, one
    more attempt. The caller commits before sending.

    One UPDATE does it. On PostgreSQL the SELECT in its CTE locks the rows and skips rows
    another worker holds (SKIP LOCKED); the UPDATE's WHERE re-checks the status, so a row
    claimed meanwhile is never claimed twice. On SQLite the UPDATE holds the write lock."""
    condition = _due(now)
    if channels is not None:
        condition = and_(condition, OutboxMessage.channel.in_([str(c) for c in channels]))
    # A CTE, not ``id IN (subquery)``: PostgreSQL may run an IN-subquery more than once,
    # and with SKIP LOCKED each run finds new rows, so LIMIT stopped limiting (a test saw
    # one worker claim 40 rows with a limit of 5). A CTE runs exactly once.
    candidates = (
        select(OutboxMessage.id)
        .where(condition)
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.id == candidates.c.id, condition)
        .values(
            status=OutboxStatus.SENDING,
            claimed_by=worker_id,
            claimed_until=now + lease,
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    ids = list(session.scalars(stmt).all())
    if not ids:
        return []
    rows = select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
    return list(session.scalars(rows.execution_options(populate_existing=True)).all())


def _set(session: Session, message_id: int, where: ColumnElement[bool], **values: Any) -> bool:
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, where)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def _held_by(worker_id: str) -> ColumnElement[bool]:
    return and_(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.claimed_by == worker_id)


def mark_sent(session: Session, message_id: int, *, provider_id: str | None, now: datetime) -> bool:
    """The provider took it. Also from uncertain or re-queued: a late answer is the truth."""
    return _set(
        session,
        message_id,
        OutboxMessage.status.in_(
            (OutboxStatus.SENDING, OutboxStatus.UNCERTAIN, OutboxStatus.QUEUED)
        ),
        status=OutboxStatus.SENT,
        provider_message_id=provider_id,
        sent_at=now,
        claimed_by=None,
        claimed_until=None,
        next_attempt_at=None,
        last_error=None,
    )


def mark_retry(
    session: Session, message_id: int, *, worker_id: str, error: str, next_attempt_at: datetime
) -> bool:
    """Not sent, try again later (only if this worker still holds it)."""
    return _set(
        session,
        message_id,
        _held_by(worker_id),
        status=OutboxStatus.QUEUED,
        next_attempt_at=next_attempt_at,
        claimed_by=None,
        claimed_until=None,
        last_error=error[:500],
    )


def mark_failed(session: Session, message_id: int, *, worker_id: str, error: str) -> bool:
    """Not sent and never will be (only if this worker still holds it)."""
    return _set(
        session,
        message_id,
        _held_by(worker_id),
        status=OutboxStatus.FAILED,
        claimed_by=None,
        claimed_until=None,
        next_attempt_at=None,
        last_error=error[:500],
    )


def mark_uncertain(session: Session, message_id: int, *, worker_id: str, error: str) -> bool:
    """Perhaps sent: kept out of every retry; a person (or a receipt) settles it."""
    return _set(
        session,
        message_id,
        _held_by(worker_id),
        status=OutboxStatus.UNCERTAIN,
        claimed_until=None,
        last_error=error[:500],
    )


def sweep_expired(
    session: Session,
    *,
    now: datetime,
    resendable: Collection[OutboxChannel],
    max_attempts: int,
) -> tuple[int, int]:
    """Messages whose worker's lease ran out (the worker died, perhaps after sending).

    On a channel whose adapter deduplicates (``resendable``) they are queued again and
    re-sent with the same idempotency key; everywhere else they become uncertain and are
    never sent again. Returns (re-queued, uncertain)."""
    expired = and_(
        OutboxMessage.status == OutboxStatus.SENDING,
        OutboxMessage.claimed_until.is_not(None),
        OutboxMessage.claimed_until < now,
    )
    channels = [str(c) for c in resendable]
    note = "worker lease expired during sending"
    requeued = session.execute(
        update(OutboxMessage)
        .where(
            expired,
            OutboxMessage.channel.in_(channels),
            OutboxMessage.attempts < max_attempts,
        )
        .values(
            status=OutboxStatus.QUEUED,
            claimed_by=None,
            claimed_until=None,
            next_attempt_at=now,
            last_error=note + "; re-sent with the same idempotency key",
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    uncertain = session.execute(
        update(OutboxMessage)
        .where(expired)
        .values(
            status=OutboxStatus.UNCERTAIN,
            claimed_until=None,
            last_error=note + "; may have been sent, not re-sent",
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if requeued or uncertain:
        log.warning("outbox sweep: %d re-queued, %d uncertain", requeued, uncertain)
    return int(requeued), int(uncertain)


class ReceiptStatus(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"


def _find(session: Session, reference: str | int) -> OutboxMessage | None:
    if isinstance(reference, int):
        return session.get(OutboxMessage, reference)
    found = session.scalars(
        select(OutboxMessage).where(OutboxMessage.provider_message_id == reference).limit(1)
    ).first()
    if found is None and reference.startswith("outbox-") and reference[7:].isdigit():
        return session.get(OutboxMessage, int(reference[7:]))
    return found


def record_receipt(session: Session, reference: str | int, status: str, at: datetime) -> bool:
    """Apply a delivery receipt, found by the provider's id, our message id, or our
    idempotency key (``outbox-<id>``). Anything unknown or malformed is logged and ignored:
    False, never an exception. Delivered is final; a receipt does not undo it."""
    try:
        receipt = ReceiptStatus(status)
    except ValueError:
        log.warning("outbox receipt ignored: unknown status %r for %r", status, reference)
        return False
    message = _find(session, reference)
    if message is None:
        log.warning("outbox receipt ignored: no message %r", reference)
        return False
    if message.status == OutboxStatus.DELIVERED:
        return receipt is ReceiptStatus.DELIVERED
    if receipt is ReceiptStatus.DELIVERED:
        message.status = OutboxStatus.DELIVERED
        message.delivered_at = at
        if message.sent_at is None:
            message.sent_at = at
    else:
        message.status = OutboxStatus.FAILED
        message.last_error = f"delivery receipt: failed at {at.isoformat()}"
    message.claimed_by = None
    message.claimed_until = None
    session.flush()
    return True
