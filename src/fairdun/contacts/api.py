"""JSON routes of the contact gate. A denial is an answer (200, ``allowed: false``), not an
error; bad input is 422 naming the field."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from fairdun.compliance.events import Outcome
from fairdun.contacts import rules, service
from fairdun.contacts.models import ContactPoint
from fairdun.contacts.schemas import (
    AccountEventCreate,
    AccountEventRead,
    AuthorizeCreate,
    ContentFindingRead,
    DecisionRead,
    OutcomeCreate,
    OutcomeRead,
    PartyCreate,
    PartyRead,
    PointCreate,
    PointRead,
    ShieldRequestCreate,
    ShieldRequestRead,
    ShieldVerifyCreate,
    ShieldVerifyRead,
    ViolationRead,
)
from fairdun.kit.errors import Invalid
from fairdun.web.deps import ApiPrincipal, Db, now_of
from fairdun.web.templating import request_locale

router = APIRouter(prefix="/api/v1", tags=["contacts"])
public = APIRouter(prefix="/api/v1/shield", tags=["shield"])


def point_read(point: ContactPoint) -> PointRead:
    return PointRead(
        id=point.id,
        party_id=point.party_id,
        kind=point.kind,
        masked=rules.mask(point.value, point.kind),
        source=point.source,
        timezone=point.timezone,
    )


def party_read(view: service.PartyView) -> PartyRead:
    p = view.party
    return PartyRead(
        id=p.id,
        loan_id=p.loan_id,
        role=p.role,
        name=p.name,
        contract_reference=p.contract_reference,
        lawful_basis=p.lawful_basis,
        basis_date=p.basis_date,
        designated_by=p.designated_by,
        points=[point_read(x) for x in view.points],
    )


def decision_read(result: service.GateResult) -> DecisionRead:
    d = result.decision
    return DecisionRead(
        decision_id=d.id,
        allowed=d.allowed,
        reservation=d.reservation,
        expires_at=result.reservation.expires_at if result.reservation else None,
        rules=[v.rule for v in result.violations],
        violations=[
            ViolationRead(rule=v.rule, message=v.message, message_zh=v.message_zh)
            for v in result.violations
        ],
        earliest_lawful_at=d.earliest_lawful_at,
        earliest_lawful_local=service.local_time(d.earliest_lawful_at, d.timezone),
        timezone=d.timezone,
        pack=d.pack,
        pack_version=d.pack_version,
        message=result.message,
        findings=[ContentFindingRead.model_validate(f.as_json()) for f in result.findings],
    )


@router.post("/contacts/authorize", response_model=DecisionRead)
def authorize(
    data: AuthorizeCreate, request: Request, db: Db, principal: ApiPrincipal
) -> DecisionRead:
    """Ask the gate before any contact. Allowed: a reservation valid for a few minutes;
    record its outcome. Denied: the rules, the reasons and, when waiting helps, the earliest
    lawful time."""
    result = service.authorize(db, principal, data, now_of(request), request_locale(request))
    return decision_read(result)


@router.post("/contacts/{reservation}/outcome", response_model=OutcomeRead)
def record_outcome(
    reservation: str, data: OutcomeCreate, request: Request, db: Db, principal: ApiPrincipal
) -> OutcomeRead:
    row = service.record_outcome(db, principal, reservation, data.outcome, now_of(request))
    assert row.reservation is not None
    assert row.outcome_at is not None
    return OutcomeRead(
        reservation=row.reservation, outcome=Outcome(data.outcome), recorded_at=row.outcome_at
    )


@router.post(
    "/loans/{loan_id}/account-events",
    response_model=AccountEventRead,
    status_code=status.HTTP_201_CREATED,
)
def record_account_event(
    loan_id: int, data: AccountEventCreate, request: Request, db: Db, principal: ApiPrincipal
) -> AccountEventRead:
    row = service.record_account_event(db, principal, loan_id, data, now_of(request))
    return AccountEventRead(
        id=row.id,
        kind=row.kind,
        loan_id=row.loan_id,
        party_id=row.party_id,
        occurred_at=row.occurred_at,
    )


@router.get("/loans/{loan_id}/parties", response_model=list[PartyRead])
def list_parties(loan_id: int, db: Db, principal: ApiPrincipal) -> list[PartyRead]:
    return [party_read(v) for v in service.list_parties(db, principal, loan_id)]


@router.post(
    "/loans/{loan_id}/parties", response_model=PartyRead, status_code=status.HTTP_201_CREATED
)
def add_party(
    loan_id: int, data: PartyCreate, request: Request, db: Db, principal: ApiPrincipal
) -> PartyRead:
    return party_read(service.add_party(db, principal, loan_id, data, now_of(request)))


@router.post(
    "/parties/{party_id}/points", response_model=PointRead, status_code=status.HTTP_201_CREATED
)
def add_point(
    party_id: int, data: PointCreate, request: Request, db: Db, principal: ApiPrincipal
) -> PointRead:
    return point_read(service.add_point(db, principal, party_id, data, now_of(request)))


# --- public: the third-party shield (no log-in) -------------------------------------------


def requester_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@public.post("/request", response_model=ShieldRequestRead)
def shield_request(data: ShieldRequestCreate, request: Request, db: Db) -> ShieldRequestRead:
    """Anyone: send a one-time code to a number to shield it from contact about other
    people's debts."""
    v = service.request_shield(db, data.phone, requester_of(request), now_of(request))
    return ShieldRequestRead(
        verification=v.token,
        expires_at=v.expires_at,
        message="a code was sent by SMS to this number; enter it within 10 minutes",
    )


@public.post("/verify", response_model=ShieldVerifyRead)
def shield_verify(data: ShieldVerifyCreate, request: Request, db: Db) -> ShieldVerifyRead:
    check = service.verify_shield(db, data.verification, data.code, now_of(request))
    if not check.verified:
        # The wrong attempt must count even though the answer is an error (as a failed
        # log-in does): commit it, then answer.
        db.commit()
        raise Invalid("code", check.reason)
    return ShieldVerifyRead(
        shielded=True,
        message="this number is shielded: no institution on the platform may contact it "
        "about someone else's debt",
    )
