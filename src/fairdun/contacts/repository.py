"""All SQL of the contact gate. Every read of a party, a point or a reservation goes
through the loans the principal may see (``loans.repository.visible_loans``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.orm import Session

from fairdun.contacts.models import (
    ContactDecision,
    ContactLogEntry,
    ContactParty,
    ContactPoint,
    PointSource,
    ShieldedNumber,
    ShieldVerification,
)
from fairdun.identity.principal import Principal
from fairdun.loans.models import Loan
from fairdun.loans.repository import visible_loans

# Namespaces of the two-key advisory locks (PostgreSQL): one per borrower, one per number.
_LOCK_BORROWER = 0x66640001
_LOCK_NUMBER = 0x66640002


def _visible_loan_ids(principal: Principal) -> Select[tuple[int]]:
    return visible_loans(principal).with_only_columns(Loan.id)


def lock_debtor(session: Session, borrower_id: int, address_index: str | None) -> None:
    """Serialise the gate for one debtor (and one number), so that two concurrent dialers
    never both read a history that leaves room for one more call.

    PostgreSQL: transaction-scoped advisory locks, borrower first, then the number (one
    borrower per transaction, so the order cannot deadlock). The next statement in READ
    COMMITTED sees everything the previous holder committed. SQLite: a write statement that
    matches no row takes the database's write lock, which serialises all writers.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, :key)"),
            {"ns": _LOCK_BORROWER, "key": borrower_id},
        )
        if address_index:
            key = int(address_index[:8], 16)
            if key >= 1 << 31:
                key -= 1 << 32  # int4
            session.execute(
                text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                {"ns": _LOCK_NUMBER, "key": key},
            )
    elif dialect == "sqlite":
        session.execute(text("UPDATE contact_events SET id = id WHERE 0 = 1"))


def party(session: Session, party_id: int, loan_id: int) -> ContactParty | None:
    return session.scalar(
        select(ContactParty).where(ContactParty.id == party_id, ContactParty.loan_id == loan_id)
    )


def visible_party(session: Session, principal: Principal, party_id: int) -> ContactParty | None:
    return session.scalar(
        select(ContactParty).where(
            ContactParty.id == party_id,
            ContactParty.loan_id.in_(_visible_loan_ids(principal)),
        )
    )


def debtor_party(session: Session, loan_id: int) -> ContactParty | None:
    return session.scalar(select(ContactParty).where(ContactParty.debtor_loan_id == loan_id))


def parties(session: Session, loan_id: int) -> list[ContactParty]:
    order = (ContactParty.debtor_loan_id.is_(None), ContactParty.id)
    return list(
        session.scalars(
            select(ContactParty).where(ContactParty.loan_id == loan_id).order_by(*order)
        ).all()
    )


def point(session: Session, point_id: int, party_id: int) -> ContactPoint | None:
    return session.scalar(
        select(ContactPoint).where(ContactPoint.id == point_id, ContactPoint.party_id == party_id)
    )


def points(session: Session, party_ids: list[int]) -> list[ContactPoint]:
    if not party_ids:
        return []
    return list(
        session.scalars(
            select(ContactPoint)
            .where(ContactPoint.party_id.in_(party_ids))
            .order_by(ContactPoint.party_id, ContactPoint.id)
        ).all()
    )


def point_by_index(session: Session, party_id: int, value_index: str) -> ContactPoint | None:
    return session.scalar(
        select(ContactPoint).where(
            ContactPoint.party_id == party_id, ContactPoint.value_index == value_index
        )
    )


def debtor_owns(session: Session, loan_id: int, value_index: str) -> bool:
    """Is the number on the debtor's party of this loan, from the borrower or the contract?"""
    found = session.scalar(
        select(ContactPoint.id)
        .join(ContactParty, ContactParty.id == ContactPoint.party_id)
        .where(
            ContactParty.debtor_loan_id == loan_id,
            ContactPoint.value_index == value_index,
            ContactPoint.source.in_((PointSource.BORROWER_PROVIDED, PointSource.LOAN_CONTRACT)),
        )
        .limit(1)
    )
    return found is not None


def history(
    session: Session,
    *,
    lender_id: int,
    borrower_id: int,
    address_index: str | None,
    since: datetime,
) -> list[ContactLogEntry]:
    """The log the rules need for one proposed contact, in time order: everything about
    this borrower's debts at this lender (account events are lasting flags, and the
    lost-contact streak has no time limit), plus every contact to the same number at this
    lender within the pack's longest window (a number can be shared between debtors)."""
    conditions = [ContactLogEntry.borrower_id == borrower_id]
    if address_index:
        conditions.append(
            (ContactLogEntry.address_index == address_index)
            & (ContactLogEntry.occurred_at >= since)
        )
    return list(
        session.scalars(
            select(ContactLogEntry)
            .where(ContactLogEntry.institution_id == lender_id, or_(*conditions))
            .order_by(ContactLogEntry.occurred_at, ContactLogEntry.id)
        ).all()
    )


def last_time(session: Session, lender_id: int, borrower_id: int) -> datetime | None:
    return session.scalar(
        select(func.max(ContactLogEntry.occurred_at)).where(
            ContactLogEntry.institution_id == lender_id,
            ContactLogEntry.borrower_id == borrower_id,
        )
    )


def log(session: Session, lender_id: int, loan_id: int | None = None) -> list[ContactLogEntry]:
    """A lender's whole contact log in time order (an export for audit replay)."""
    stmt = select(ContactLogEntry).where(ContactLogEntry.institution_id == lender_id)
    if loan_id is not None:
        stmt = stmt.where(ContactLogEntry.loan_id == loan_id)
    return list(
        session.scalars(stmt.order_by(ContactLogEntry.occurred_at, ContactLogEntry.id)).all()
    )


def loan_log(session: Session, loan_id: int, limit: int = 50) -> list[ContactLogEntry]:
    return list(
        session.scalars(
            select(ContactLogEntry)
            .where(ContactLogEntry.loan_id == loan_id)
            .order_by(ContactLogEntry.occurred_at.desc(), ContactLogEntry.id.desc())
            .limit(limit)
        ).all()
    )


def reservation(session: Session, principal: Principal, token: str) -> ContactLogEntry | None:
    """A reservation made by the principal's institution on a loan it may see."""
    return session.scalar(
        select(ContactLogEntry).where(
            ContactLogEntry.reservation == token,
            ContactLogEntry.collector_institution_id == principal.institution_id,
            ContactLogEntry.loan_id.in_(_visible_loan_ids(principal)),
        )
    )


def decisions(session: Session, loan_id: int, limit: int = 20) -> list[ContactDecision]:
    return list(
        session.scalars(
            select(ContactDecision)
            .where(ContactDecision.loan_id == loan_id)
            .order_by(ContactDecision.id.desc())
            .limit(limit)
        ).all()
    )


def is_shielded(session: Session, number_hash: str) -> bool:
    found = session.scalar(
        select(ShieldedNumber.id).where(ShieldedNumber.number_hash == number_hash)
    )
    return found is not None


def verification(session: Session, token: str) -> ShieldVerification | None:
    return session.scalar(select(ShieldVerification).where(ShieldVerification.token == token))


def recent_verifications(
    session: Session,
    *,
    since: datetime,
    number_hash: str | None = None,
    requester_hash: str | None = None,
) -> int:
    stmt = (
        select(func.count())
        .select_from(ShieldVerification)
        .where(ShieldVerification.created_at >= since)
    )
    if number_hash is not None:
        stmt = stmt.where(ShieldVerification.number_hash == number_hash)
    if requester_hash is not None:
        stmt = stmt.where(ShieldVerification.requester_hash == requester_hash)
    return int(session.scalar(stmt) or 0)
