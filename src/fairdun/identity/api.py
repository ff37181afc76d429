"""JSON routes of identity: the caller, users, API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from fairdun.identity import service
from fairdun.identity.schemas import (
    ApiTokenCreate,
    ApiTokenIssued,
    ApiTokenRead,
    MeRead,
    UserCreate,
    UserRead,
)
from fairdun.web.deps import ApiPrincipal, Db, now_of

router = APIRouter(prefix="/api", tags=["identity"])


@router.get("/me", response_model=MeRead)
def me(principal: ApiPrincipal) -> MeRead:
    return MeRead(
        actor=principal.actor,
        role=principal.role,
        institution_id=principal.institution_id,
        name=principal.name,
    )


@router.get("/users", response_model=list[UserRead])
def list_users(db: Db, principal: ApiPrincipal) -> list[UserRead]:
    return [UserRead.model_validate(u) for u in service.list_users(db, principal)]


@router.post("/users", response_model=UserRead, status_code=status.HTTP_201_CREATED)
def create_user(data: UserCreate, db: Db, principal: ApiPrincipal) -> UserRead:
    return UserRead.model_validate(service.create_user(db, principal, data))


@router.get("/users/{user_id}", response_model=UserRead)
def get_user(user_id: int, db: Db, principal: ApiPrincipal) -> UserRead:
    return UserRead.model_validate(service.get_user(db, principal, user_id))


@router.get("/tokens", response_model=list[ApiTokenRead])
def list_tokens(db: Db, principal: ApiPrincipal) -> list[ApiTokenRead]:
    return [ApiTokenRead.model_validate(t) for t in service.list_api_tokens(db, principal)]


@router.post("/tokens", response_model=ApiTokenIssued, status_code=status.HTTP_201_CREATED)
def issue_token(data: ApiTokenCreate, db: Db, principal: ApiPrincipal) -> ApiTokenIssued:
    """Issue a token for a machine client. The secret is in this answer only."""
    token, raw = service.issue_api_token(db, principal, data)
    return ApiTokenIssued.model_validate(
        {**ApiTokenRead.model_validate(token).model_dump(), "token": raw}
    )


@router.post("/tokens/{token_id}/revoke", response_model=ApiTokenRead)
def revoke_token(token_id: int, request: Request, db: Db, principal: ApiPrincipal) -> ApiTokenRead:
    return ApiTokenRead.model_validate(
        service.revoke_api_token(db, principal, token_id, now_of(request))
    )
