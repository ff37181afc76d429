"""Tables of the institution registry."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fairdun.kit.clock import utcnow
from fairdun.kit.db import Base, UTCDateTime


class InstitutionKind(StrEnum):
    BANK = "bank"
    CONSUMER_FINANCE = "consumer_finance_company"
    MICROCREDIT = "microcredit_company"
    ONLINE_LENDING = "online_lending_platform"
    COLLECTION_AGENCY = "collection_agency"
    REGULATOR = "regulator"

    @property
    def is_lender(self) -> bool:
        return self not in (InstitutionKind.COLLECTION_AGENCY, InstitutionKind.REGULATOR)


class LicenceStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class Institution(Base):
    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    kind: Mapped[InstitutionKind] = mapped_column(String(40))
    licence_number: Mapped[str] = mapped_column(String(100), default="")
    licence_status: Mapped[LicenceStatus] = mapped_column(String(20), default=LicenceStatus.ACTIVE)
    # The policy pack the contact gate applies to this lender's debts (fairdun.compliance).
    policy_pack: Mapped[str] = mapped_column(String(40), default="cn", server_default="cn")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class LicenceChange(Base):
    """History of licence status; the current status is the last row's ``to_status``."""

    __tablename__ = "licence_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    from_status: Mapped[LicenceStatus | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[LicenceStatus] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    changed_by: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AgencyEngagement(Base):
    """A collection agency (委外机构) serving a lender under a contract."""

    __tablename__ = "agency_engagements"
    __table_args__ = (UniqueConstraint("agency_id", "lender_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    contract_ref: Mapped[str] = mapped_column(String(100))
    start_date: Mapped[date] = mapped_column(Date)
    review_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
