"""All SQL of the ledger. Every loan query goes through ``visible_loans`` (tenancy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from fairdun.identity.models import Role
from fairdun.identity.principal import Principal
from fairdun.loans.models import (
    Borrower,
    BucketSpellRow,
    DelinquencyPause,
    InstalmentRow,
    Loan,
    LoanPayment,
    Product,
)


def visible_loans(principal: Principal) -> Select[tuple[Loan]]:
    """Loans the principal may see: all (regulator, platform), its institution's, the ones
    placed with its agency (agency collector), or its own (borrower)."""
    stmt = select(Loan)
    if principal.role is Role.PLATFORM_ADMIN:
        # The platform operator runs the registry and accounts, not borrowers' debts.
        return stmt.where(Loan.id == -1)
    if principal.scope is None:
        return stmt
    if principal.role is Role.BORROWER:
        if principal.user_id is None:
            return stmt.where(Loan.id == -1)
        own = select(Borrower.id).where(
            Borrower.user_id == principal.user_id, Borrower.institution_id == principal.scope
        )
        return stmt.where(Loan.borrower_id.in_(own))
    if principal.role is Role.AGENCY_COLLECTOR:
        return stmt.where(Loan.placed_agency_id == principal.scope)
    return stmt.where(Loan.institution_id == principal.scope)


def loan(session: Session, principal: Principal, loan_id: int) -> Loan | None:
    return session.scalar(visible_loans(principal).where(Loan.id == loan_id))


def loan_for_update(session: Session, loan_id: int) -> Loan | None:
    """Lock the loan row (PostgreSQL) so two recomputes of one loan never interleave."""
    return session.scalar(select(Loan).where(Loan.id == loan_id).with_for_update())


@dataclass(frozen=True)
class LoanFilter:
    bucket: str | None = None
    min_dpd: int | None = None
    max_dpd: int | None = None
    product_id: int | None = None
    institution_id: int | None = None
    status: str | None = None


def loans(
    session: Session, principal: Principal, f: LoanFilter, *, limit: int, offset: int
) -> tuple[list[Loan], int]:
    stmt = visible_loans(principal)
    conditions: list[Any] = []
    if f.bucket:
        conditions.append(Loan.bucket == f.bucket)
    if f.min_dpd is not None:
        conditions.append(Loan.days_past_due >= f.min_dpd)
    if f.max_dpd is not None:
        conditions.append(Loan.days_past_due <= f.max_dpd)
    if f.product_id is not None:
        conditions.append(Loan.product_id == f.product_id)
    if f.institution_id is not None:
        conditions.append(Loan.institution_id == f.institution_id)
    if f.status:
        conditions.append(Loan.status == f.status)
    stmt = stmt.where(*conditions)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(Loan.days_past_due.desc(), Loan.id).limit(limit).offset(offset)
    ).all()
    return list(rows), int(total)


def product(session: Session, product_id: int, scope: int | None) -> Product | None:
    stmt = select(Product).where(Product.id == product_id)
    if scope is not None:
        stmt = stmt.where(Product.institution_id == scope)
    return session.scalar(stmt)


def product_by_code(session: Session, institution_id: int, code: str) -> Product | None:
    return session.scalar(
        select(Product).where(Product.institution_id == institution_id, Product.code == code)
    )


def products(session: Session, scope: int | None) -> list[Product]:
    stmt = select(Product).order_by(Product.id)
    if scope is not None:
        stmt = stmt.where(Product.institution_id == scope)
    return list(session.scalars(stmt).all())


def borrower(session: Session, borrower_id: int, scope: int | None) -> Borrower | None:
    stmt = select(Borrower).where(Borrower.id == borrower_id)
    if scope is not None:
        stmt = stmt.where(Borrower.institution_id == scope)
    return session.scalar(stmt)


def borrower_by_external_id(
    session: Session, institution_id: int, external_id: str
) -> Borrower | None:
    return session.scalar(
        select(Borrower).where(
            Borrower.institution_id == institution_id, Borrower.external_id == external_id
        )
    )


def loan_by_external_id(session: Session, institution_id: int, external_id: str) -> Loan | None:
    return session.scalar(
        select(Loan).where(Loan.institution_id == institution_id, Loan.external_id == external_id)
    )


def instalments(session: Session, loan_id: int) -> list[InstalmentRow]:
    return list(
        session.scalars(
            select(InstalmentRow)
            .where(InstalmentRow.loan_id == loan_id)
            .order_by(InstalmentRow.number)
        ).all()
    )


def payments(session: Session, loan_id: int) -> list[LoanPayment]:
    return list(
        session.scalars(
            select(LoanPayment)
            .where(LoanPayment.loan_id == loan_id)
            .order_by(LoanPayment.paid_date, LoanPayment.id)
        ).all()
    )


def payment(session: Session, loan_id: int, payment_id: int) -> LoanPayment | None:
    return session.scalar(
        select(LoanPayment).where(LoanPayment.loan_id == loan_id, LoanPayment.id == payment_id)
    )


def pauses(session: Session, loan_id: int) -> list[DelinquencyPause]:
    return list(
        session.scalars(
            select(DelinquencyPause)
            .where(DelinquencyPause.loan_id == loan_id)
            .order_by(DelinquencyPause.start_date, DelinquencyPause.id)
        ).all()
    )


def pause(session: Session, loan_id: int, pause_id: int) -> DelinquencyPause | None:
    return session.scalar(
        select(DelinquencyPause).where(
            DelinquencyPause.loan_id == loan_id, DelinquencyPause.id == pause_id
        )
    )


def spells(session: Session, loan_id: int) -> list[BucketSpellRow]:
    return list(
        session.scalars(
            select(BucketSpellRow)
            .where(BucketSpellRow.loan_id == loan_id)
            .order_by(BucketSpellRow.entered_date)
        ).all()
    )


def replace_spells(session: Session, loan_id: int, rows: list[BucketSpellRow]) -> None:
    session.execute(delete(BucketSpellRow).where(BucketSpellRow.loan_id == loan_id))
    session.add_all(rows)


def bucket_counts(session: Session, principal: Principal) -> dict[str, int]:
    """Loans the principal may see, by bucket (open loans only)."""
    visible = visible_loans(principal).where(Loan.status.in_(("current", "delinquent"))).subquery()
    rows = session.execute(select(visible.c.bucket, func.count()).group_by(visible.c.bucket)).all()
    return {bucket: int(n) for bucket, n in rows}
