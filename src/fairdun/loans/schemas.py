"""API shapes of the ledger. Money in minor units (int), rates as decimal strings."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from fairdun.loans import resident_id
from fairdun.loans.models import LoanStatus
from fairdun.loans.terms import Component, RepaymentMethod


class BucketSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=10)
    min_days: int = Field(ge=0)
    max_days: int | None = Field(default=None, ge=0)


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=200)
    waterfall: list[Component] | None = None
    tolerance: int = Field(default=100, ge=0)
    buckets: list[BucketSpec] | None = None
    penalty_daily_rate: Decimal = Field(default=Decimal("0.0005"), ge=0, le=Decimal("0.01"))
    penalty_cap_ratio: Decimal = Field(default=Decimal("0.10"), ge=0, le=1)
    institution_id: int | None = None


class ProductRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    institution_id: int
    code: str
    name: str
    waterfall: str
    tolerance: int
    buckets: str
    penalty_daily_rate: Decimal
    penalty_cap_ratio: Decimal


class BorrowerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=100)
    id_number: str | None = Field(default=None, description="居民身份证号码 (GB 11643)")
    phone: str | None = Field(default=None, max_length=30, pattern=r"^\+?[0-9 -]{5,30}$")
    email: EmailStr | None = None
    address: str | None = Field(default=None, max_length=500)
    institution_id: int | None = None

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str | None) -> str | None:
        return None if value is None else resident_id.validate(value)


class BorrowerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    institution_id: int
    external_id: str
    name: str
    phone: str | None
    email: str | None


class LoanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: str = Field(min_length=1, max_length=100)
    borrower_id: int
    product_id: int
    principal: int = Field(description="minor units (分)")
    annual_rate: Decimal = Field(description="fraction: 0.18 for 18% a year")
    term_months: int
    start_date: date
    method: str
    upfront_fee: int = 0
    periodic_fee: int = 0
    currency: str = "CNY"

    @field_validator("principal")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be a positive amount in minor units")
        return value

    @field_validator("annual_rate")
    @classmethod
    def _rate(cls, value: Decimal) -> Decimal:
        if value < 0 or value > 1:
            raise ValueError("must be between 0 and 1 (100% a year)")
        return value

    @field_validator("term_months")
    @classmethod
    def _term(cls, value: int) -> int:
        if not 1 <= value <= 360:
            raise ValueError("must be between 1 and 360 months")
        return value

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value not in set(RepaymentMethod):
            known = ", ".join(m.value for m in RepaymentMethod)
            raise ValueError(f"unknown repayment method {value!r}; known: {known}")
        return value


class InstalmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    due_date: date
    principal: int
    interest: int
    fee: int
    interest_due: int
    fee_due: int
    principal_paid: int
    interest_paid: int
    fee_paid: int
    penalty_accrued: int
    penalty_paid: int
    not_collectable: int
    settled_date: date | None


class PaymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paid_date: date
    amount: int = Field(gt=0, le=10**13, description="minor units")
    external_id: str | None = Field(default=None, max_length=100)


class PaymentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str | None
    paid_date: date
    amount: int
    recorded_by: str
    created_at: datetime
    reversed_at: datetime | None
    reversal_reason: str


class ReversalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class PauseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_date: date
    end_date: date | None = None
    reason: str = Field(pattern=r"^(hardship|dispute|other)$")
    note: str = Field(default="", max_length=2000)


class PauseEnd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    end_date: date


class PauseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    start_date: date
    end_date: date | None
    reason: str
    note: str
    created_by: str


class ChargeOffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    charged_off_date: date
    reason: str = Field(min_length=1, max_length=500)


class SpellRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    bucket: str
    entered_date: date
    left_date: date | None


class LoanRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    institution_id: int
    borrower_id: int
    product_id: int
    external_id: str
    principal: int
    annual_rate: Decimal
    term_months: int
    start_date: date
    method: str
    upfront_fee: int
    periodic_fee: int
    currency: str
    nominal_apr: Decimal
    effective_apr: Decimal
    cap_flags: str
    not_collectable: int
    state_as_of: date
    status: LoanStatus
    days_past_due: int
    worst_days_past_due: int
    bucket: str
    paused: bool
    disputed: bool
    outstanding_principal: int
    amount_past_due: int
    payoff_amount: int
    credit: int
    total_paid: int
    paid_off_date: date | None
    charged_off_date: date | None
    placed_agency_id: int | None


class LoanDetail(LoanRead):
    schedule: list[InstalmentRead]
    payments: list[PaymentRead]
    pauses: list[PauseRead]
    history: list[SpellRead]
