"""API shapes of the reporting platform. Inputs refuse unknown fields and name the field
that is wrong; text fields refuse control characters."""

from __future__ import annotations

import re
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fairdun.complaints.models import MESSAGE_CHARS, NARRATIVE_CHARS, NOTE_CHARS
from fairdun.complaints.transitions import (
    CONDUCT_CATEGORIES,
    Complexity,
    ReporterKind,
    ResponseOutcome,
)
from fairdun.contacts import rules as contact_rules
from fairdun.content.types import CATEGORIES

REPORT_CATEGORIES: tuple[str, ...] = (*CATEGORIES, *CONDUCT_CATEGORIES)
MAX_CALLER_NUMBERS = 10

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: str | None) -> str | None:
    """Trimmed text, None when empty; control characters other than newline and tab are
    refused (they hide content from a reader)."""
    if value is None:
        return None
    text = value.replace("\r\n", "\n").strip()
    if _CONTROL.search(text):
        raise ValueError("contains control characters")
    return text or None


def check_categories(values: list[str]) -> list[str]:
    unknown = [v for v in values if v not in REPORT_CATEGORIES]
    if unknown:
        raise ValueError(
            f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
            f"known: {', '.join(REPORT_CATEGORIES)}"
        )
    return list(dict.fromkeys(values))


class ReportCreate(BaseModel):
    """A report from the public form or the API. Anonymous by default; the consent to
    show the reporter's identity to the institution is separate and off by default."""

    model_config = ConfigDict(extra="forbid")

    reporter_kind: ReporterKind
    institution_id: int | None = None
    institution_name: str | None = Field(default=None, max_length=200)
    categories: list[str] = Field(default_factory=list, max_length=len(REPORT_CATEGORIES))
    incident_date: date | None = None
    caller_numbers: list[str] = Field(default_factory=list, max_length=MAX_CALLER_NUMBERS)
    message_text: str | None = Field(default=None, max_length=MESSAGE_CHARS)
    narrative: str = Field(min_length=10, max_length=NARRATIVE_CHARS)
    anonymous: bool = True
    reporter_name: str | None = Field(default=None, max_length=100)
    reporter_phone: str | None = Field(default=None, max_length=30)
    consent_share_identity: bool = False
    share_evidence: bool = False
    # Consent to publish the account on the public statistics page, masked; off by default.
    consent_publish: bool = False
    shield_phone: str | None = Field(default=None, max_length=30)
    loan_id: int | None = None
    # The honeypot: hidden from people, filled in by form-filling robots.
    website: str = Field(default="", max_length=200)

    @field_validator("institution_name", "message_text", "reporter_name")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return clean_text(value)

    @field_validator("narrative")
    @classmethod
    def _narrative(cls, value: str) -> str:
        text = clean_text(value)
        if text is None or len(text) < 10:
            raise ValueError("describe what happened in at least 10 characters")
        return text

    @field_validator("categories")
    @classmethod
    def _categories(cls, values: list[str]) -> list[str]:
        return check_categories(values)

    @field_validator("caller_numbers")
    @classmethod
    def _numbers(cls, values: list[str]) -> list[str]:
        out: list[str] = []
        for raw in values:
            if raw.strip():
                out.append(contact_rules.normalise_phone(raw))
        return list(dict.fromkeys(out))

    @field_validator("reporter_phone", "shield_phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return contact_rules.normalise_phone(value)


class ReceiptRead(BaseModel):
    tracking_code: str
    secret: str
    status: str
    message: str
    suggested_categories: list[str]
    near_duplicates: int
    collection_hold: bool
    shield_verification: str | None = None
    shield_error: str | None = None


class EventRead(BaseModel):
    at: datetime
    kind: str
    party: str
    to_status: str | None
    note: str | None


class EvidenceRead(BaseModel):
    id: int
    name: str
    kind: str
    content_type: str
    size_bytes: int
    metadata_stripped: bool


class ReporterCaseRead(BaseModel):
    """What the reporter sees with the receipt (personal data masked)."""

    tracking_code: str
    status: str
    received_at: datetime
    institution: str
    categories: list[str]
    narrative: str
    due_at: datetime | None
    response_outcome: str | None
    response_text: str | None
    can_give_feedback: bool
    evidence: list[EvidenceRead]
    timeline: list[EventRead]


class CaseRead(BaseModel):
    """A case as the institution (masked, no identity without consent) or the regulator
    (everything) sees it."""

    id: int
    status: str
    reporter_kind: str
    anonymous: bool
    reporter_name: str | None
    reporter_phone: str | None
    institution_id: int | None
    institution: str
    categories: list[str]
    suggested_categories: list[str]
    incident_date: date | None
    caller_numbers: list[str]
    message_text: str | None
    narrative: str
    masked: bool
    group_id: int | None
    near_duplicates: int
    loan_id: int | None
    collection_hold: bool
    complexity: str
    received_at: datetime
    forwarded_at: datetime | None
    due_at: datetime | None
    deadline: str | None
    responded_at: datetime | None
    response_outcome: str | None
    response_text: str | None
    evidence: list[EvidenceRead]
    timeline: list[EventRead]


class CaseSummaryRead(BaseModel):
    id: int
    status: str
    institution: str
    categories: list[str]
    received_at: datetime
    due_at: datetime | None
    deadline: str | None
    group_id: int | None
    near_duplicates: int


class TriageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    categories: list[str] = Field(default_factory=list, max_length=len(REPORT_CATEGORIES))
    institution_id: int | None = None
    keep_hold: bool | None = None  # None: the configured policy decides
    forward: bool = False
    note: str | None = Field(default=None, max_length=NOTE_CHARS)

    @field_validator("categories")
    @classmethod
    def _categories(cls, values: list[str]) -> list[str]:
        return check_categories(values)

    @field_validator("note")
    @classmethod
    def _note(cls, value: str | None) -> str | None:
        return clean_text(value)


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=NOTE_CHARS)

    @field_validator("note")
    @classmethod
    def _note(cls, value: str | None) -> str | None:
        return clean_text(value)


class TextCreate(BaseModel):
    """A question to the reporter, or the reporter's answer: text is required."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=NOTE_CHARS)

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        text = clean_text(value)
        if not text:
            raise ValueError("write something")
        return text


class ResponseCreate(BaseModel):
    """The institution's answer: a structured outcome and its explanation."""

    model_config = ConfigDict(extra="forbid")

    outcome: ResponseOutcome
    text: str = Field(min_length=5, max_length=NOTE_CHARS)

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        text = clean_text(value)
        if text is None or len(text) < 5:
            raise ValueError("explain the answer in at least 5 characters")
        return text


class ComplexityCreate(BaseModel):
    """Mark a case complex (30 days) or, with a senior's approval, extend it (60 days)."""

    model_config = ConfigDict(extra="forbid")

    complexity: Complexity
    reason: str = Field(min_length=2, max_length=NOTE_CHARS)
    approved_by: str | None = Field(default=None, max_length=100)

    @field_validator("reason", "approved_by")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return clean_text(value)


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accepted: bool
    comment: str | None = Field(default=None, max_length=NOTE_CHARS)

    @field_validator("comment")
    @classmethod
    def _comment(cls, value: str | None) -> str | None:
        return clean_text(value)


class InstitutionChoice(BaseModel):
    id: int
    name: str
    licence_status: str


class DueCaseRead(BaseModel):
    id: int
    institution_id: int | None
    due_at: datetime
    deadline: str
