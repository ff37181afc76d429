"""The outbox table. A message is written in the same transaction as the change that
caused it, and a sender (issue 7's worker) delivers it later; nothing here talks to a
network."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from fairdun.kit.clock import utcnow
from fairdun.kit.db import Base, EncryptedString, UTCDateTime


class OutboxChannel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"


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
