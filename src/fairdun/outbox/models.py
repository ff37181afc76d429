"""The outbox table. A message is written in the same transaction as the change that
caused it, and the dispatcher (``fairdun worker``) delivers it later; nothing here talks
to a network. docs/outbox.md states the delivery guarantees."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fairdun.kit.clock import utcnow
from fairdun.kit.db import Base, EncryptedString, UTCDateTime


class OutboxChannel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    VOICE = "voice"
    LETTER = "letter"


class OutboxStatus(StrEnum):
    QUEUED = "queued"  # waiting, or waiting again after a transient error (next_attempt_at)
    SENDING = "sending"  # claimed by a worker under a lease; the send may be in flight
    SENT = "sent"  # the adapter accepted it
    DELIVERED = "delivered"  # a delivery receipt confirmed it
    FAILED = "failed"  # permanent error, too many attempts, or a failed receipt
    UNCERTAIN = "uncertain"  # a worker died mid-send: maybe sent, never re-sent blindly


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[OutboxChannel] = mapped_column(String(10))
    # The recipient's number or address and the text are personal data (the text may carry
    # a one-time code): both are stored encrypted.
    recipient: Mapped[str] = mapped_column(EncryptedString("outbox_messages.recipient"))
    body: Mapped[str] = mapped_column(EncryptedString("outbox_messages.body", length=4096))
    kind: Mapped[str] = mapped_column(String(40))  # what sent it, e.g. shield.code
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institutions.id"), nullable=True, index=True
    )
    status: Mapped[OutboxStatus] = mapped_column(
        String(10), default=OutboxStatus.QUEUED, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Dispatch bookkeeping: how often a worker claimed it, when it may be tried again, and
    # the lease of the worker holding it (a lease that runs out means the worker died).
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    provider_message_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @property
    def idempotency_key(self) -> str:
        """Stable across retries: a provider that deduplicates on it sends once."""
        return f"outbox-{self.id}"
