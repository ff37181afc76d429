"""Use cases of the reporting platform: intake with evidence and receipt, the reporter's
follow-up, triage, the case workflow, deadlines and reminders, and what each viewer may
see. Never commits: the caller's unit of work does.

Who sees what:

* the regulator sees every case whole (the only unmasked view);
* an institution's administrators and compliance officers see the cases forwarded to
  their institution, masked, without the reporter's name, phone or loan unless the
  reporter consented, and the evidence files only if the reporter agreed to share them;
* the reporter, with the receipt, sees their case masked, and can add evidence, answer
  questions and accept or dispute the answer;
* nobody else sees any case (404, as for a case that does not exist).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from fairdun.audit import service as audit
from fairdun.complaints import masking, repository, similarity
from fairdun.complaints.config import ComplaintConfig, HoldPolicy
from fairdun.complaints.evidence import MAX_FILES, CheckedFile, EvidenceStore, check_file
from fairdun.complaints.models import Complaint, ComplaintEvent, ComplaintEvidence
from fairdun.complaints.schemas import (
    ComplexityCreate,
    FeedbackCreate,
    NoteCreate,
    ReportCreate,
    ResponseCreate,
    TextCreate,
    TriageCreate,
)
from fairdun.complaints.transitions import (
    LEGAL_ZONE,
    OPEN,
    Audience,
    Complexity,
    DeadlineState,
    Party,
    ReporterKind,
    Status,
    TransitionRefused,
    check_raise,
    check_transition,
    deadline_state,
    due_at,
)
from fairdun.contacts import service as contacts
from fairdun.content.types import CATEGORIES
from fairdun.identity.models import Role
from fairdun.identity.principal import Principal
from fairdun.institutions.models import Institution, InstitutionKind
from fairdun.kit import crypto
from fairdun.kit.errors import Conflict, Forbidden, Invalid, NotFound, Throttled
from fairdun.loans import repository as loans_repo
from fairdun.outbox import service as outbox
from fairdun.outbox.models import OutboxChannel

log = logging.getLogger("fairdun.complaints")

INSTITUTION_ROLES = frozenset({Role.INSTITUTION_ADMIN, Role.COMPLIANCE_OFFICER})
# Institutions a report can be about (not the regulator itself).
REPORTABLE_KINDS = frozenset(k for k in InstitutionKind if k is not InstitutionKind.REGULATOR)
_KINDS = sorted(k.value for k in REPORTABLE_KINDS)

# Receipts: a code to find the case and a secret to prove it is yours. Crockford's
# base32 has no I, L, O or U, so a code read aloud or copied by hand survives.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_CHARS = 10  # 50 bits: unguessable enough to find nothing by trying
SECRET_CHARS = 20  # 100 bits: the proof; only its keyed hash is stored
_DUMMY_HASH = "0" * 64


def _random(n: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


_CONFUSABLE = str.maketrans("OIL", "011")


def normalise_code(value: str) -> str:
    """Upper case, separators dropped, and the letters people confuse with digits read as
    those digits (Crockford)."""
    text = re.sub(r"[^0-9A-Za-z]", "", value).upper()
    return text.translate(_CONFUSABLE)


def secret_hash(secret: str) -> str:
    return crypto.keyring().blind_index(normalise_code(secret), "complaints.secret")


def format_secret(raw: str) -> str:
    return "-".join(raw[i : i + 5] for i in range(0, len(raw), 5))


# --- viewers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """Who looks at a case: the regulator, an institution, or the reporter."""

    party: Party
    institution_id: int | None = None

    @property
    def unmasked(self) -> bool:
        return self.party is Party.REGULATOR


REPORTER = Viewer(Party.REPORTER)


def viewer_of(actor: Principal) -> Viewer:
    if actor.role is Role.REGULATOR:
        return Viewer(Party.REGULATOR)
    if actor.role in INSTITUTION_ROLES and actor.institution_id is not None:
        return Viewer(Party.INSTITUTION, actor.institution_id)
    raise Forbidden("only the regulator and an institution's complaint staff handle reports")


def _scope(viewer: Viewer) -> int | None:
    return None if viewer.party is Party.REGULATOR else (viewer.institution_id or -1)


def get_case(session: Session, actor: Principal, complaint_id: int) -> Complaint:
    """The case if ``actor`` may see it; otherwise 404, exactly as if it did not exist."""
    try:
        viewer = viewer_of(actor)
    except Forbidden:
        raise NotFound("no such report") from None
    found = repository.case(session, complaint_id, _scope(viewer))
    if found is None:
        raise NotFound("no such report")
    return found


def listing(
    session: Session, actor: Principal, f: repository.CaseFilter | None = None
) -> list[Complaint]:
    return repository.cases(session, _scope(viewer_of(actor)), f or repository.CaseFilter())


def group_sizes(session: Session, actor: Principal, cases: list[Complaint]) -> dict[int, int]:
    """Reports per near-duplicate group, counted among the cases the actor may see."""
    return repository.group_sizes(
        session, (c.group_id for c in cases if c.group_id is not None), _scope(viewer_of(actor))
    )


# --- intake ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """One uploaded file as received: its name and its bytes."""

    name: str
    data: bytes


@dataclass
class Receipt:
    complaint: Complaint
    secret: str  # shown once, never stored
    near_duplicates: int
    shield_verification: str | None = None
    shield_error: str | None = None
    written: list[str] = field(default_factory=list)


def requester_hash(requester: str) -> str:
    return crypto.keyring().blind_index(requester or "unknown", "complaints.requester")


def check_rate(session: Session, requester: str, now: datetime, config: ComplaintConfig) -> str:
    """The requester's hash if another report is allowed now, else :class:`Throttled`
    saying when the next one will be."""
    who = requester_hash(requester)
    for window, limit in (
        (timedelta(hours=1), config.reports_per_hour),
        (timedelta(days=1), config.reports_per_day),
    ):
        since = now - window
        if repository.intake_count(session, who, since) >= limit:
            oldest = repository.oldest_intake(session, who, since) or now
            wait = max(60, int((oldest + window - now).total_seconds()))
            minutes = (wait + 59) // 60
            raise Throttled(
                f"too many reports from your network address: at most {limit} per "
                f"{'hour' if window == timedelta(hours=1) else 'day'}; "
                f"you can send the next one in {minutes} minute(s). "
                "If this is urgent, call the regulator's hotline.",
                wait,
            )
    return who


def _institution(session: Session, data: ReportCreate) -> tuple[int | None, str]:
    """The registry institution (by id, or by exact name as typed) and the name to show."""
    if data.institution_id is not None:
        inst = session.get(Institution, data.institution_id)
        if inst is None or inst.kind not in REPORTABLE_KINDS:
            raise Invalid("institution_id", "no such institution in the registry")
        return inst.id, inst.name
    name = data.institution_name or ""
    if not name:
        raise Invalid("institution", "choose an institution or type its name")
    match = repository.institution_by_name(session, name, _KINDS)
    return (match.id, match.name) if match is not None else (None, name)


def _check_identity(data: ReportCreate) -> None:
    if data.anonymous:
        if data.reporter_name or data.reporter_phone:
            raise Invalid(
                "reporter_name",
                "an anonymous report carries no name or phone; untick 'anonymous' to give them",
            )
        if data.consent_share_identity:
            raise Invalid("consent_share_identity", "an anonymous report has no identity to share")
    elif not data.reporter_name:
        raise Invalid("reporter_name", "a named report needs your name")


def _check_files(uploads: list[Upload], already: int = 0) -> list[CheckedFile]:
    uploads = [u for u in uploads if u.name or u.data]
    if already + len(uploads) > MAX_FILES:
        raise Invalid(
            "evidence",
            f"at most {MAX_FILES} files per report"
            + (f"; this report already has {already}" if already else ""),
        )
    return [check_file("evidence", u.name, u.data) for u in uploads]


_RECIPIENT = {
    ReporterKind.BORROWER: "debtor",
    ReporterKind.CONTACT_OR_RELATIVE: "contact_person",
    ReporterKind.COLLEAGUE_OR_EMPLOYER: "employer",
    ReporterKind.STRANGER: "third_party",
}


def suggest_categories(text: str, reporter_kind: ReporterKind) -> list[str]:
    """Violation categories the content checker finds in what the reporter quotes and
    tells. A suggestion for the reviewer only: intake never fails because of it."""
    try:
        from fairdun.content.checker import check, make_context

        findings = check(text, make_context(text=text, recipient_role=_RECIPIENT[reporter_kind]))
    except Exception:  # the checker is optional to intake; log and go on
        log.warning("content checker unavailable for complaint triage", exc_info=True)
        return []
    return list(dict.fromkeys(f.category for f in findings if f.category in CATEGORIES))


def _group(session: Session, complaint: Complaint, fp: similarity.Fingerprint) -> int:
    """Put the report in the group of its most similar earlier report (at or above the
    threshold), or start a group of its own; the group's size."""
    complaint.group_id = complaint.id
    if not fp.usable:
        return 1
    best: tuple[float, repository.Candidate] | None = None
    for other in repository.candidates(session, fp.bands, complaint.id):
        if other.fingerprint is None:
            continue
        score = similarity.similarity(fp.signature, other.fingerprint)
        if score >= similarity.THRESHOLD and (best is None or score > best[0]):
            best = (score, other)
    repository.add_bands(session, complaint.id, fp.bands)
    if best is not None:
        complaint.group_id = best[1].group_id or best[1].id
    session.flush()
    return repository.group_sizes(session, [complaint.group_id], None).get(complaint.group_id, 1)


def _event(
    session: Session,
    complaint: Complaint,
    kind: str,
    party: Party,
    actor: str,
    now: datetime,
    *,
    audience: Audience = Audience.PUBLIC,
    note: str | None = None,
    from_status: Status | None = None,
    to_status: Status | None = None,
) -> ComplaintEvent:
    event = ComplaintEvent(
        complaint_id=complaint.id,
        kind=kind,
        from_status=from_status.value if from_status else None,
        to_status=to_status.value if to_status else None,
        party=party.value,
        actor=actor,
        audience=audience.value,
        note=note,
        created_at=now,
    )
    session.add(event)
    return event


def _audit(
    session: Session,
    complaint: Complaint,
    action: str,
    actor: str,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> None:
    # The institution's audit view shows records with its id: only once the case was
    # forwarded to it, and never with the reporter's identity in the details.
    audit.record(
        session,
        actor=actor,
        action=action,
        target=f"complaint:{complaint.id}",
        institution_id=complaint.institution_id if complaint.forwarded_at else None,
        details={"status": complaint.status, **(details or {})},
        at=now,
    )


def _store_files(
    session: Session,
    complaint: Complaint,
    files: list[CheckedFile],
    store: EvidenceStore,
    now: datetime,
) -> list[ComplaintEvidence]:
    rows = []
    for f in files:
        name = store.put(f.data)
        rows.append(
            ComplaintEvidence(
                complaint_id=complaint.id,
                storage_name=name,
                original_name=f.original_name[:200] or "file",
                kind=f.file_type.kind,
                content_type=f.file_type.content_type,
                size_bytes=len(f.data),
                sha256=hashlib.sha256(f.data).hexdigest(),
                metadata_stripped=f.stripped,
                created_at=now,
            )
        )
    session.add_all(rows)
    return rows


def submit(
    session: Session,
    data: ReportCreate,
    uploads: list[Upload],
    *,
    requester: str,
    now: datetime,
    config: ComplaintConfig,
    store: EvidenceStore,
    reporter: Principal | None = None,
) -> Receipt:
    """Take a report. Everything is checked before anything is written, so a refused
    report leaves nothing behind; files are written last, into ``store`` (the caller
    removes them if its transaction does not commit)."""
    if data.website.strip():
        raise Invalid(
            "website",
            "the form was refused: a field that must stay empty was filled in (a check "
            "against automatic submissions); reload the page and send it again",
        )
    who = check_rate(session, requester, now, config)
    _check_identity(data)
    loan_id: int | None = None
    lender_id: int | None = None
    if data.loan_id is not None:
        if reporter is None or reporter.role is not Role.BORROWER:
            raise Invalid("loan_id", "only a borrower logged in can link a report to their loan")
        loan = loans_repo.loan(session, reporter, data.loan_id)
        if loan is None:
            raise Invalid("loan_id", "no such loan of yours")
        loan_id, lender_id = loan.id, loan.institution_id
    institution_id: int | None
    if lender_id is not None and data.institution_id is None and not data.institution_name:
        # The borrower's own loan names the lender.
        lender = session.get(Institution, lender_id)
        institution_id, institution_name = lender_id, lender.name if lender else ""
    else:
        institution_id, institution_name = _institution(session, data)
    if data.incident_date is not None and data.incident_date > now.astimezone(LEGAL_ZONE).date():
        raise Invalid("incident_date", "the date is in the future")
    checked = _check_files(uploads)

    code = _random(CODE_CHARS)
    while repository.tracking_code_taken(session, code):  # pragma: no cover - 2^-50
        code = _random(CODE_CHARS)
    secret = _random(SECRET_CHARS)
    told = "\n".join(x for x in (data.message_text, data.narrative) if x)
    hold = loan_id is not None and config.hold is not HoldPolicy.OFF
    complaint = Complaint(
        tracking_code=code,
        secret_hash=secret_hash(secret),
        status=Status.SUBMITTED,
        reporter_kind=data.reporter_kind.value,
        anonymous=data.anonymous,
        reporter_name=None if data.anonymous else data.reporter_name,
        reporter_phone=None if data.anonymous else data.reporter_phone,
        consent_share_identity=data.consent_share_identity and not data.anonymous,
        share_evidence=data.share_evidence,
        institution_id=institution_id,
        institution_text=institution_name,
        categories=" ".join(data.categories),
        suggested_categories=" ".join(suggest_categories(told, data.reporter_kind)),
        incident_date=data.incident_date,
        caller_numbers="\n".join(data.caller_numbers) or None,
        message_text=data.message_text,
        narrative=data.narrative,
        loan_id=loan_id,
        collection_hold=hold,
        complexity=Complexity.STANDARD,
        received_at=now,
        updated_at=now,
    )
    fp = similarity.fingerprint(data.narrative)
    complaint.fingerprint = fp.signature
    session.add(complaint)
    session.flush()
    size = _group(session, complaint, fp)
    _event(
        session, complaint, "submitted", Party.REPORTER, "reporter", now, to_status=Status.SUBMITTED
    )
    if data.consent_publish:
        # The consent is kept on the timeline, with its time: the public statistics page
        # publishes the masked account only of reports that carry it.
        _event(session, complaint, "publish_consented", Party.REPORTER, "reporter", now)
    if hold:
        _event(
            session,
            complaint,
            "hold_placed",
            Party.SYSTEM,
            "system",
            now,
            audience=Audience.INSTITUTION,
        )
    rows = _store_files(session, complaint, checked, store, now)
    for _row in rows:
        _event(session, complaint, "evidence_added", Party.REPORTER, "reporter", now)
    repository.add_intake_mark(session, who, now)
    repository.forget_intake_before(session, now - timedelta(days=1))
    session.flush()
    _audit(
        session,
        complaint,
        "complaint.submitted",
        "reporter",
        now,
        {
            "categories": data.categories,
            "suggested": complaint.suggested_categories.split(),
            "group": complaint.group_id,
            "evidence": len(rows),
            "collection_hold": hold,
            "anonymous": data.anonymous,
        },
    )
    if hold:
        _audit(
            session,
            complaint,
            "complaint.hold_placed",
            "system",
            now,
            {"loan": loan_id, "policy": config.hold.value},
        )
    receipt = Receipt(complaint, format_secret(secret), size - 1)
    if data.shield_phone:
        try:
            verification = contacts.request_shield(session, data.shield_phone, requester, now)
            receipt.shield_verification = verification.token
        except Throttled as exc:
            receipt.shield_error = exc.message
    return receipt


# --- the reporter, with the receipt ------------------------------------------------------------


def lookup(session: Session, tracking_code: str, secret: str) -> Complaint:
    """The case for a receipt. Wrong code and wrong secret give the same answer, and the
    secret's hash is compared in constant time."""
    found = repository.by_tracking_code(session, normalise_code(tracking_code))
    stored = found.secret_hash if found is not None else _DUMMY_HASH
    if not hmac.compare_digest(stored, secret_hash(secret)) or found is None:
        raise NotFound("the tracking code or the secret is wrong")
    return found


def _locked(session: Session, complaint: Complaint) -> Complaint:
    locked = repository.case_for_update(session, complaint.id)
    assert locked is not None
    return locked


def reporter_add_evidence(
    session: Session,
    complaint: Complaint,
    uploads: list[Upload],
    now: datetime,
    store: EvidenceStore,
) -> list[ComplaintEvidence]:
    complaint = _locked(session, complaint)
    if Status(complaint.status) is Status.CLOSED:
        raise Conflict("the case is closed; it takes no more evidence")
    checked = _check_files(uploads, repository.evidence_count(session, complaint.id))
    if not checked:
        raise Invalid("evidence", "choose at least one file")
    rows = _store_files(session, complaint, checked, store, now)
    for _ in rows:
        _event(session, complaint, "evidence_added", Party.REPORTER, "reporter", now)
    complaint.updated_at = now
    session.flush()
    _audit(session, complaint, "complaint.evidence_added", "reporter", now, {"files": len(rows)})
    return rows


def reporter_answer(
    session: Session, complaint: Complaint, data: TextCreate, now: datetime
) -> ComplaintEvent:
    complaint = _locked(session, complaint)
    if Status(complaint.status) not in OPEN:
        raise Conflict("the case is closed")
    event = _event(session, complaint, "answer", Party.REPORTER, "reporter", now, note=data.text)
    complaint.updated_at = now
    session.flush()
    _audit(session, complaint, "complaint.answered", "reporter", now)
    return event


def reporter_feedback(
    session: Session, complaint: Complaint, data: FeedbackCreate, now: datetime
) -> Complaint:
    target = Status.ACCEPTED if data.accepted else Status.DISPUTED
    return _move(
        session,
        complaint,
        target,
        Party.REPORTER,
        "reporter",
        now,
        note=data.comment,
        kind="feedback_accepted" if data.accepted else "feedback_disputed",
    )


# --- the workflow ------------------------------------------------------------------------------


def _move(
    session: Session,
    complaint: Complaint,
    target: Status,
    party: Party,
    actor: str,
    now: datetime,
    *,
    note: str | None = None,
    kind: str | None = None,
    audience: Audience = Audience.PUBLIC,
    details: dict[str, Any] | None = None,
) -> Complaint:
    """One step of the whitelist, on the timeline and in the audit trail."""
    complaint = _locked(session, complaint)
    current = Status(complaint.status)
    try:
        check_transition(current, target, party)
    except TransitionRefused as exc:
        if exc.wrong_party:
            raise Forbidden(str(exc)) from None
        raise Conflict(str(exc)) from None
    complaint.status = target
    complaint.updated_at = now
    if target is Status.FORWARDED:
        complaint.forwarded_at = now
        complaint.complexity = Complexity.STANDARD
        complaint.extension_approved_by = None
        complaint.due_at = due_at(now, Complexity.STANDARD)
        complaint.responded_at = None
        complaint.reminded_soon_at = complaint.reminded_overdue_at = None
    if target is Status.CLOSED:
        complaint.closed_at = now
        _release_hold(session, complaint, actor, now, "closed")
    _event(
        session,
        complaint,
        kind or target.value,
        party,
        actor,
        now,
        audience=audience,
        note=note,
        from_status=current,
        to_status=target,
    )
    session.flush()
    _audit(
        session,
        complaint,
        f"complaint.{kind or target.value}",
        actor,
        now,
        {"from": current.value, "to": target.value, **(details or {})},
    )
    return complaint


def _release_hold(
    session: Session, complaint: Complaint, actor: str, now: datetime, why: str
) -> None:
    if not complaint.collection_hold:
        return
    complaint.collection_hold = False
    _event(
        session,
        complaint,
        "hold_released",
        Party.SYSTEM if actor == "system" else Party.REGULATOR,
        actor,
        now,
        audience=Audience.INSTITUTION,
        note=why,
    )
    _audit(
        session,
        complaint,
        "complaint.hold_released",
        actor,
        now,
        {"loan": complaint.loan_id, "why": why},
    )


def _regulator(actor: Principal) -> None:
    if actor.role is not Role.REGULATOR:
        raise Forbidden("only the regulator may do this")


def _institution_staff(actor: Principal, complaint: Complaint) -> None:
    if actor.role not in INSTITUTION_ROLES or actor.institution_id != complaint.institution_id:
        raise Forbidden("only the institution's complaint staff may do this")


def triage(
    session: Session,
    actor: Principal,
    complaint_id: int,
    data: TriageCreate,
    now: datetime,
    config: ComplaintConfig,
) -> Complaint:
    """The regulator reviews a new report: confirms its categories and institution,
    decides whether the collection hold stays, and may forward it at once."""
    complaint = get_case(session, actor, complaint_id)
    _regulator(actor)
    if data.institution_id is not None:
        inst = session.get(Institution, data.institution_id)
        if inst is None or inst.kind not in REPORTABLE_KINDS:
            raise Invalid("institution_id", "no such institution in the registry")
        complaint.institution_id = inst.id
        complaint.institution_text = inst.name
    if data.forward and complaint.institution_id is None:
        raise Invalid("institution_id", "choose the institution from the registry to forward to")
    complaint.categories = " ".join(data.categories) or complaint.categories
    _move(
        session,
        complaint,
        Status.TRIAGED,
        Party.REGULATOR,
        actor.actor,
        now,
        note=data.note,
        audience=Audience.REGULATOR,
        details={"categories": complaint.categories.split()},
    )
    keep = data.keep_hold if data.keep_hold is not None else config.hold is HoldPolicy.UNTIL_CLOSED
    if not keep:
        _release_hold(session, complaint, actor.actor, now, "reviewed")
    if data.forward:
        forward(session, actor, complaint.id, NoteCreate(), now)
    return complaint


def forward(
    session: Session, actor: Principal, complaint_id: int, data: NoteCreate, now: datetime
) -> Complaint:
    complaint = get_case(session, actor, complaint_id)
    _regulator(actor)
    if complaint.institution_id is None:
        raise Invalid("institution_id", "the case has no institution from the registry yet")
    return _move(
        session,
        complaint,
        Status.FORWARDED,
        Party.REGULATOR,
        actor.actor,
        now,
        note=data.note,
        details={"institution": complaint.institution_id},
    )


def respond(
    session: Session, actor: Principal, complaint_id: int, data: ResponseCreate, now: datetime
) -> Complaint:
    complaint = get_case(session, actor, complaint_id)
    _institution_staff(actor, complaint)
    late = complaint.due_at is not None and now >= complaint.due_at
    complaint = _move(
        session,
        complaint,
        Status.RESPONDED,
        Party.INSTITUTION,
        actor.actor,
        now,
        note=data.text,
        details={"outcome": data.outcome.value, "late": late},
    )
    complaint.responded_at = now
    complaint.response_outcome = data.outcome.value
    complaint.response_text = data.text
    session.flush()
    return complaint


def raise_complexity(
    session: Session, actor: Principal, complaint_id: int, data: ComplexityCreate, now: datetime
) -> Complaint:
    """Complex: 30 days. Extended: 60 days, with the senior who approved it named; the
    timeline entry is the notice to the reporter. Only before the current deadline."""
    complaint = get_case(session, actor, complaint_id)
    _institution_staff(actor, complaint)
    complaint = _locked(session, complaint)
    if Status(complaint.status) is not Status.FORWARDED or complaint.forwarded_at is None:
        raise Conflict("only a case waiting for the institution's answer can get more time")
    if complaint.due_at is not None and now >= complaint.due_at:
        raise Conflict("the deadline has passed; it can no longer be extended")
    if data.complexity is Complexity.STANDARD:
        raise Invalid("complexity", "choose complex or extended")
    if data.complexity is Complexity.EXTENDED and not data.approved_by:
        raise Invalid("approved_by", "an extension to 60 days needs a senior's approval")
    current = Complexity(complaint.complexity)
    try:
        check_raise(current, data.complexity)
    except TransitionRefused as exc:
        raise Conflict(str(exc)) from None
    complaint.complexity = data.complexity
    complaint.extension_approved_by = data.approved_by
    complaint.due_at = due_at(complaint.forwarded_at, data.complexity)
    complaint.reminded_soon_at = None
    complaint.updated_at = now
    _event(
        session,
        complaint,
        f"marked_{data.complexity.value}",
        Party.INSTITUTION,
        actor.actor,
        now,
        note=data.reason,
    )
    session.flush()
    _audit(
        session,
        complaint,
        "complaint.deadline_extended",
        actor.actor,
        now,
        {
            "complexity": data.complexity.value,
            "due_at": complaint.due_at.isoformat(),
            "approved_by": data.approved_by,
        },
    )
    return complaint


def ask(
    session: Session, actor: Principal, complaint_id: int, data: TextCreate, now: datetime
) -> ComplaintEvent:
    """A question to the reporter, shown on their case page."""
    complaint = get_case(session, actor, complaint_id)
    viewer = viewer_of(actor)
    if viewer.party is Party.INSTITUTION:
        _institution_staff(actor, complaint)
        if Status(complaint.status) is not Status.FORWARDED:
            raise Conflict("the institution may ask questions while the case waits for its answer")
    elif Status(complaint.status) not in OPEN:
        raise Conflict("the case is closed")
    event = _event(session, complaint, "question", viewer.party, actor.actor, now, note=data.text)
    complaint.updated_at = now
    session.flush()
    _audit(session, complaint, "complaint.question", actor.actor, now)
    return event


def escalate(
    session: Session, actor: Principal, complaint_id: int, data: NoteCreate, now: datetime
) -> Complaint:
    complaint = get_case(session, actor, complaint_id)
    _regulator(actor)
    return _move(
        session, complaint, Status.ESCALATED, Party.REGULATOR, actor.actor, now, note=data.note
    )


def close(
    session: Session, actor: Principal, complaint_id: int, data: NoteCreate, now: datetime
) -> Complaint:
    complaint = get_case(session, actor, complaint_id)
    _regulator(actor)
    return _move(
        session, complaint, Status.CLOSED, Party.REGULATOR, actor.actor, now, note=data.note
    )


def evidence_file(
    session: Session,
    actor: Principal,
    complaint_id: int,
    evidence_id: int,
    store: EvidenceStore,
    now: datetime,
) -> tuple[ComplaintEvidence, bytes]:
    complaint = get_case(session, actor, complaint_id)
    row = repository.evidence_item(session, complaint.id, evidence_id)
    if row is None:
        raise NotFound("no such evidence file")
    if viewer_of(actor).party is Party.INSTITUTION and not complaint.share_evidence:
        raise Forbidden(
            "the reporter did not agree to share the evidence files with the institution"
        )
    data = store.get(row.storage_name)
    audit.record(
        session,
        actor=actor.actor,
        action="complaint.evidence_read",
        target=f"complaint:{complaint.id}",
        institution_id=complaint.institution_id if complaint.forwarded_at else None,
        details={"evidence": row.id},
        at=now,
    )
    return row, data


# --- deadlines and reminders -------------------------------------------------------------------


@dataclass(frozen=True)
class DueCase:
    complaint_id: int
    institution_id: int | None
    due_at: datetime
    state: DeadlineState


def due_cases(
    session: Session, now: datetime, soon: timedelta = timedelta(days=3)
) -> list[DueCase]:
    """Cases waiting for the institution whose deadline is within ``soon`` or has passed."""
    out = []
    for c in repository.due_before(session, now + soon):
        assert c.due_at is not None
        state = deadline_state(Status(c.status), c.due_at, now, soon=soon)
        if state in (DeadlineState.DUE_SOON, DeadlineState.OVERDUE):
            out.append(DueCase(c.id, c.institution_id, c.due_at, state))
    return out


def _staff_emails(session: Session, institution_id: int) -> list[str]:
    return repository.staff_emails(session, institution_id, [r.value for r in INSTITUTION_ROLES])


def send_reminders(session: Session, now: datetime, soon: timedelta = timedelta(days=3)) -> int:
    """One reminder per case when its deadline comes near and one when it passes, by
    e-mail to the institution's complaint staff through the outbox; each on the timeline.
    The number of reminders sent."""
    sent = 0
    for due in due_cases(session, now, soon):
        complaint = repository.case_for_update(session, due.complaint_id)
        if complaint is None or complaint.institution_id is None:
            continue
        overdue = due.state is DeadlineState.OVERDUE
        if (complaint.reminded_overdue_at if overdue else complaint.reminded_soon_at) is not None:
            continue
        local = due.due_at.astimezone(LEGAL_ZONE) - timedelta(seconds=1)
        when = local.strftime("%Y-%m-%d")
        body = (
            f"【fairdun】投诉 #{complaint.id} 已逾期，答复期限为 {when}。"
            f"Complaint #{complaint.id} is overdue: the answer was due by {when}."
            if overdue
            else f"【fairdun】投诉 #{complaint.id} 须在 {when} 前答复。"
            f"Complaint #{complaint.id} must be answered by {when}."
        )
        for email in _staff_emails(session, complaint.institution_id):
            outbox.enqueue(
                session,
                channel=OutboxChannel.EMAIL,
                recipient=email,
                body=body,
                kind="complaint.reminder",
                now=now,
                institution_id=complaint.institution_id,
            )
        if overdue:
            complaint.reminded_overdue_at = now
        else:
            complaint.reminded_soon_at = now
        kind = "reminder_overdue" if overdue else "reminder_due_soon"
        _event(session, complaint, kind, Party.SYSTEM, "system", now, audience=Audience.INSTITUTION)
        session.flush()
        _audit(
            session,
            complaint,
            f"complaint.{kind}",
            "system",
            now,
            {"due_at": due.due_at.isoformat()},
        )
        sent += 1
    return sent


# --- views -------------------------------------------------------------------------------------


def _visible_to(viewer: Viewer, audience: str) -> bool:
    if viewer.party is Party.REGULATOR:
        return True
    if viewer.party is Party.INSTITUTION:
        return audience in (Audience.PUBLIC.value, Audience.INSTITUTION.value)
    return audience == Audience.PUBLIC.value


@dataclass(frozen=True)
class EventView:
    at: datetime
    kind: str
    party: str
    to_status: str | None
    note: str | None


@dataclass(frozen=True)
class EvidenceView:
    id: int
    name: str
    kind: str
    content_type: str
    size_bytes: int
    metadata_stripped: bool


@dataclass(frozen=True)
class CaseView:
    """A case as one viewer may see it: masking and identity decided here, once."""

    complaint: Complaint
    viewer: Viewer
    masked: bool
    reporter_name: str | None
    reporter_phone: str | None
    loan_id: int | None
    narrative: str
    message_text: str | None
    caller_numbers: list[str]
    categories: list[str]
    suggested_categories: list[str]
    evidence: list[EvidenceView]
    evidence_hidden: int
    timeline: list[EventView]
    deadline: DeadlineState | None
    near_duplicates: int
    can_feedback: bool
    open_question: bool


def present(session: Session, complaint: Complaint, viewer: Viewer, now: datetime) -> CaseView:
    masked = not viewer.unmasked
    identity = viewer.unmasked or (
        viewer.party is Party.INSTITUTION and complaint.consent_share_identity
    )

    def text(value: str | None) -> str | None:
        return masking.mask_text(value) if masked and value else value

    timeline = []
    for e in repository.events(session, complaint.id):
        if not _visible_to(viewer, e.audience):
            continue
        # What a reporter wrote is masked for others; what staff wrote is shown as written.
        note = text(e.note) if e.party == Party.REPORTER.value else e.note
        timeline.append(EventView(e.created_at, e.kind, e.party, e.to_status, note))
    files = repository.evidence(session, complaint.id)
    show_files = viewer.party is not Party.INSTITUTION or complaint.share_evidence
    evidence = (
        [
            EvidenceView(
                f.id,
                masking.mask_text(f.original_name) if masked else f.original_name,
                f.kind,
                f.content_type,
                f.size_bytes,
                f.metadata_stripped,
            )
            for f in files
        ]
        if show_files
        else []
    )
    group = 0
    if complaint.group_id is not None and viewer.party is not Party.REPORTER:
        sizes = repository.group_sizes(session, [complaint.group_id], _scope(viewer))
        group = max(sizes.get(complaint.group_id, 1) - 1, 0)
    kinds = [e.kind for e in timeline]
    last_question = max((i for i, k in enumerate(kinds) if k == "question"), default=-1)
    last_answer = max((i for i, k in enumerate(kinds) if k == "answer"), default=-1)
    status = Status(complaint.status)
    return CaseView(
        complaint=complaint,
        viewer=viewer,
        masked=masked,
        reporter_name=complaint.reporter_name if identity else None,
        reporter_phone=complaint.reporter_phone if identity else None,
        loan_id=complaint.loan_id if identity else None,
        narrative=text(complaint.narrative) or "",
        message_text=text(complaint.message_text),
        caller_numbers=(complaint.caller_numbers or "").split("\n")
        if complaint.caller_numbers
        else [],
        categories=complaint.categories.split(),
        suggested_categories=complaint.suggested_categories.split(),
        evidence=evidence,
        evidence_hidden=0 if show_files else len(files),
        timeline=timeline,
        deadline=deadline_state(status, complaint.due_at, now, complaint.responded_at),
        near_duplicates=group,
        can_feedback=viewer.party is Party.REPORTER and status is Status.RESPONDED,
        open_question=last_question > last_answer,
    )


def reportable_institutions(
    session: Session, query: str = "", limit: int = 500
) -> list[Institution]:
    """The registry as the public form offers it (every kind but the regulator)."""
    return repository.institutions(session, _KINDS, query, limit)


def today_local(now: datetime) -> date:
    return now.astimezone(LEGAL_ZONE).date()
