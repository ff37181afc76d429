"""JSON routes of the ledger."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from fairdun.loans import repository, service
from fairdun.loans.schemas import (
    BorrowerCreate,
    BorrowerRead,
    ChargeOffCreate,
    InstalmentRead,
    LoanCreate,
    LoanDetail,
    LoanRead,
    PauseCreate,
    PauseEnd,
    PauseRead,
    PaymentCreate,
    PaymentRead,
    ProductCreate,
    ProductRead,
    ReversalCreate,
    SpellRead,
)
from fairdun.web.deps import ApiPrincipal, Db, now_of

router = APIRouter(prefix="/api", tags=["ledger"])


def _caps(request: Request) -> service.CapPolicy:
    caps: service.CapPolicy = request.app.state.cap_policy
    return caps


@router.get("/products", response_model=list[ProductRead])
def list_products(db: Db, principal: ApiPrincipal) -> list[ProductRead]:
    return [ProductRead.model_validate(p) for p in service.list_products(db, principal)]


@router.post("/products", response_model=ProductRead, status_code=status.HTTP_201_CREATED)
def create_product(data: ProductCreate, db: Db, principal: ApiPrincipal) -> ProductRead:
    return ProductRead.model_validate(service.create_product(db, principal, data))


@router.post("/borrowers", response_model=BorrowerRead, status_code=status.HTTP_201_CREATED)
def create_borrower(data: BorrowerCreate, db: Db, principal: ApiPrincipal) -> BorrowerRead:
    return BorrowerRead.model_validate(service.create_borrower(db, principal, data))


@router.get("/borrowers/{borrower_id}", response_model=BorrowerRead)
def get_borrower(borrower_id: int, db: Db, principal: ApiPrincipal) -> BorrowerRead:
    return BorrowerRead.model_validate(service.get_borrower(db, principal, borrower_id))


@router.get("/loans", response_model=list[LoanRead])
def list_loans(
    db: Db,
    principal: ApiPrincipal,
    bucket: Annotated[str | None, Query(max_length=10)] = None,
    min_dpd: Annotated[int | None, Query(ge=0)] = None,
    max_dpd: Annotated[int | None, Query(ge=0)] = None,
    product_id: int | None = None,
    institution_id: int | None = None,
    loan_status: Annotated[str | None, Query(alias="status", max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[LoanRead]:
    """Loans the caller may see, most days past due first."""
    f = repository.LoanFilter(bucket, min_dpd, max_dpd, product_id, institution_id, loan_status)
    rows, _total = service.list_loans(db, principal, f, limit=limit, offset=offset)
    return [LoanRead.model_validate(r) for r in rows]


@router.post("/loans", response_model=LoanRead, status_code=status.HTTP_201_CREATED)
def book_loan(data: LoanCreate, request: Request, db: Db, principal: ApiPrincipal) -> LoanRead:
    """Book a loan: its schedule, true cost (APR) and cap flags are computed here."""
    loan = service.create_loan(
        db, principal, data, today=now_of(request).date(), caps=_caps(request)
    )
    return LoanRead.model_validate(loan)


@router.get("/loans/{loan_id}", response_model=LoanDetail)
def get_loan(loan_id: int, db: Db, principal: ApiPrincipal) -> LoanDetail:
    loan = service.get_loan(db, principal, loan_id)
    return LoanDetail.model_validate(
        {
            **LoanRead.model_validate(loan).model_dump(),
            "schedule": [
                InstalmentRead.model_validate(r) for r in repository.instalments(db, loan.id)
            ],
            "payments": [PaymentRead.model_validate(p) for p in repository.payments(db, loan.id)],
            "pauses": [PauseRead.model_validate(p) for p in repository.pauses(db, loan.id)],
            "history": [SpellRead.model_validate(s) for s in repository.spells(db, loan.id)],
        }
    )


@router.post(
    "/loans/{loan_id}/payments", response_model=PaymentRead, status_code=status.HTTP_201_CREATED
)
def record_payment(
    loan_id: int, data: PaymentCreate, request: Request, db: Db, principal: ApiPrincipal
) -> PaymentRead:
    """Record a payment (back-dated allowed); the loan's state and history are recomputed."""
    payment = service.record_payment(db, principal, loan_id, data, today=now_of(request).date())
    return PaymentRead.model_validate(payment)


@router.post("/loans/{loan_id}/payments/{payment_id}/reverse", response_model=PaymentRead)
def reverse_payment(
    loan_id: int,
    payment_id: int,
    data: ReversalCreate,
    request: Request,
    db: Db,
    principal: ApiPrincipal,
) -> PaymentRead:
    payment = service.reverse_payment(
        db, principal, loan_id, payment_id, data.reason, now=now_of(request)
    )
    return PaymentRead.model_validate(payment)


@router.post(
    "/loans/{loan_id}/pauses", response_model=PauseRead, status_code=status.HTTP_201_CREATED
)
def pause(
    loan_id: int, data: PauseCreate, request: Request, db: Db, principal: ApiPrincipal
) -> PauseRead:
    """Pause delinquency (hardship or dispute): paused days do not count as past due."""
    result = service.pause_delinquency(db, principal, loan_id, data, today=now_of(request).date())
    return PauseRead.model_validate(result)


@router.post("/loans/{loan_id}/pauses/{pause_id}/end", response_model=PauseRead)
def end_pause(
    loan_id: int, pause_id: int, data: PauseEnd, request: Request, db: Db, principal: ApiPrincipal
) -> PauseRead:
    result = service.end_pause(db, principal, loan_id, pause_id, data, today=now_of(request).date())
    return PauseRead.model_validate(result)


@router.post("/loans/{loan_id}/charge-off", response_model=LoanRead)
def charge_off(
    loan_id: int, data: ChargeOffCreate, request: Request, db: Db, principal: ApiPrincipal
) -> LoanRead:
    loan = service.charge_off(db, principal, loan_id, data, today=now_of(request).date())
    return LoanRead.model_validate(loan)
