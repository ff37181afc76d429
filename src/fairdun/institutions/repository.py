"""All SQL of the institution registry. ``scope`` None means every institution."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fairdun.institutions.models import AgencyEngagement, Institution, LicenceChange


def by_id(session: Session, institution_id: int, scope: int | None) -> Institution | None:
    if scope is not None and institution_id != scope:
        return None
    return session.get(Institution, institution_id)


def by_credit_code(session: Session, code: str) -> Institution | None:
    return session.scalar(select(Institution).where(Institution.credit_code == code))


def listing(session: Session, scope: int | None) -> list[Institution]:
    stmt = select(Institution).order_by(Institution.id)
    if scope is not None:
        stmt = stmt.where(Institution.id == scope)
    return list(session.scalars(stmt).all())


def licence_history(session: Session, institution_id: int) -> list[LicenceChange]:
    return list(
        session.scalars(
            select(LicenceChange)
            .where(LicenceChange.institution_id == institution_id)
            .order_by(LicenceChange.id)
        ).all()
    )


def engagements_of(session: Session, institution_id: int) -> list[AgencyEngagement]:
    """Engagements where the institution is either the agency or the lender."""
    return list(
        session.scalars(
            select(AgencyEngagement)
            .where(
                or_(
                    AgencyEngagement.agency_id == institution_id,
                    AgencyEngagement.lender_id == institution_id,
                )
            )
            .order_by(AgencyEngagement.id)
        ).all()
    )


def engagement(session: Session, agency_id: int, lender_id: int) -> AgencyEngagement | None:
    return session.scalar(
        select(AgencyEngagement).where(
            AgencyEngagement.agency_id == agency_id, AgencyEngagement.lender_id == lender_id
        )
    )
