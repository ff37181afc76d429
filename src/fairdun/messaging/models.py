"""The message template table. A template is versioned: editing makes a new draft
version; activating one retires the previously active version of the same key."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fairdun.kit.clock import utcnow
from fairdun.kit.db import Base, UTCDateTime


class TemplateStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    RETIRED = "retired"


class MessageTemplate(Base):
    __tablename__ = "message_templates"
    __table_args__ = (UniqueConstraint("institution_id", "key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # the unique (institution_id, key, version) constraint serves lookups by institution
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    key: Mapped[str] = mapped_column(String(60))
    version: Mapped[int]
    channel: Mapped[str] = mapped_column(String(10))
    lang: Mapped[str] = mapped_column(String(2))
    jurisdiction: Mapped[str] = mapped_column(String(2))
    recipient_role: Mapped[str] = mapped_column(String(20), default="debtor")
    first_contact: Mapped[bool] = mapped_column(default=False)
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=TemplateStatus.DRAFT.value)
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    activated_by: Mapped[str | None] = mapped_column(String(60), nullable=True)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
