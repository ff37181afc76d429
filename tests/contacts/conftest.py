"""Shared arrangements for the contact gate tests: a lender with a delinquent loan, its
debtor party (made from the borrower record) and helpers to ask the gate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from fairdun.contacts import service as contacts
from fairdun.contacts.schemas import AuthorizeCreate
from fairdun.identity.principal import Principal
from fairdun.institutions.models import Institution
from fairdun.loans.models import Loan
from tests.factories import collector_of, debtor_party_ids, make_institution, make_loan

# 10:00 in Shanghai, 2026-12-01 (a Tuesday).
MORNING = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@dataclass
class Book:
    lender: Institution
    loan: Loan
    collector: Principal
    debtor: int  # party id
    debtor_phone: int  # point id


@pytest.fixture
def book(db: Session) -> Book:
    lender = make_institution(db, name="甲银行")
    loan = make_loan(db, lender)
    debtor, phone = debtor_party_ids(db, loan)
    db.commit()
    return Book(lender, loan, collector_of(lender), debtor, phone)


def ask(
    db: Session,
    actor: Principal,
    loan: Loan,
    party: int | None,
    point: int | None,
    now: datetime,
    *,
    channel: str | None = "call",
    **fields: Any,
) -> contacts.GateResult:
    """One proposal through the gate, committed as a request would be."""
    result = contacts.authorize(
        db,
        actor,
        AuthorizeCreate(loan_id=loan.id, party_id=party, point_id=point, channel=channel, **fields),
        now,
    )
    db.commit()
    return result


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
