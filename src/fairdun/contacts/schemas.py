"""API shapes of the contact gate. Inputs refuse unknown fields; there is no input that
takes a list of contacts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from fairdun.compliance.events import Channel, Outcome, Purpose, parse_window
from fairdun.contacts import rules
from fairdun.contacts.models import EventKind, LawfulBasis, PartyRole, PointKind, PointSource


class PointCreate(BaseModel):
    """One number or address of a party, with where it came from."""

    model_config = ConfigDict(extra="forbid")

    kind: PointKind
    value: str = Field(min_length=1, max_length=300)
    source: str = Field(min_length=1, max_length=40)
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA zone; omitted: the lender's pack default; empty: unknown (denied)",
    )

    @field_validator("source")
    @classmethod
    def _lawful_source(cls, value: str) -> str:
        return rules.check_source(value).value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else rules.check_timezone(value)


class PartyCreate(BaseModel):
    """A co-obligor or guarantor (with the contract that binds them) or a contact person
    (with the lawful basis and the day it was given). The debtor's party is made from the
    loan's borrower, never through this shape."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["co_obligor", "guarantor", "contact_person"]
    name: str = Field(min_length=1, max_length=100)
    contract_reference: str | None = Field(
        default=None, min_length=1, max_length=100, validate_default=True
    )
    lawful_basis: LawfulBasis | None = Field(default=None, validate_default=True)
    basis_date: date | None = Field(default=None, validate_default=True)
    point: PointCreate | None = None

    @field_validator("contract_reference")
    @classmethod
    def _contract(cls, value: str | None, info: ValidationInfo) -> str | None:
        obligor = info.data.get("role") in ("co_obligor", "guarantor")
        if obligor and not value:
            raise ValueError("a co-obligor or guarantor needs the contract that binds them")
        if not obligor and value:
            raise ValueError("only a co-obligor or guarantor has a contract reference")
        return value

    @field_validator("lawful_basis", "basis_date")
    @classmethod
    def _basis(cls, value: object, info: ValidationInfo) -> object:
        contact_person = info.data.get("role") == "contact_person"
        if contact_person and value is None:
            raise ValueError("a contact person needs the lawful basis and the day it was given")
        if not contact_person and value is not None:
            raise ValueError("only a contact person has a lawful basis")
        return value


class PointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    party_id: int
    kind: PointKind
    masked: str
    source: PointSource
    timezone: str


class PartyRead(BaseModel):
    id: int
    loan_id: int
    role: PartyRole
    name: str
    contract_reference: str | None
    lawful_basis: LawfulBasis | None
    basis_date: date | None
    designated_by: str | None
    points: list[PointRead]


class AuthorizeCreate(BaseModel):
    """A proposed contact. Channel and party are checked by the gate, not here: an unknown
    one is a denial that says what is missing."""

    model_config = ConfigDict(extra="forbid")

    loan_id: int
    party_id: int | None = None
    point_id: int | None = None
    channel: str | None = Field(default=None, max_length=20)
    purpose: Purpose = Purpose.COLLECT
    template: str | None = Field(default=None, max_length=60)
    text: str | None = Field(default=None, max_length=2000)
    amount: int | None = Field(default=None, ge=0, description="minor units demanded, if any")
    staff_count: int | None = Field(default=None, ge=0, le=20)


class ViolationRead(BaseModel):
    rule: str
    message: str
    message_zh: str


class ContentFindingRead(BaseModel):
    category: str
    span: str
    start: int
    end: int
    rule: str
    explanation: str


class DecisionRead(BaseModel):
    decision_id: int
    allowed: bool
    reservation: str | None = None
    expires_at: datetime | None = None
    rules: list[str]
    violations: list[ViolationRead]
    earliest_lawful_at: datetime | None = None
    earliest_lawful_local: str | None = None
    timezone: str
    pack: str
    pack_version: str
    message: str | None = Field(
        default=None, description="the fixed text to use (contact persons: a call-back request)"
    )
    findings: list[ContentFindingRead] = Field(
        default_factory=list,
        description="the content checker's findings in the proposed text (rule fairdun.content)",
    )


class OutcomeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Outcome


class OutcomeRead(BaseModel):
    reservation: str
    outcome: Outcome
    recorded_at: datetime


_PARTY_KINDS = ("medium_opt_out", "call_consent", "contact_refused", "contact_agreement")


class AccountEventCreate(BaseModel):
    """Something that changes what is lawful from now on. It takes effect at the gate's
    clock, never back-dated: the gate's earlier decisions stand as they were made."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[
        "cease_request",
        "dispute_opened",
        "dispute_resolved",
        "attorney_retained",
        "medium_opt_out",
        "call_consent",
        "contact_refused",
        "contact_agreement",
    ]
    party_id: int | None = Field(default=None, validate_default=True)
    point_id: int | None = None
    channel: Channel | None = Field(default=None, validate_default=True)
    window: str | None = Field(default=None, max_length=11, validate_default=True)

    @field_validator("party_id")
    @classmethod
    def _party(cls, value: int | None, info: ValidationInfo) -> int | None:
        kind = info.data.get("kind")
        if kind in _PARTY_KINDS and value is None:
            raise ValueError(f"a {kind} event names the party")
        return value

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: Channel | None, info: ValidationInfo) -> Channel | None:
        kind = info.data.get("kind")
        if kind == "medium_opt_out" and value is None and info.data.get("point_id") is None:
            raise ValueError("a medium_opt_out names the channel, the point or both")
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("kind") == "contact_agreement":
            if not value or parse_window(value) is None:
                raise ValueError("a contact_agreement needs the agreed window as HH:MM-HH:MM")
        elif value:
            raise ValueError("only a contact_agreement has a window")
        return value


class AccountEventRead(BaseModel):
    id: int
    kind: EventKind
    loan_id: int
    party_id: int | None
    occurred_at: datetime


class ShieldRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(min_length=5, max_length=30)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return rules.normalise_phone(value)


class ShieldRequestRead(BaseModel):
    verification: str
    expires_at: datetime
    message: str


class ShieldVerifyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verification: str = Field(min_length=1, max_length=36)
    code: str = Field(pattern=r"^[0-9]{6}$")


class ShieldVerifyRead(BaseModel):
    shielded: bool
    message: str
