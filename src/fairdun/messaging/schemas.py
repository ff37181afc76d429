from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from fairdun.contacts.schemas import ContentFindingRead


class TemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    institution_id: int | None = Field(default=None, description="platform admins only")
    key: str = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    channel: str = Field(max_length=10)
    lang: str = Field(max_length=2)
    jurisdiction: str = Field(default="cn", max_length=2)
    recipient_role: str = Field(default="debtor", max_length=20)
    first_contact: bool = False
    subject: str = Field(default="", max_length=200)
    body: str = Field(min_length=1, max_length=10_000)


class TemplateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    institution_id: int
    key: str
    version: int
    channel: str
    lang: str
    jurisdiction: str
    recipient_role: str
    first_contact: bool
    subject: str
    body: str
    status: str
    created_at: datetime
    activated_at: datetime | None


class TemplateCheckRead(BaseModel):
    template_id: int
    rendered: str
    findings: list[ContentFindingRead]
    activated: bool = False
    status: str
