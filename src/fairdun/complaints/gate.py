"""What the contact gate asks the reporting platform: does a report hold this loan?

A borrower who reports abusive collection about their own loan pauses its collection
until the report is reviewed (see ``config.HoldPolicy``). This module imports only the
models, so the gate can import it without a cycle.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from fairdun.complaints import repository

RULE_HOLD = "fairdun.complaint-hold"


def collection_hold(session: Session, loan_id: int) -> bool:
    """True while a report holds the collection of ``loan_id``."""
    return bool(repository.holding(session, loan_id))


def holding_complaints(session: Session, loan_id: int) -> list[int]:
    """The ids of the cases holding the loan (for the gate's reason text)."""
    return repository.holding(session, loan_id)
