"""Tables of the contact gate: parties, their contact points, the contact log (reservations
and account events), the gate's decisions, and the third-party shield.

There is no table for a borrower's phone book and no column that could hold a list of
contacts: a party is one person with a role on one loan, and each number or address
records the lawful source it came from.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fairdun.kit.clock import utcnow
from fairdun.kit.db import Base, EncryptedString, UTCDateTime


class PartyRole(StrEnum):
    """Who a party is to the loan; the values are the compliance engine's ``Role`` values."""

    DEBTOR = "debtor"
    CO_OBLIGOR = "co_obligor"
    GUARANTOR = "guarantor"
    CONTACT_PERSON = "contact_person"


class LawfulBasis(StrEnum):
    """Why the platform may hold a contact person's details (PIPL art. 13)."""

    CONSENT = "consent"  # the contact person agreed (art. 13(1), 14)
    CONTRACT = "contract"  # necessary for the loan contract the borrower signed (art. 13(2))
    LEGAL_DUTY = "legal_duty"  # required by law (art. 13(3))


class PointKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    ADDRESS = "address"


class PointSource(StrEnum):
    """Where a number or address came from: only sources with a lawful basis exist here."""

    BORROWER_PROVIDED = "borrower_provided"
    LOAN_CONTRACT = "loan_contract"
    PUBLIC_REGISTRY = "public_registry"
    COURT_RECORD = "court_record"
    RETURNED_BY_PERSON = "returned_by_person"  # the person gave it to us themselves


class EventKind(StrEnum):
    """A row of the contact log: a gate-allowed contact, or an account event."""

    CONTACT = "contact"
    CEASE_REQUEST = "cease_request"
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_RESOLVED = "dispute_resolved"
    ATTORNEY_RETAINED = "attorney_retained"
    MEDIUM_OPT_OUT = "medium_opt_out"
    CALL_CONSENT = "call_consent"
    CONTACT_REFUSED = "contact_refused"
    CONTACT_AGREEMENT = "contact_agreement"


class ContactParty(Base):
    """A person a loan's collector may ever contact: the borrower, a co-obligor or guarantor
    bound by a contract, or a contact person the borrower designated on a lawful basis."""

    __tablename__ = "contact_parties"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    role: Mapped[PartyRole] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(EncryptedString("contact_parties.name"))
    # Set only on the debtor's party; UNIQUE, so a loan has one debtor party.
    debtor_loan_id: Mapped[int | None] = mapped_column(nullable=True, unique=True)
    borrower_id: Mapped[int | None] = mapped_column(ForeignKey("borrowers.id"), nullable=True)
    # Co-obligor or guarantor: the contract that binds them (required for those roles).
    contract_reference: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # Contact person: the lawful basis, the day it was given, and who designated them.
    lawful_basis: Mapped[LawfulBasis | None] = mapped_column(String(20), nullable=True)
    basis_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    designated_by: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ContactPoint(Base):
    """One phone number, e-mail or postal address of a party, with its source and zone."""

    __tablename__ = "contact_points"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("contact_parties.id"), index=True)
    kind: Mapped[PointKind] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(EncryptedString("contact_points.value"))
    value_index: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[PointSource] = mapped_column(String(30))
    # IANA zone of the person at this point; empty means unknown (the gate then denies).
    timezone: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ContactLogEntry(Base):
    """The contact log. A contact row is written only when the gate allows it (its
    reservation); its outcome is filled in later, and a reservation that expires without
    one counts as a placed call with no answer. Account events are rows of other kinds."""

    __tablename__ = "contact_events"
    __table_args__ = (
        Index("ix_contact_events_institution_borrower", "institution_id", "borrower_id"),
        Index("ix_contact_events_institution_address", "institution_id", "address_index"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reservation: Mapped[str | None] = mapped_column(String(36), nullable=True, unique=True)
    kind: Mapped[EventKind] = mapped_column(String(30))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))  # the lender
    collector_institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"))
    party_id: Mapped[int | None] = mapped_column(ForeignKey("contact_parties.id"), nullable=True)
    point_id: Mapped[int | None] = mapped_column(ForeignKey("contact_points.id"), nullable=True)
    role: Mapped[str | None] = mapped_column(String(20), nullable=True)
    channel: Mapped[str | None] = mapped_column(String(10), nullable=True)
    direction: Mapped[str] = mapped_column(String(10), default="outbound")
    address_index: Mapped[str | None] = mapped_column(String(64), nullable=True)
    purpose: Mapped[str] = mapped_column(String(30), default="collect")
    timezone: Mapped[str] = mapped_column(String(64), default="")
    staff_count: Mapped[int | None] = mapped_column(nullable=True)
    # contact_agreement: the agreed window HH:MM-HH:MM (never personal data).
    content: Mapped[str] = mapped_column(String(20), default="")
    # Account events bind every collector named here (space-separated engine ids).
    applies_to: Mapped[str] = mapped_column(String(200), default="")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    actor: Mapped[str] = mapped_column(String(100))
    pack: Mapped[str] = mapped_column(String(40), default="")
    pack_version: Mapped[str] = mapped_column(String(60), default="")


class ContactDecision(Base):
    """Every answer of the gate, allowed or denied, for the loan page (the audit trail holds
    the same decision in its hash chain)."""

    __tablename__ = "contact_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    collector_institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    party_id: Mapped[int | None] = mapped_column(nullable=True)
    point_id: Mapped[int | None] = mapped_column(nullable=True)
    channel: Mapped[str] = mapped_column(String(20), default="")
    purpose: Mapped[str] = mapped_column(String(30), default="")
    allowed: Mapped[bool]
    rules: Mapped[str] = mapped_column(String(500), default="")  # space-separated rule ids
    # JSON list of {rule, message, message_zh}: rule texts, never personal data.
    reasons: Mapped[str] = mapped_column(Text, default="[]")
    earliest_lawful_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="")
    reservation: Mapped[str | None] = mapped_column(String(36), nullable=True)
    pack: Mapped[str] = mapped_column(String(40), default="")
    pack_version: Mapped[str] = mapped_column(String(60), default="")
    actor: Mapped[str] = mapped_column(String(100))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ShieldedNumber(Base):
    """A number whose holder declared 'not a debtor here; never contact me about someone
    else's debt'. Only a keyed hash of the number is kept."""

    __tablename__ = "shielded_numbers"

    id: Mapped[int] = mapped_column(primary_key=True)
    number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ShieldVerification(Base):
    """A one-time code sent to a number to prove its holder asked for the shield."""

    __tablename__ = "shield_verifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(36), unique=True)  # the public handle
    number_hash: Mapped[str] = mapped_column(String(64), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    requester_hash: Mapped[str] = mapped_column(String(64), index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
