"""All SQL of the reporting platform. Tenancy is decided by the callers' ``institution``
argument: None for the regulator (every case), else only that institution's cases that
were forwarded to it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from fairdun.complaints.models import (
    Complaint,
    ComplaintBand,
    ComplaintEvent,
    ComplaintEvidence,
    IntakeMark,
)
from fairdun.complaints.transitions import INSTITUTION_VISIBLE, Status
from fairdun.identity.models import User
from fairdun.institutions.models import Institution


def visible(institution: int | None) -> Select[tuple[Complaint]]:
    stmt = select(Complaint)
    if institution is None:
        return stmt
    return stmt.where(
        Complaint.institution_id == institution,
        Complaint.status.in_([s.value for s in INSTITUTION_VISIBLE]),
        Complaint.forwarded_at.is_not(None),
    )


def case(session: Session, complaint_id: int, institution: int | None) -> Complaint | None:
    return session.scalar(visible(institution).where(Complaint.id == complaint_id))


def case_for_update(session: Session, complaint_id: int) -> Complaint | None:
    """Lock the case row (PostgreSQL) so two steps on one case never interleave."""
    return session.scalar(select(Complaint).where(Complaint.id == complaint_id).with_for_update())


def by_tracking_code(session: Session, code: str) -> Complaint | None:
    return session.scalar(select(Complaint).where(Complaint.tracking_code == code))


def tracking_code_taken(session: Session, code: str) -> bool:
    return session.scalar(select(Complaint.id).where(Complaint.tracking_code == code)) is not None


@dataclass(frozen=True)
class CaseFilter:
    status: str | None = None
    group_id: int | None = None
    overdue_at: datetime | None = None  # only forwarded cases past their deadline then
    limit: int = 200


def cases(session: Session, institution: int | None, f: CaseFilter) -> list[Complaint]:
    stmt = visible(institution).order_by(Complaint.id.desc()).limit(f.limit)
    if f.status:
        stmt = stmt.where(Complaint.status == f.status)
    if f.group_id is not None:
        stmt = stmt.where(Complaint.group_id == f.group_id)
    if f.overdue_at is not None:
        stmt = stmt.where(
            Complaint.status == Status.FORWARDED.value, Complaint.due_at <= f.overdue_at
        )
    return list(session.scalars(stmt).all())


def group_sizes(
    session: Session, group_ids: Iterable[int], institution: int | None
) -> dict[int, int]:
    ids = sorted(set(group_ids))
    if not ids:
        return {}
    stmt = (
        visible(institution)
        .with_only_columns(Complaint.group_id, func.count())
        .where(Complaint.group_id.in_(ids))
        .group_by(Complaint.group_id)
    )
    return {int(g): int(n) for g, n in session.execute(stmt).all() if g is not None}


def due_before(session: Session, moment: datetime) -> list[Complaint]:
    """Forwarded cases whose deadline falls before ``moment`` (earliest first)."""
    return list(
        session.scalars(
            select(Complaint)
            .where(Complaint.status == Status.FORWARDED.value, Complaint.due_at <= moment)
            .order_by(Complaint.due_at, Complaint.id)
        ).all()
    )


def events(session: Session, complaint_id: int) -> list[ComplaintEvent]:
    return list(
        session.scalars(
            select(ComplaintEvent)
            .where(ComplaintEvent.complaint_id == complaint_id)
            .order_by(ComplaintEvent.id)
        ).all()
    )


def evidence(session: Session, complaint_id: int) -> list[ComplaintEvidence]:
    return list(
        session.scalars(
            select(ComplaintEvidence)
            .where(ComplaintEvidence.complaint_id == complaint_id)
            .order_by(ComplaintEvidence.id)
        ).all()
    )


def evidence_item(
    session: Session, complaint_id: int, evidence_id: int
) -> ComplaintEvidence | None:
    return session.scalar(
        select(ComplaintEvidence).where(
            ComplaintEvidence.id == evidence_id, ComplaintEvidence.complaint_id == complaint_id
        )
    )


def evidence_count(session: Session, complaint_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(ComplaintEvidence)
            .where(ComplaintEvidence.complaint_id == complaint_id)
        )
        or 0
    )


# --- near-duplicates -------------------------------------------------------------------------


CANDIDATE_LIMIT = 200


@dataclass(frozen=True)
class Candidate:
    id: int
    group_id: int | None
    fingerprint: bytes | None


def candidates(
    session: Session, bands: Iterable[str], exclude: int, limit: int = CANDIDATE_LIMIT
) -> list[Candidate]:
    """The most recent reports (at most ``limit``) sharing at least one band key with the
    given ones: only what grouping needs, no encrypted column is read. A template filed
    thousands of times forms one group, so its newest members are enough to find it."""
    keys = list(bands)
    if not keys:
        return []
    ids = (
        select(ComplaintBand.complaint_id)
        .where(ComplaintBand.band.in_(keys), ComplaintBand.complaint_id != exclude)
        .distinct()
    )
    rows = session.execute(
        select(Complaint.id, Complaint.group_id, Complaint.fingerprint)
        .where(Complaint.id.in_(ids))
        .order_by(Complaint.id.desc())
        .limit(limit)
    ).all()
    return [Candidate(int(i), g, f) for i, g, f in rows]


def add_bands(session: Session, complaint_id: int, bands: Iterable[str]) -> None:
    session.add_all(ComplaintBand(complaint_id=complaint_id, band=b) for b in bands)


# --- holds -------------------------------------------------------------------------------------


def holding(session: Session, loan_id: int) -> list[int]:
    """Ids of the cases that hold the loan's collection now."""
    return list(
        session.scalars(
            select(Complaint.id)
            .where(Complaint.loan_id == loan_id, Complaint.collection_hold.is_(True))
            .order_by(Complaint.id)
        ).all()
    )


# --- intake limit ------------------------------------------------------------------------------


def intake_count(session: Session, requester_hash: str, since: datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(IntakeMark)
            .where(IntakeMark.requester_hash == requester_hash, IntakeMark.created_at >= since)
        )
        or 0
    )


def oldest_intake(session: Session, requester_hash: str, since: datetime) -> datetime | None:
    return session.scalar(
        select(func.min(IntakeMark.created_at)).where(
            IntakeMark.requester_hash == requester_hash, IntakeMark.created_at >= since
        )
    )


def add_intake_mark(session: Session, requester_hash: str, at: datetime) -> None:
    session.add(IntakeMark(requester_hash=requester_hash, created_at=at))


def forget_intake_before(session: Session, cutoff: datetime) -> None:
    session.execute(
        delete(IntakeMark).where(IntakeMark.created_at < cutoff),
        execution_options={"synchronize_session": False},  # the marks are never loaded
    )


# --- the registry and the institutions' staff, as the reporting platform needs them ---------


def _reportable(kinds: Iterable[str]) -> Select[tuple[Institution]]:
    return select(Institution).where(Institution.kind.in_(list(kinds))).order_by(Institution.name)


def institution_by_name(session: Session, name: str, kinds: Iterable[str]) -> Institution | None:
    return session.scalar(_reportable(kinds).where(Institution.name == name).limit(1))


def institutions(
    session: Session, kinds: Iterable[str], query: str = "", limit: int = 500
) -> list[Institution]:
    stmt = _reportable(kinds).limit(limit)
    text = query.strip()
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(
            Institution.name.ilike(f"%{escaped}%", escape="\\")
            | (Institution.credit_code == text.upper())
        )
    return list(session.scalars(stmt).all())


def staff_emails(session: Session, institution_id: int, roles: Iterable[str]) -> list[str]:
    users = session.scalars(
        select(User).where(
            User.institution_id == institution_id,
            User.role.in_(list(roles)),
            User.is_active.is_(True),
        )
    ).all()
    return sorted({u.email for u in users if u.email})
