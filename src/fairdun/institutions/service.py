"""Registry use cases. Never commits."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fairdun.audit import service as audit
from fairdun.identity.models import Role
from fairdun.identity.principal import Principal
from fairdun.institutions import repository
from fairdun.institutions.models import (
    AgencyEngagement,
    Institution,
    InstitutionKind,
    LicenceChange,
    LicenceStatus,
)
from fairdun.institutions.rules import CollectionCheck, may_collect
from fairdun.institutions.schemas import EngagementCreate, InstitutionCreate, LicenceChangeCreate
from fairdun.kit.errors import CollectionBlocked, Conflict, Forbidden, Invalid, NotFound


def create(session: Session, actor: Principal, data: InstitutionCreate) -> Institution:
    if actor.role is not Role.PLATFORM_ADMIN:
        raise Forbidden("only a platform administrator registers institutions")
    if repository.by_credit_code(session, data.credit_code) is not None:
        raise Conflict(f"an institution with credit code {data.credit_code} is already registered")
    inst = Institution(
        name=data.name,
        credit_code=data.credit_code,
        kind=data.kind,
        licence_number=data.licence_number,
        licence_status=LicenceStatus.ACTIVE,
    )
    session.add(inst)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(
            f"an institution with credit code {data.credit_code} is already registered"
        ) from None
    session.add(
        LicenceChange(
            institution_id=inst.id,
            from_status=None,
            to_status=LicenceStatus.ACTIVE,
            reason="registered",
            changed_by=actor.actor,
        )
    )
    audit.record(
        session,
        actor=actor.actor,
        action="institution.registered",
        target=f"institution:{inst.id}",
        institution_id=inst.id,
        details={"name": data.name, "credit_code": data.credit_code, "kind": data.kind.value},
    )
    return inst


def get(session: Session, actor: Principal, institution_id: int) -> Institution:
    inst = repository.by_id(session, institution_id, actor.scope)
    if inst is None:
        raise NotFound("no such institution")
    return inst


def listing(session: Session, actor: Principal) -> list[Institution]:
    return repository.listing(session, actor.scope)


def change_licence(
    session: Session, actor: Principal, institution_id: int, data: LicenceChangeCreate
) -> Institution:
    inst = get(session, actor, institution_id)
    if actor.role not in (Role.PLATFORM_ADMIN, Role.REGULATOR):
        raise Forbidden("only a regulator or platform administrator changes a licence")
    previous = LicenceStatus(inst.licence_status)
    if previous is LicenceStatus.REVOKED:
        raise Conflict("a revoked licence is final and cannot be changed")
    if previous is data.status:
        raise Conflict(f"licence is already {data.status.value}")
    inst.licence_status = data.status
    session.add(
        LicenceChange(
            institution_id=inst.id,
            from_status=previous,
            to_status=data.status,
            reason=data.reason,
            changed_by=actor.actor,
        )
    )
    audit.record(
        session,
        actor=actor.actor,
        action="institution.licence_changed",
        target=f"institution:{inst.id}",
        institution_id=inst.id,
        details={"from": previous.value, "to": data.status.value, "reason": data.reason},
    )
    session.flush()
    return inst


def licence_history(session: Session, actor: Principal, institution_id: int) -> list[LicenceChange]:
    inst = get(session, actor, institution_id)
    return repository.licence_history(session, inst.id)


def engage_agency(
    session: Session, actor: Principal, lender_id: int, data: EngagementCreate
) -> AgencyEngagement:
    lender = get(session, actor, lender_id)
    if actor.role not in (Role.PLATFORM_ADMIN, Role.INSTITUTION_ADMIN):
        raise Forbidden("only the lender's administrator links an agency")
    if not InstitutionKind(lender.kind).is_lender:
        raise Invalid("lender_id", "only a lender engages a collection agency")
    agency = repository.by_id(session, data.agency_id, None)
    if agency is None or agency.kind != InstitutionKind.COLLECTION_AGENCY:
        raise Invalid("agency_id", "no such collection agency")
    if repository.engagement(session, agency.id, lender.id) is not None:
        raise Conflict("this agency is already linked to this lender")
    link = AgencyEngagement(
        agency_id=agency.id,
        lender_id=lender.id,
        contract_ref=data.contract_ref,
        start_date=data.start_date,
        review_date=data.review_date,
    )
    session.add(link)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="agency.engaged",
        target=f"engagement:{link.id}",
        institution_id=lender.id,
        details={"agency_id": agency.id, "lender_id": lender.id, "contract_ref": data.contract_ref},
    )
    return link


def engagements(session: Session, actor: Principal, institution_id: int) -> list[AgencyEngagement]:
    inst = get(session, actor, institution_id)
    return repository.engagements_of(session, inst.id)


def collection_check(
    session: Session, institution_id: int, lender_id: int | None = None
) -> CollectionCheck:
    """May ``institution_id`` collect (for ``lender_id`` when it is an agency)?"""
    inst = repository.by_id(session, institution_id, None)
    if inst is None:
        return CollectionCheck(False, "no such institution")
    kind = InstitutionKind(inst.kind)
    lender_status = None
    engagement_active = None
    if kind is InstitutionKind.COLLECTION_AGENCY and lender_id is not None:
        lender = repository.by_id(session, lender_id, None)
        link = repository.engagement(session, inst.id, lender_id)
        if lender is not None and link is not None:
            lender_status = LicenceStatus(lender.licence_status)
            engagement_active = link.active
    return may_collect(
        kind,
        LicenceStatus(inst.licence_status),
        lender_status=lender_status,
        engagement_active=engagement_active,
    )


def require_collection_allowed(
    session: Session, institution_id: int, lender_id: int | None = None
) -> None:
    """The one function later parts call before any collection action."""
    check = collection_check(session, institution_id, lender_id)
    if not check.allowed:
        raise CollectionBlocked(f"institution {institution_id} may not collect: {check.reason}")
