"""Tables of the reporting platform: reports (cases), their evidence files, their timeline,
the candidate index for near-duplicates, and the marks that rate-limit intake.

Everything a reporter wrote or said about themselves is stored encrypted. The receipt's
secret is stored only as a keyed hash. The address a report came from is never stored
with the report: only a keyed hash of it, in a separate table that forgets after a day.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from fairdun.complaints.transitions import Complexity, Status
from fairdun.kit.clock import utcnow
from fairdun.kit.db import Base, EncryptedString, UTCDateTime

NARRATIVE_CHARS = 5000
MESSAGE_CHARS = 2000
NOTE_CHARS = 4000


class Complaint(Base):
    """One report and the case that follows it."""

    __tablename__ = "complaints"

    id: Mapped[int] = mapped_column(primary_key=True)
    tracking_code: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[Status] = mapped_column(String(20), default=Status.SUBMITTED, index=True)

    # Who reports. Anonymous reports have no name or phone; a named reporter's identity
    # reaches the institution only with the separate consent below.
    reporter_kind: Mapped[str] = mapped_column(String(30))
    anonymous: Mapped[bool] = mapped_column(default=True)
    reporter_name: Mapped[str | None] = mapped_column(
        EncryptedString("complaints.reporter_name"), nullable=True
    )
    reporter_phone: Mapped[str | None] = mapped_column(
        EncryptedString("complaints.reporter_phone"), nullable=True
    )
    consent_share_identity: Mapped[bool] = mapped_column(default=False)
    # Evidence often shows who the reporter is (a screenshot of their own phone): the
    # institution sees the files only when the reporter agreed to that too.
    share_evidence: Mapped[bool] = mapped_column(default=False)

    # About whom: an institution of the registry, or the name as the reporter wrote it.
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institutions.id"), nullable=True, index=True
    )
    institution_text: Mapped[str] = mapped_column(String(200), default="")

    # What happened.
    categories: Mapped[str] = mapped_column(String(300), default="")  # space-separated ids
    suggested_categories: Mapped[str] = mapped_column(String(300), default="")
    incident_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    caller_numbers: Mapped[str | None] = mapped_column(
        EncryptedString("complaints.caller_numbers", length=2048), nullable=True
    )
    message_text: Mapped[str | None] = mapped_column(
        EncryptedString("complaints.message_text", length=10000), nullable=True
    )
    narrative: Mapped[str] = mapped_column(EncryptedString("complaints.narrative", length=24000))

    # Triage: the near-duplicate group (the id of its first report) and its signature.
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    group_id: Mapped[int | None] = mapped_column(nullable=True, index=True)
    # A borrower reporting about their own loan (logged in); the hold pauses its collection.
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"), nullable=True, index=True)
    collection_hold: Mapped[bool] = mapped_column(default=False)

    # Deadline and the institution's answer.
    complexity: Mapped[Complexity] = mapped_column(String(10), default=Complexity.STANDARD)
    extension_approved_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    response_outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    response_text: Mapped[str | None] = mapped_column(
        EncryptedString("complaints.response_text", length=20000), nullable=True
    )
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reminded_soon_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reminded_overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ComplaintEvidence(Base):
    """One evidence file. The bytes live encrypted in the evidence directory under
    ``storage_name``; the name the reporter gave it is personal data."""

    __tablename__ = "complaint_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    storage_name: Mapped[str] = mapped_column(String(32), unique=True)
    original_name: Mapped[str] = mapped_column(EncryptedString("complaint_evidence.original_name"))
    kind: Mapped[str] = mapped_column(String(10))  # image, pdf, audio, text
    content_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))  # of the stored (cleaned) bytes
    metadata_stripped: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ComplaintEvent(Base):
    """The case timeline: every transition, question, answer, evidence file and reminder."""

    __tablename__ = "complaint_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    party: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    audience: Mapped[str] = mapped_column(String(20))
    # Free text (a question, an answer, a note): it may name people, so it is encrypted and
    # a reporter's text is masked for everyone but the regulator.
    note: Mapped[str | None] = mapped_column(
        EncryptedString("complaint_events.note", length=20000), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ComplaintBand(Base):
    """One LSH band key of a report's narrative signature: reports that share a key are
    candidates for the same near-duplicate group."""

    __tablename__ = "complaint_bands"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"))
    band: Mapped[str] = mapped_column(String(20), index=True)


class IntakeMark(Base):
    """A report received from an address (a keyed hash of it), for the per-address limit.
    Not linked to the report, and deleted once older than the longest window."""

    __tablename__ = "complaint_intake_marks"
    __table_args__ = (Index("ix_complaint_intake_marks_requester", "requester_hash", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    requester_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
