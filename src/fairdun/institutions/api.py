"""JSON routes of the registry."""

from __future__ import annotations

from fastapi import APIRouter, status

from fairdun.institutions import service
from fairdun.institutions.schemas import (
    EngagementCreate,
    EngagementRead,
    InstitutionCreate,
    InstitutionRead,
    LicenceChangeCreate,
    LicenceChangeRead,
)
from fairdun.web.deps import ApiPrincipal, Db

router = APIRouter(prefix="/api/institutions", tags=["institutions"])


@router.get("", response_model=list[InstitutionRead])
def list_institutions(db: Db, principal: ApiPrincipal) -> list[InstitutionRead]:
    """Institutions the caller may see: all for a regulator or platform admin, else its own."""
    return [InstitutionRead.model_validate(i) for i in service.listing(db, principal)]


@router.post("", response_model=InstitutionRead, status_code=status.HTTP_201_CREATED)
def register_institution(
    data: InstitutionCreate, db: Db, principal: ApiPrincipal
) -> InstitutionRead:
    """Register an institution (platform admin). 422 on a bad credit code, 409 on a duplicate."""
    return InstitutionRead.model_validate(service.create(db, principal, data))


@router.get("/{institution_id}", response_model=InstitutionRead)
def get_institution(institution_id: int, db: Db, principal: ApiPrincipal) -> InstitutionRead:
    return InstitutionRead.model_validate(service.get(db, principal, institution_id))


@router.post("/{institution_id}/licence", response_model=InstitutionRead)
def change_licence(
    institution_id: int, data: LicenceChangeCreate, db: Db, principal: ApiPrincipal
) -> InstitutionRead:
    """Suspend, reinstate or revoke a licence (regulator or platform admin)."""
    return InstitutionRead.model_validate(
        service.change_licence(db, principal, institution_id, data)
    )


@router.get("/{institution_id}/licence-history", response_model=list[LicenceChangeRead])
def licence_history(
    institution_id: int, db: Db, principal: ApiPrincipal
) -> list[LicenceChangeRead]:
    return [
        LicenceChangeRead.model_validate(c)
        for c in service.licence_history(db, principal, institution_id)
    ]


@router.get("/{institution_id}/engagements", response_model=list[EngagementRead])
def list_engagements(institution_id: int, db: Db, principal: ApiPrincipal) -> list[EngagementRead]:
    """Agency engagements where this institution is the agency or the lender."""
    return [
        EngagementRead.model_validate(e) for e in service.engagements(db, principal, institution_id)
    ]


@router.post(
    "/{institution_id}/engagements",
    response_model=EngagementRead,
    status_code=status.HTTP_201_CREATED,
)
def engage_agency(
    institution_id: int, data: EngagementCreate, db: Db, principal: ApiPrincipal
) -> EngagementRead:
    """Link a collection agency to this lender."""
    return EngagementRead.model_validate(service.engage_agency(db, principal, institution_id, data))
