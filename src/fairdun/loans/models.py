"""Tables of the ledger. Derived columns (state, instalment paid amounts, bucket spells)
are rewritten from a replay of the loan's events whenever an event is recorded.

Money columns are BIGINT minor units: an INTEGER would stop at 21,474,836.47 CNY on
PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fairdun.kit.clock import utcnow
from fairdun.kit.db import Base, DecimalText, EncryptedString, UTCDateTime


class LoanStatus(StrEnum):
    CURRENT = "current"
    DELINQUENT = "delinquent"
    PAID_OFF = "paid_off"
    CHARGED_OFF = "charged_off"


class Product(Base):
    """A lender's product: the rules its loans share (waterfall, tolerance, buckets, penalty)."""

    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("institution_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    waterfall: Mapped[str] = mapped_column(String(100))  # comma-separated Component values
    tolerance: Mapped[int] = mapped_column(BigInteger, default=100)
    buckets: Mapped[str] = mapped_column(Text)  # JSON: [[code, min_days, max_days|null], ...]
    penalty_daily_rate: Mapped[Decimal] = mapped_column(DecimalText())
    penalty_cap_ratio: Mapped[Decimal] = mapped_column(DecimalText())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Borrower(Base):
    __tablename__ = "borrowers"
    __table_args__ = (UniqueConstraint("institution_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(EncryptedString("borrowers.name"))
    id_number: Mapped[str | None] = mapped_column(
        EncryptedString("borrowers.id_number"), nullable=True
    )
    id_number_index: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    phone: Mapped[str | None] = mapped_column(EncryptedString("borrowers.phone"), nullable=True)
    phone_index: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    email: Mapped[str | None] = mapped_column(EncryptedString("borrowers.email"), nullable=True)
    address: Mapped[str | None] = mapped_column(EncryptedString("borrowers.address"), nullable=True)
    # The portal account of this borrower, when they have one.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Loan(Base):
    __tablename__ = "loans"
    __table_args__ = (
        UniqueConstraint("institution_id", "external_id"),
        Index("ix_loans_institution_bucket", "institution_id", "bucket"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed by UNIQUE (institution_id, external_id), whose first column it is.
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    # Terms
    principal: Mapped[int] = mapped_column(BigInteger)
    annual_rate: Mapped[Decimal] = mapped_column(DecimalText())
    term_months: Mapped[int]
    start_date: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(30))
    upfront_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    periodic_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    # Events that are not payments
    disputed: Mapped[bool] = mapped_column(default=False)
    charged_off_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    placed_agency_id: Mapped[int | None] = mapped_column(
        ForeignKey("institutions.id"), nullable=True, index=True
    )
    # True cost (from the contract schedule) and legal caps
    nominal_apr: Mapped[Decimal] = mapped_column(DecimalText())
    effective_apr: Mapped[Decimal] = mapped_column(DecimalText())
    cap_flags: Mapped[str] = mapped_column(String(200), default="")  # comma-separated cap ids
    # Charges above the binding cap (FAIRDUN_COLLECTABLE_CAP): never to be collected.
    not_collectable: Mapped[int] = mapped_column(BigInteger, default=0)
    # State as of state_as_of, rewritten by every recompute
    state_as_of: Mapped[date] = mapped_column(Date)
    status: Mapped[LoanStatus] = mapped_column(String(20), index=True)
    days_past_due: Mapped[int] = mapped_column(default=0, index=True)
    worst_days_past_due: Mapped[int] = mapped_column(default=0)
    bucket: Mapped[str] = mapped_column(String(10), default="C")
    paused: Mapped[bool] = mapped_column(default=False)
    outstanding_principal: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_past_due: Mapped[int] = mapped_column(BigInteger, default=0)
    payoff_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    credit: Mapped[int] = mapped_column(BigInteger, default=0)
    total_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_off_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class InstalmentRow(Base):
    __tablename__ = "instalments"
    __table_args__ = (UniqueConstraint("loan_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))  # indexed by the UNIQUE
    number: Mapped[int]
    due_date: Mapped[date] = mapped_column(Date, index=True)
    # As contracted
    principal: Mapped[int] = mapped_column(BigInteger)
    interest: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    not_collectable: Mapped[int] = mapped_column(BigInteger, default=0)
    # As replayed (after prepayment reductions and payments)
    interest_due: Mapped[int] = mapped_column(BigInteger, default=0)
    # The fee still owed for this period: the contracted ``fee`` unless a prepayment that
    # closed the loan (or dropped the period) waived it. The tolerance test reads this.
    fee_due: Mapped[int] = mapped_column(BigInteger, default=0)
    principal_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    interest_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    fee_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    penalty_accrued: Mapped[int] = mapped_column(BigInteger, default=0)
    penalty_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    settled_date: Mapped[date | None] = mapped_column(Date, nullable=True)


class LoanPayment(Base):
    __tablename__ = "loan_payments"
    __table_args__ = (UniqueConstraint("loan_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    paid_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger)
    recorded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reversal_reason: Mapped[str] = mapped_column(Text, default="")


class DelinquencyPause(Base):
    __tablename__ = "delinquency_pauses"

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    reason: Mapped[str] = mapped_column(String(40))  # hardship | dispute | other
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BucketSpellRow(Base):
    """Derived: the loan's bucket history, rewritten by each recompute."""

    __tablename__ = "bucket_spells"

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    bucket: Mapped[str] = mapped_column(String(10))
    entered_date: Mapped[date] = mapped_column(Date)
    left_date: Mapped[date | None] = mapped_column(Date, nullable=True)
