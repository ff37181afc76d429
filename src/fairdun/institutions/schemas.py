"""API shapes of the registry."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fairdun.institutions import uscc
from fairdun.institutions.models import InstitutionKind, LicenceStatus


class InstitutionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    credit_code: str = Field(
        description="统一社会信用代码, 18 characters with GB 32100-2015 check character"
    )
    kind: InstitutionKind
    licence_number: str = Field(default="", max_length=100)

    @field_validator("credit_code")
    @classmethod
    def _valid_code(cls, value: str) -> str:
        try:
            return uscc.validate(value)
        except uscc.InvalidCreditCode as exc:
            raise ValueError(f"invalid unified social credit code: {exc}") from None


class InstitutionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    credit_code: str
    kind: InstitutionKind
    licence_number: str
    licence_status: LicenceStatus
    created_at: datetime


class LicenceChangeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: LicenceStatus
    reason: str = Field(min_length=1, max_length=2000)


class LicenceChangeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    from_status: LicenceStatus | None
    to_status: LicenceStatus
    reason: str
    changed_by: str
    changed_at: datetime


class EngagementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agency_id: int
    contract_ref: str = Field(min_length=1, max_length=100)
    start_date: date
    review_date: date | None = None


class EngagementRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    agency_id: int
    lender_id: int
    contract_ref: str
    start_date: date
    review_date: date | None
    active: bool
