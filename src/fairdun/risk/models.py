"""Tables of risk control: repayment promises, scores, black/grey/white lists with their
appeals, credit lines, and the limit and rate decisions made over them.

A model bundle itself lives on disk (``fairdun.risk.bundle``, hash-checked); the database
keeps what was scored with it (``risk_scores``), by bundle id and version, so a watchlist
or a notice can always say which model produced a figure.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fairdun.kit.clock import utcnow
from fairdun.kit.db import Base, DecimalText, EncryptedString, UTCDateTime


class ListKind(StrEnum):
    BLACK = "black"
    GREY = "grey"
    WHITE = "white"


class ListSource(StrEnum):
    RULE = "rule"
    MODEL = "model"
    MANUAL = "manual"


class ListStatus(StrEnum):
    PENDING = "pending"  # a manual entry waiting for its checker
    ACTIVE = "active"
    REJECTED = "rejected"  # the checker said no
    REVOKED = "revoked"  # taken off (appeal upheld, or by hand)


class AppealStatus(StrEnum):
    OPEN = "open"
    UPHELD = "upheld"  # the entry is revoked
    DISMISSED = "dismissed"


class PromiseToPay(Base):
    """A repayment promise a borrower made (to a collector or on the portal).

    Kept or broken is not stored: it follows from the payments (``fairdun.risk.features``),
    so a back-dated payment or a reversal changes it without anyone updating this row."""

    __tablename__ = "promises_to_pay"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    made_on: Mapped[date] = mapped_column(Date)
    promised_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(20), default="call")  # call|portal|visit|sms
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RiskScore(Base):
    """One loan's score as of a date, by one model bundle."""

    __tablename__ = "risk_scores"
    __table_args__ = (
        UniqueConstraint("loan_id", "as_of", "model_id", name="uq_risk_scores_loan_day_model"),
        Index("ix_risk_scores_institution_as_of", "institution_id", "as_of"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    as_of: Mapped[date] = mapped_column(Date)
    model_id: Mapped[str] = mapped_column(String(100))  # bundle name@version
    model_sha256: Mapped[str] = mapped_column(String(64))
    score: Mapped[int | None] = mapped_column(nullable=True)  # scorecard points
    probability: Mapped[float] = mapped_column(Float)  # of the model's target
    exposure: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units
    expected_loss: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units
    days_past_due: Mapped[int] = mapped_column(default=0)
    # JSON list of {"feature", "code", "value", "impact"}; the words come from reasons.py.
    reasons: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ListEntry(Base):
    """A borrower on the black, grey or white list of one institution."""

    __tablename__ = "risk_list_entries"
    __table_args__ = (Index("ix_risk_list_entries_borrower", "institution_id", "borrower_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"))
    kind: Mapped[ListKind] = mapped_column(String(10))
    source: Mapped[ListSource] = mapped_column(String(10))
    rule_id: Mapped[str] = mapped_column(String(100), default="")  # source rule or model id
    reason: Mapped[str] = mapped_column(String(500))
    effective_date: Mapped[date] = mapped_column(Date)
    expiry_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[ListStatus] = mapped_column(String(10), index=True)
    maker: Mapped[str] = mapped_column(String(100))
    checker: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision_note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ListAppeal(Base):
    """A borrower's appeal against a list entry: a case with a deadline."""

    __tablename__ = "risk_list_appeals"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("risk_list_entries.id"), index=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    text: Mapped[str] = mapped_column(EncryptedString("risk_list_appeals.text", length=8000))
    status: Mapped[AppealStatus] = mapped_column(String(10), default=AppealStatus.OPEN, index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    due_date: Mapped[date] = mapped_column(Date, index=True)
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision_note: Mapped[str] = mapped_column(String(1000), default="")


class CreditLine(Base):
    """What a borrower may borrow from one institution, and at what rate."""

    __tablename__ = "credit_lines"
    __table_args__ = (
        UniqueConstraint("institution_id", "borrower_id", name="uq_credit_lines_borrower"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    credit_limit: Mapped[int] = mapped_column(BigInteger)  # minor units
    annual_rate: Mapped[Decimal] = mapped_column(DecimalText())
    frozen: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CreditDecision(Base):
    """One limit or rate decision by the adjustment rules, with its explanation."""

    __tablename__ = "credit_decisions"
    __table_args__ = (
        Index("ix_credit_decisions_institution_as_of", "institution_id", "as_of"),
        # One decision per borrower, day and rule set version: a rerun cannot add another.
        UniqueConstraint(
            "institution_id", "borrower_id", "as_of", "rules_id", name="uq_credit_decisions_run"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    as_of: Mapped[date] = mapped_column(Date)
    rules_id: Mapped[str] = mapped_column(String(100))  # rule set id@version
    rule_id: Mapped[str] = mapped_column(String(100))  # the rule that fired ("" = none)
    action: Mapped[str] = mapped_column(String(30))
    old_limit: Mapped[int] = mapped_column(BigInteger)
    new_limit: Mapped[int] = mapped_column(BigInteger)
    old_rate: Mapped[Decimal] = mapped_column(DecimalText())
    new_rate: Mapped[Decimal] = mapped_column(DecimalText())
    score: Mapped[int | None] = mapped_column(nullable=True)
    list_kind: Mapped[str] = mapped_column(String(10), default="")
    # JSON: {"en": "...", "zh": "..."} and the inputs the rule saw.
    explanation: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
