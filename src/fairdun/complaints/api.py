"""JSON routes of the reporting platform.

Public (no log-in): file a report, search the registry, and, with the receipt sent in the
``X-Tracking-Code`` and ``X-Tracking-Secret`` headers (never in the URL, which ends up in
logs), follow the case, add evidence, answer questions and accept or dispute the answer.
These routes use no cookie, so there is no ambient authority for a forged request to
borrow; the per-address limit and the honeypot apply as on the form.

Staff (the regulator, an institution's complaint staff): the cases, and each step of the
workflow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Header, Query, Request, UploadFile, status
from fastapi.responses import Response
from sqlalchemy.orm import Session

from fairdun.complaints import repository, service
from fairdun.complaints.config import ComplaintConfig
from fairdun.complaints.evidence import (
    MAX_BYTES,
    EvidenceStore,
    download_headers,
    safe_content_type,
)
from fairdun.complaints.models import Complaint, ComplaintEvidence
from fairdun.complaints.schemas import (
    CaseRead,
    CaseSummaryRead,
    ComplexityCreate,
    DueCaseRead,
    EventRead,
    EvidenceRead,
    FeedbackCreate,
    InstitutionChoice,
    NoteCreate,
    ReceiptRead,
    ReportCreate,
    ReporterCaseRead,
    ResponseCreate,
    TextCreate,
    TriageCreate,
)
from fairdun.complaints.transitions import Status, deadline_state
from fairdun.identity.principal import Principal
from fairdun.web.deps import ApiPrincipal, Db, now_of, settings_of

router = APIRouter(prefix="/api/v1/complaints", tags=["complaints"])
public = APIRouter(prefix="/api/v1/reports", tags=["reports"])


# --- request helpers (shared with the pages) -----------------------------------------------


def config_of(request: Request) -> ComplaintConfig:
    config: ComplaintConfig | None = getattr(request.app.state, "complaints", None)
    if config is None:
        config = ComplaintConfig.from_settings(settings_of(request))
        request.app.state.complaints = config
    return config


def store_of(request: Request) -> EvidenceStore:
    return EvidenceStore(config_of(request).evidence_dir)


def requester_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def read_uploads(files: list[UploadFile]) -> list[service.Upload]:
    """The uploads' bytes, each read to one byte past the limit (so that a larger file is
    refused without being held whole in memory)."""
    out = []
    for f in files:
        name = f.filename or ""
        data = f.file.read(MAX_BYTES + 1)
        if name or data:
            out.append(service.Upload(name, data))
    return out


def submit_and_commit(
    request: Request,
    db: Session,
    data: ReportCreate,
    uploads: list[service.Upload],
    reporter: Principal | None = None,
) -> service.Receipt:
    """Take the report and commit it here, so that files written for a report whose
    transaction fails are removed again (no orphan files)."""
    with store_of(request).staging() as staged:
        receipt = service.submit(
            db,
            data,
            uploads,
            requester=requester_of(request),
            now=now_of(request),
            config=config_of(request),
            store=staged,
            reporter=reporter,
        )
        db.commit()
    return receipt


def receipt_read(receipt: service.Receipt) -> ReceiptRead:
    c = receipt.complaint
    return ReceiptRead(
        tracking_code=c.tracking_code,
        secret=receipt.secret,
        status=c.status,
        message=(
            "keep the tracking code and the secret: the secret is shown only now, and "
            "nobody can recover it"
        ),
        suggested_categories=c.suggested_categories.split(),
        near_duplicates=receipt.near_duplicates,
        collection_hold=c.collection_hold,
        shield_verification=receipt.shield_verification,
        shield_error=receipt.shield_error,
    )


def events_read(view: service.CaseView) -> list[EventRead]:
    return [
        EventRead(at=e.at, kind=e.kind, party=e.party, to_status=e.to_status, note=e.note)
        for e in view.timeline
    ]


def evidence_read(view: service.CaseView) -> list[EvidenceRead]:
    return [
        EvidenceRead(
            id=e.id,
            name=e.name,
            kind=e.kind,
            content_type=e.content_type,
            size_bytes=e.size_bytes,
            metadata_stripped=e.metadata_stripped,
        )
        for e in view.evidence
    ]


def case_read(view: service.CaseView) -> CaseRead:
    c = view.complaint
    return CaseRead(
        id=c.id,
        status=c.status,
        reporter_kind=c.reporter_kind,
        anonymous=c.anonymous,
        reporter_name=view.reporter_name,
        reporter_phone=view.reporter_phone,
        institution_id=c.institution_id,
        institution=c.institution_text,
        categories=view.categories,
        suggested_categories=view.suggested_categories,
        incident_date=c.incident_date,
        caller_numbers=view.caller_numbers,
        message_text=view.message_text,
        narrative=view.narrative,
        masked=view.masked,
        group_id=c.group_id,
        near_duplicates=view.near_duplicates,
        loan_id=view.loan_id,
        collection_hold=c.collection_hold,
        complexity=c.complexity,
        received_at=c.received_at,
        forwarded_at=c.forwarded_at,
        due_at=c.due_at,
        deadline=view.deadline.value if view.deadline else None,
        responded_at=c.responded_at,
        response_outcome=c.response_outcome,
        response_text=c.response_text,
        evidence=evidence_read(view),
        timeline=events_read(view),
    )


def reporter_read(view: service.CaseView) -> ReporterCaseRead:
    c = view.complaint
    return ReporterCaseRead(
        tracking_code=c.tracking_code,
        status=c.status,
        received_at=c.received_at,
        institution=c.institution_text,
        categories=view.categories,
        narrative=view.narrative,
        due_at=c.due_at,
        response_outcome=c.response_outcome,
        response_text=c.response_text,
        can_give_feedback=view.can_feedback,
        evidence=evidence_read(view),
        timeline=events_read(view),
    )


# --- public ----------------------------------------------------------------------------------


@public.post("", response_model=ReceiptRead, status_code=status.HTTP_201_CREATED)
def submit_report(data: ReportCreate, request: Request, db: Db) -> ReceiptRead:
    """File a report (no log-in). Keep the answer's tracking code and secret: the secret
    is shown only in this answer. Add evidence files with ``POST /api/v1/reports/case/evidence``."""
    return receipt_read(submit_and_commit(request, db, data, []))


@public.get("/institutions", response_model=list[InstitutionChoice])
def search_institutions(
    db: Db, q: Annotated[str, Query(max_length=100)] = ""
) -> list[InstitutionChoice]:
    """The registry, searched by name or unified credit code."""
    return [
        InstitutionChoice(id=i.id, name=i.name, licence_status=i.licence_status)
        for i in service.reportable_institutions(db, q, limit=20)
    ]


TrackingCode = Annotated[str, Header(alias="X-Tracking-Code", max_length=40)]
TrackingSecret = Annotated[str, Header(alias="X-Tracking-Secret", max_length=60)]


def _receipt_case(db: Session, code: str, secret: str) -> Complaint:
    return service.lookup(db, code, secret)


@public.get("/case", response_model=ReporterCaseRead)
def reporter_case(
    request: Request, db: Db, code: TrackingCode, secret: TrackingSecret
) -> ReporterCaseRead:
    complaint = _receipt_case(db, code, secret)
    return reporter_read(service.present(db, complaint, service.REPORTER, now_of(request)))


@public.post("/case/evidence", response_model=list[EvidenceRead], status_code=201)
def reporter_evidence(
    request: Request,
    db: Db,
    code: TrackingCode,
    secret: TrackingSecret,
    files: Annotated[list[UploadFile], File(description="up to 5 files per report")],
) -> list[EvidenceRead]:
    complaint = _receipt_case(db, code, secret)
    uploads = read_uploads(files)
    with store_of(request).staging() as staged:
        rows = service.reporter_add_evidence(db, complaint, uploads, now_of(request), staged)
        db.commit()
    return [
        EvidenceRead(
            id=r.id,
            name=r.original_name,
            kind=r.kind,
            content_type=r.content_type,
            size_bytes=r.size_bytes,
            metadata_stripped=r.metadata_stripped,
        )
        for r in rows
    ]


@public.post("/case/answers", response_model=ReporterCaseRead, status_code=201)
def reporter_answer(
    data: TextCreate, request: Request, db: Db, code: TrackingCode, secret: TrackingSecret
) -> ReporterCaseRead:
    complaint = _receipt_case(db, code, secret)
    service.reporter_answer(db, complaint, data, now_of(request))
    return reporter_read(service.present(db, complaint, service.REPORTER, now_of(request)))


@public.post("/case/feedback", response_model=ReporterCaseRead)
def reporter_feedback(
    data: FeedbackCreate, request: Request, db: Db, code: TrackingCode, secret: TrackingSecret
) -> ReporterCaseRead:
    complaint = _receipt_case(db, code, secret)
    service.reporter_feedback(db, complaint, data, now_of(request))
    return reporter_read(service.present(db, complaint, service.REPORTER, now_of(request)))


# --- staff -----------------------------------------------------------------------------------


def summary_read(c: Complaint, sizes: dict[int, int], now: datetime) -> CaseSummaryRead:
    state = deadline_state(Status(c.status), c.due_at, now, c.responded_at)
    return CaseSummaryRead(
        id=c.id,
        status=c.status,
        institution=c.institution_text,
        categories=c.categories.split(),
        received_at=c.received_at,
        due_at=c.due_at,
        deadline=state.value if state else None,
        group_id=c.group_id,
        near_duplicates=max(sizes.get(c.group_id, 1) - 1, 0) if c.group_id else 0,
    )


@router.get("", response_model=list[CaseSummaryRead])
def list_cases(
    request: Request,
    db: Db,
    principal: ApiPrincipal,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    group: Annotated[int | None, Query()] = None,
    overdue: Annotated[bool, Query()] = False,
) -> list[CaseSummaryRead]:
    """The regulator: every case. An institution's complaint staff: the cases forwarded
    to it."""
    now = now_of(request)
    cases = service.listing(
        db,
        principal,
        repository.CaseFilter(
            status=status_.value if status_ else None,
            group_id=group,
            overdue_at=now if overdue else None,
        ),
    )
    sizes = service.group_sizes(db, principal, cases)
    return [summary_read(c, sizes, now) for c in cases]


@router.get("/due", response_model=list[DueCaseRead])
def due(request: Request, db: Db, principal: ApiPrincipal) -> list[DueCaseRead]:
    """Cases whose answer is due within three days or overdue."""
    viewer = service.viewer_of(principal)
    return [
        DueCaseRead(
            id=d.complaint_id,
            institution_id=d.institution_id,
            due_at=d.due_at,
            deadline=d.state.value,
        )
        for d in service.due_cases(db, now_of(request))
        if viewer.institution_id is None or d.institution_id == viewer.institution_id
    ]


def _case(db: Session, principal: Principal, complaint_id: int, now: datetime) -> CaseRead:
    complaint = service.get_case(db, principal, complaint_id)
    return case_read(service.present(db, complaint, service.viewer_of(principal), now))


@router.get("/{complaint_id}", response_model=CaseRead)
def get_case(complaint_id: int, request: Request, db: Db, principal: ApiPrincipal) -> CaseRead:
    return _case(db, principal, complaint_id, now_of(request))


@router.post("/{complaint_id}/triage", response_model=CaseRead)
def triage(
    complaint_id: int, data: TriageCreate, request: Request, db: Db, principal: ApiPrincipal
) -> CaseRead:
    service.triage(db, principal, complaint_id, data, now_of(request), config_of(request))
    return _case(db, principal, complaint_id, now_of(request))


@router.post("/{complaint_id}/forward", response_model=CaseRead)
def forward(
    complaint_id: int, data: NoteCreate, request: Request, db: Db, principal: ApiPrincipal
) -> CaseRead:
    service.forward(db, principal, complaint_id, data, now_of(request))
    return _case(db, principal, complaint_id, now_of(request))


@router.post("/{complaint_id}/response", response_model=CaseRead)
def respond(
    complaint_id: int, data: ResponseCreate, request: Request, db: Db, principal: ApiPrincipal
) -> CaseRead:
    service.respond(db, principal, complaint_id, data, now_of(request))
    return _case(db, principal, complaint_id, now_of(request))


@router.post("/{complaint_id}/complexity", response_model=CaseRead)
def complexity(
    complaint_id: int, data: ComplexityCreate, request: Request, db: Db, principal: ApiPrincipal
) -> CaseRead:
    service.raise_complexity(db, principal, complaint_id, data, now_of(request))
    return _case(db, principal, complaint_id, now_of(request))


@router.post("/{complaint_id}/questions", response_model=CaseRead, status_code=201)
def ask(
    complaint_id: int, data: TextCreate, request: Request, db: Db, principal: ApiPrincipal
) -> CaseRead:
    service.ask(db, principal, complaint_id, data, now_of(request))
    return _case(db, principal, complaint_id, now_of(request))


@router.post("/{complaint_id}/escalate", response_model=CaseRead)
def escalate(
    complaint_id: int, data: NoteCreate, request: Request, db: Db, principal: ApiPrincipal
) -> CaseRead:
    service.escalate(db, principal, complaint_id, data, now_of(request))
    return _case(db, principal, complaint_id, now_of(request))


@router.post("/{complaint_id}/close", response_model=CaseRead)
def close(
    complaint_id: int, data: NoteCreate, request: Request, db: Db, principal: ApiPrincipal
) -> CaseRead:
    service.close(db, principal, complaint_id, data, now_of(request))
    return _case(db, principal, complaint_id, now_of(request))


def evidence_response(row: ComplaintEvidence, data: bytes) -> Response:
    """Always a download, never a page: attachment, nosniff, a sandboxing CSP."""
    return Response(
        content=data,
        media_type=safe_content_type(row.content_type),
        headers=download_headers(row.content_type, row.id),
    )


@router.get("/{complaint_id}/evidence/{evidence_id}", response_class=Response)
def evidence(
    complaint_id: int, evidence_id: int, db: Db, principal: ApiPrincipal, request: Request
) -> Response:
    row, data = service.evidence_file(
        db, principal, complaint_id, evidence_id, store_of(request), now_of(request)
    )
    return evidence_response(row, data)
