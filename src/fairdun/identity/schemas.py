"""API shapes of identity."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from fairdun.identity.models import Role

INSTITUTION_ROLES = [
    Role.INSTITUTION_ADMIN,
    Role.COMPLIANCE_OFFICER,
    Role.COLLECTOR,
    Role.RISK_ANALYST,
    Role.AGENCY_COLLECTOR,
    Role.BORROWER,
]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=3, max_length=64, pattern=r"^[a-zA-Z0-9_.-]+$")
    display_name: str = Field(min_length=1, max_length=100)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=30, pattern=r"^\+?[0-9 -]{5,30}$")
    role: Role
    institution_id: int | None = None
    password: str = Field(min_length=10, max_length=200)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    email: str | None
    role: Role
    institution_id: int | None
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None


class MeRead(BaseModel):
    actor: str
    role: Role
    institution_id: int | None
    name: str


class ApiTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: Role
    institution_id: int | None = None


class ApiTokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    institution_id: int
    role: Role
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiTokenIssued(ApiTokenRead):
    token: str = Field(description="The secret. Shown once; only its hash is stored.")
