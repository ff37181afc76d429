"""Repayment promises (承诺还款): recording, cancelling, and whether one was kept.

A promise is kept when payments (not reversed) dated from the day it was made through
``GRACE_DAYS`` days after the promised date add up to at least the promised amount; it is
broken once that window has closed without them; until then it is pending. Nothing of this
is stored: it follows from the payments, so a back-dated payment or a reversal changes the
outcome without anyone touching the promise. ``fairdun.risk.features.promise_outcomes``
computes the same outcome for a whole portfolio at once; ``promise_status`` here is the
one-promise version (pages, and the cancellation rule).

Only a *pending* promise can be cancelled (recorded by mistake, or replaced by a new
arrangement): a kept or broken promise is a fact about the borrower's history and stays on
the record. So a cancelled promise was pending at every date before its cancellation, and
the features, which never count pending promises, can leave cancelled ones out altogether
without looking at when they were cancelled.

Services flush, never commit; every change writes an audit record in the same unit of work.
Validation happens before anything is written, so a refused request changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairdun.audit import service as audit
from fairdun.kit.errors import Conflict, Invalid, NotFound
from fairdun.loans.models import Loan, LoanPayment, LoanStatus
from fairdun.risk.models import PromiseToPay

__all__ = [
    "CHANNELS",
    "GRACE_DAYS",
    "MAX_DAYS_AHEAD",
    "PromiseStatus",
    "cancel_promise",
    "promise_status",
    "record_promise",
]

# Payments up to this many days after the promised date still keep the promise: a transfer
# started on the promised day can take a few days to reach the lender.
GRACE_DAYS = 3
# A promise further out than this is not a promise to pay but a repayment plan, which has
# its own procedure.
MAX_DAYS_AHEAD = 90
CHANNELS: tuple[str, ...] = ("call", "portal", "visit", "sms")


class PromiseStatus(StrEnum):
    PENDING = "pending"
    KEPT = "kept"
    BROKEN = "broken"
    CANCELLED = "cancelled"


def record_promise(
    session: Session,
    *,
    actor: str,
    loan_id: int,
    made_on: date,
    promised_date: date,
    amount: int,
    channel: str = "call",
    institution_id: int | None = None,
    today: date | None = None,
) -> PromiseToPay:
    """Record that the borrower of ``loan_id`` promised on ``made_on`` to pay ``amount``
    (minor units) by ``promised_date``.

    ``institution_id``, when given, is the caller's tenancy: a loan of another lender is
    "no such loan". ``today``, when given, refuses promises made in the future. Raises
    ``Invalid`` naming the field; nothing is written then."""
    loan = session.get(Loan, loan_id)
    if loan is None or (institution_id is not None and loan.institution_id != institution_id):
        raise Invalid("loan_id", "no such loan")
    if loan.status == LoanStatus.PAID_OFF:
        raise Invalid("loan_id", f"loan {loan.external_id} is paid off: nothing to promise")
    if made_on < loan.start_date:
        raise Invalid("made_on", f"{made_on} is before the loan started ({loan.start_date})")
    if today is not None and made_on > today:
        raise Invalid("made_on", "a promise cannot be made in the future")
    if promised_date < made_on:
        raise Invalid("promised_date", "must be on or after the day the promise was made")
    if promised_date > made_on + timedelta(days=MAX_DAYS_AHEAD):
        raise Invalid(
            "promised_date",
            f"must be within {MAX_DAYS_AHEAD} days of the day the promise was made",
        )
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise Invalid("amount", "must be a positive whole number of minor units")
    if channel not in CHANNELS:
        raise Invalid("channel", f"must be one of {', '.join(CHANNELS)}")
    promise = PromiseToPay(
        institution_id=loan.institution_id,
        loan_id=loan.id,
        made_on=made_on,
        promised_date=promised_date,
        amount=amount,
        channel=channel,
        created_by=actor,
    )
    session.add(promise)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="promise.recorded",
        target=f"loan:{loan.id}",
        institution_id=loan.institution_id,
        details={
            "promise_id": promise.id,
            "made_on": made_on.isoformat(),
            "promised_date": promised_date.isoformat(),
            "amount": amount,
            "channel": channel,
        },
    )
    return promise


def promise_status(session: Session, promise: PromiseToPay, as_of: date) -> PromiseStatus:
    """Kept, broken or pending as of the end of ``as_of`` (see the module docstring).

    A promise made after ``as_of`` is pending (it did not exist yet); a cancelled one is
    ``cancelled`` whatever the date."""
    if promise.cancelled_at is not None:
        return PromiseStatus.CANCELLED
    closes = promise.promised_date + timedelta(days=GRACE_DAYS)
    if promise.made_on > as_of:
        return PromiseStatus.PENDING
    paid = session.scalar(
        select(func.coalesce(func.sum(LoanPayment.amount), 0)).where(
            LoanPayment.loan_id == promise.loan_id,
            LoanPayment.reversed_at.is_(None),
            LoanPayment.paid_date >= promise.made_on,
            LoanPayment.paid_date <= min(as_of, closes),
        )
    )
    if int(paid or 0) >= promise.amount:
        return PromiseStatus.KEPT
    if closes < as_of:
        return PromiseStatus.BROKEN
    return PromiseStatus.PENDING


def cancel_promise(
    session: Session,
    *,
    actor: str,
    promise_id: int,
    now: datetime,
    reason: str = "",
    institution_id: int | None = None,
) -> PromiseToPay:
    """Cancel a pending promise. A kept or broken one cannot be cancelled (``Conflict``):
    its outcome is part of the borrower's history. ``institution_id`` is the caller's
    tenancy, as in ``record_promise``."""
    promise = session.get(PromiseToPay, promise_id)
    if promise is None or (institution_id is not None and promise.institution_id != institution_id):
        raise NotFound("no such promise")
    status = promise_status(session, promise, now.date())
    if status is PromiseStatus.CANCELLED:
        raise Conflict("this promise is already cancelled")
    if status is not PromiseStatus.PENDING:
        raise Conflict(f"this promise was {status.value}: it stays on the record")
    promise.cancelled_at = now
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="promise.cancelled",
        target=f"loan:{promise.loan_id}",
        institution_id=promise.institution_id,
        details={"promise_id": promise.id, "reason": reason},
    )
    return promise
