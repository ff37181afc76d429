"""Ledger use cases. Never commits. Every event recomputes the loan from scratch by replay,
so a back-dated payment or a reversal rewrites the state and the bucket history."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fairdun.audit import service as audit
from fairdun.identity.models import Role
from fairdun.identity.principal import Principal
from fairdun.institutions import repository as institutions_repo
from fairdun.institutions.models import InstitutionKind
from fairdun.kit import crypto
from fairdun.kit.errors import Conflict, Forbidden, Invalid, NotFound
from fairdun.loans import apr, ledger, repository
from fairdun.loans.models import (
    Borrower,
    BucketSpellRow,
    DelinquencyPause,
    InstalmentRow,
    Loan,
    LoanPayment,
    LoanStatus,
    Product,
)
from fairdun.loans.schedule import build_schedule
from fairdun.loans.schemas import (
    BorrowerCreate,
    ChargeOffCreate,
    LoanCreate,
    PauseCreate,
    PauseEnd,
    PaymentCreate,
    ProductCreate,
)
from fairdun.loans.terms import (
    DEFAULT_BUCKETS,
    DEFAULT_WATERFALL,
    Bucket,
    Component,
    Instalment,
    LedgerInput,
    LoanTerms,
    Pause,
    Payment,
    ProductRules,
    RepaymentMethod,
    TermsError,
)

# The platform operator has no part in any lender's book: only the lender's own staff
# (and its systems, through API tokens) write it; a regulator reads it.
LEDGER_WRITERS = (Role.INSTITUTION_ADMIN,)
PAYMENT_WRITERS = (Role.INSTITUTION_ADMIN, Role.COLLECTOR)
PAUSE_WRITERS = (Role.INSTITUTION_ADMIN, Role.COMPLIANCE_OFFICER, Role.COLLECTOR)
CHARGE_OFF_WRITERS = (Role.INSTITUTION_ADMIN, Role.RISK_ANALYST)


@dataclass(frozen=True)
class CapPolicy:
    """The legal caps checked against every loan, and the one that bounds what is collectable."""

    caps: tuple[apr.RateCap, ...]
    binding: apr.RateCap

    @classmethod
    def from_ids(cls, cap_ids: str, binding_id: str, lpr: Decimal) -> CapPolicy:
        known = {c.id: c for c in apr.default_caps(lpr)}
        wanted = [c.strip() for c in cap_ids.split(",") if c.strip()]
        unknown = [c for c in [*wanted, binding_id] if c not in known]
        if unknown:
            raise ValueError(
                f"unknown rate cap id(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        return cls(tuple(known[c] for c in wanted), known[binding_id])


def _require(actor: Principal, roles: tuple[Role, ...], what: str) -> None:
    if actor.role not in roles:
        raise Forbidden(f"your role may not {what}")


def _own_institution(session: Session, actor: Principal, requested: int | None) -> int:
    """The lender a write goes to: the actor's own, or (platform admin) the one named."""
    if actor.scope is not None:
        if requested not in (None, actor.scope):
            raise NotFound("no such institution")
        institution_id = actor.scope
    else:
        if requested is None:
            raise Invalid("institution_id", "name the lender this belongs to")
        institution_id = requested
    inst = institutions_repo.by_id(session, institution_id, None)
    if inst is None:
        raise Invalid("institution_id", "no such institution")
    if not InstitutionKind(inst.kind).is_lender:
        raise Invalid("institution_id", "loans belong to a lender")
    return institution_id


# --- products and rules ------------------------------------------------------------


def rules_of(product: Product) -> ProductRules:
    buckets = tuple(Bucket(c, lo, hi) for c, lo, hi in json.loads(product.buckets))
    return ProductRules(
        waterfall=tuple(Component(c) for c in product.waterfall.split(",")),
        tolerance=product.tolerance,
        buckets=buckets,
        penalty_daily_rate=product.penalty_daily_rate,
        penalty_cap_ratio=product.penalty_cap_ratio,
    )


def create_product(session: Session, actor: Principal, data: ProductCreate) -> Product:
    _require(actor, LEDGER_WRITERS, "define products")
    institution_id = _own_institution(session, actor, data.institution_id)
    buckets = (
        tuple(Bucket(b.code, b.min_days, b.max_days) for b in data.buckets)
        if data.buckets
        else DEFAULT_BUCKETS
    )
    try:
        rules = ProductRules(
            waterfall=tuple(data.waterfall) if data.waterfall else DEFAULT_WATERFALL,
            tolerance=data.tolerance,
            buckets=buckets,
            penalty_daily_rate=data.penalty_daily_rate,
            penalty_cap_ratio=data.penalty_cap_ratio,
        )
    except TermsError as exc:
        raise Invalid(exc.field, exc.message) from None
    if repository.product_by_code(session, institution_id, data.code) is not None:
        raise Conflict(f"product {data.code!r} exists")
    product = Product(
        institution_id=institution_id,
        code=data.code,
        name=data.name,
        waterfall=",".join(c.value for c in rules.waterfall),
        tolerance=rules.tolerance,
        buckets=json.dumps([[b.code, b.min_days, b.max_days] for b in rules.buckets]),
        penalty_daily_rate=rules.penalty_daily_rate,
        penalty_cap_ratio=rules.penalty_cap_ratio,
    )
    session.add(product)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="product.created",
        target=f"product:{product.id}",
        institution_id=institution_id,
        details={"code": data.code},
    )
    return product


def list_products(session: Session, actor: Principal) -> list[Product]:
    if actor.role is Role.PLATFORM_ADMIN:
        return []
    return repository.products(session, actor.scope)


# --- borrowers ---------------------------------------------------------------------


def create_borrower(session: Session, actor: Principal, data: BorrowerCreate) -> Borrower:
    _require(actor, LEDGER_WRITERS, "register borrowers")
    institution_id = _own_institution(session, actor, data.institution_id)
    if repository.borrower_by_external_id(session, institution_id, data.external_id) is not None:
        raise Conflict(f"borrower {data.external_id!r} exists")
    ring = crypto.keyring()
    borrower = Borrower(
        institution_id=institution_id,
        external_id=data.external_id,
        name=data.name,
        id_number=data.id_number.upper() if data.id_number else None,
        id_number_index=ring.blind_index(data.id_number, "borrowers.id_number")
        if data.id_number
        else None,
        phone=data.phone,
        phone_index=ring.blind_index(data.phone, "borrowers.phone") if data.phone else None,
        email=str(data.email) if data.email else None,
        address=data.address,
    )
    session.add(borrower)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="borrower.registered",
        target=f"borrower:{borrower.id}",
        institution_id=institution_id,
        details={"external_id": data.external_id},
    )
    return borrower


def get_borrower(session: Session, actor: Principal, borrower_id: int) -> Borrower:
    borrower = repository.borrower(session, borrower_id, actor.scope)
    if borrower is None or actor.role is Role.PLATFORM_ADMIN:
        raise NotFound("no such borrower")
    if actor.role is Role.BORROWER and borrower.user_id != actor.user_id:
        raise NotFound("no such borrower")  # a borrower sees only themself
    return borrower


# --- loans -------------------------------------------------------------------------


def terms_of(source: Loan | LoanCreate) -> LoanTerms:
    """The domain terms of a stored loan or a validated request (a request's bad terms
    raise TermsError naming the field)."""
    return LoanTerms(
        principal=source.principal,
        annual_rate=source.annual_rate,
        term_months=source.term_months,
        start_date=source.start_date,
        method=RepaymentMethod(source.method),
        upfront_fee=source.upfront_fee,
        periodic_fee=source.periodic_fee,
        currency=source.currency,
    )


def create_loan(
    session: Session, actor: Principal, data: LoanCreate, *, today: date, caps: CapPolicy
) -> Loan:
    _require(actor, LEDGER_WRITERS, "book loans")
    institution_id = _own_institution(session, actor, None)
    borrower = repository.borrower(session, data.borrower_id, institution_id)
    if borrower is None:
        raise Invalid("borrower_id", "no such borrower at this lender")
    product = repository.product(session, data.product_id, institution_id)
    if product is None:
        raise Invalid("product_id", "no such product at this lender")
    if data.start_date > today:
        raise Invalid("start_date", "a loan cannot start in the future")
    try:
        terms = terms_of(data)
    except TermsError as exc:
        raise Invalid(exc.field, exc.message) from None
    if repository.loan_by_external_id(session, institution_id, data.external_id) is not None:
        raise Conflict(f"loan {data.external_id!r} exists")
    loan = book_loan(
        session, institution_id, borrower.id, product, data.external_id, terms, caps, today
    )
    audit.record(
        session,
        actor=actor.actor,
        action="loan.booked",
        target=f"loan:{loan.id}",
        institution_id=institution_id,
        details={
            "external_id": data.external_id,
            "principal": data.principal,
            "nominal_apr": str(loan.nominal_apr),
            "cap_flags": loan.cap_flags,
        },
    )
    return loan


@dataclass(frozen=True)
class Pricing:
    """What booking computes from the terms alone: schedule, true cost, caps, excess."""

    schedule: tuple[Instalment, ...]
    cost: apr.TrueCost
    exceeded: tuple[apr.RateCap, ...]
    excess: tuple[int, ...]  # per instalment, not collectable
    excess_fee: int  # part of the upfront fee not collectable

    @property
    def cap_flags(self) -> str:
        return ",".join(c.id for c in self.exceeded)

    @property
    def not_collectable(self) -> int:
        return sum(self.excess) + self.excess_fee


def price(terms: LoanTerms, caps: CapPolicy) -> Pricing:
    schedule = build_schedule(terms)
    cost = apr.contract_cost(terms, schedule)
    excess, excess_fee = apr.cap_account(terms, schedule, caps.binding)
    return Pricing(
        schedule=schedule,
        cost=cost,
        exceeded=apr.exceeded_caps(cost, caps.caps),
        excess=excess,
        excess_fee=excess_fee,
    )


def state_values(state: ledger.LedgerState) -> dict[str, Any]:
    """The loan columns a replay rewrites."""
    return {
        "state_as_of": state.as_of,
        "status": LoanStatus(state.status.value),
        "days_past_due": state.days_past_due,
        "worst_days_past_due": state.worst_days_past_due,
        "bucket": state.bucket,
        "paused": state.paused,
        "outstanding_principal": state.outstanding_principal,
        "amount_past_due": state.amount_past_due,
        "payoff_amount": state.payoff_amount,
        "credit": state.credit,
        "total_paid": state.total_paid,
        "paid_off_date": state.paid_off_date,
    }


def instalment_state_values(s: ledger.InstalmentState) -> dict[str, Any]:
    """The instalment columns a replay rewrites."""
    return {
        "interest_due": s.interest_due,
        "fee_due": s.fee_due,
        "principal_paid": s.principal_paid,
        "interest_paid": s.interest_paid,
        "fee_paid": s.fee_paid,
        "penalty_accrued": s.penalty_accrued,
        "penalty_paid": s.penalty_paid,
        "settled_date": s.settled_date,
    }


@dataclass(frozen=True)
class LoanHistory:
    """Events of a loan booked with its past (a migration from another system, the demo)."""

    payments: tuple[Payment, ...] = ()
    pauses: tuple[Pause, ...] = ()
    charged_off_date: date | None = None
    disputed: bool = False
    placed_agency_id: int | None = None
    recorded_by: str = "system"


def book_loan(
    session: Session,
    institution_id: int,
    borrower_id: int,
    product: Product,
    external_id: str,
    terms: LoanTerms,
    caps: CapPolicy,
    today: date,
    past: LoanHistory | None = None,
    rules: ProductRules | None = None,
) -> Loan:
    """Write a loan, its schedule, its true cost and any past events; then replay it once
    (in memory) and write its state as of today."""
    past = past or LoanHistory()
    rules = rules or rules_of(product)
    pricing = price(terms, caps)
    schedule = pricing.schedule
    loan = Loan(
        institution_id=institution_id,
        borrower_id=borrower_id,
        product_id=product.id,
        external_id=external_id,
        principal=terms.principal,
        annual_rate=terms.annual_rate,
        term_months=terms.term_months,
        start_date=terms.start_date,
        method=terms.method.value,
        upfront_fee=terms.upfront_fee,
        periodic_fee=terms.periodic_fee,
        currency=terms.currency,
        nominal_apr=pricing.cost.nominal_apr,
        effective_apr=pricing.cost.effective_apr,
        cap_flags=pricing.cap_flags,
        not_collectable=pricing.not_collectable,
        state_as_of=today,
        status=LoanStatus.CURRENT,
        charged_off_date=past.charged_off_date,
        disputed=past.disputed,
        placed_agency_id=past.placed_agency_id,
    )
    session.add(loan)
    session.flush()
    rows = [
        InstalmentRow(
            loan_id=loan.id,
            number=i.number,
            due_date=i.due_date,
            principal=i.principal,
            interest=i.interest,
            fee=i.fee,
            interest_due=i.interest,
            fee_due=i.fee,
            not_collectable=x,
        )
        for i, x in zip(schedule, pricing.excess, strict=True)
    ]
    payment_rows = [
        LoanPayment(
            loan_id=loan.id, paid_date=p.paid_date, amount=p.amount, recorded_by=past.recorded_by
        )
        for p in past.payments
    ]
    session.add_all(rows)
    session.add_all(payment_rows)
    session.add_all(
        DelinquencyPause(
            loan_id=loan.id,
            start_date=p.start,
            end_date=p.end,
            reason=p.reason or "other",
            created_by=past.recorded_by,
        )
        for p in past.pauses
    )
    session.flush()
    inp = LedgerInput(
        terms=terms,
        schedule=schedule,
        rules=rules,
        payments=tuple(
            Payment(row.id, p.paid_date, p.amount)
            for row, p in zip(payment_rows, past.payments, strict=True)
        ),
        pauses=past.pauses,
        charged_off_date=past.charged_off_date,
    )
    _apply_state(session, loan, rows, ledger.replay(inp, today))
    return loan


def get_loan(session: Session, actor: Principal, loan_id: int) -> Loan:
    loan = repository.loan(session, actor, loan_id)
    if loan is None:
        raise NotFound("no such loan")
    return loan


def list_loans(
    session: Session,
    actor: Principal,
    f: repository.LoanFilter,
    *,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Loan], int]:
    return repository.loans(session, actor, f, limit=limit, offset=offset)


def ledger_input(session: Session, loan: Loan, rules: ProductRules | None = None) -> LedgerInput:
    if rules is None:
        product = session.get(Product, loan.product_id)
        assert product is not None
        rules = rules_of(product)
    schedule = tuple(
        Instalment(r.number, r.due_date, r.principal, r.interest, r.fee)
        for r in repository.instalments(session, loan.id)
    )
    payments = tuple(
        Payment(p.id, p.paid_date, p.amount, reversed=p.reversed_at is not None)
        for p in repository.payments(session, loan.id)
    )
    pauses = tuple(
        Pause(p.start_date, p.end_date, p.reason) for p in repository.pauses(session, loan.id)
    )
    return LedgerInput(
        terms=terms_of(loan),
        schedule=schedule,
        rules=rules,
        payments=payments,
        pauses=pauses,
        charged_off_date=loan.charged_off_date,
    )


def recompute(
    session: Session, loan: Loan, as_of: date, rules: ProductRules | None = None
) -> ledger.LedgerState:
    """Replay the loan from its events and write the derived state back."""
    state = ledger.replay(ledger_input(session, loan, rules), as_of)
    _apply_state(session, loan, repository.instalments(session, loan.id), state)
    return state


def _apply_state(
    session: Session, loan: Loan, instalment_rows: list[InstalmentRow], state: ledger.LedgerState
) -> None:
    rows = {r.number: r for r in instalment_rows}
    for s in state.instalments:
        for name, value in instalment_state_values(s).items():
            setattr(rows[s.number], name, value)
    for name, value in state_values(state).items():
        setattr(loan, name, value)
    repository.replace_spells(
        session,
        loan.id,
        [
            BucketSpellRow(
                loan_id=loan.id, bucket=s.bucket, entered_date=s.entered, left_date=s.left
            )
            for s in state.history
        ],
    )
    session.flush()


def _locked(session: Session, actor: Principal, loan_id: int) -> Loan:
    if repository.loan(session, actor, loan_id) is None:
        raise NotFound("no such loan")
    loan = repository.loan_for_update(session, loan_id)
    assert loan is not None
    return loan


def record_payment(
    session: Session, actor: Principal, loan_id: int, data: PaymentCreate, *, today: date
) -> LoanPayment:
    loan = _locked(session, actor, loan_id)
    _require(actor, PAYMENT_WRITERS, "record payments")
    if data.paid_date > today:
        raise Invalid("paid_date", "a payment cannot be dated in the future")
    if data.paid_date < loan.start_date:
        raise Invalid("paid_date", "a payment cannot be dated before the loan started")
    if loan.status == LoanStatus.PAID_OFF:
        raise Conflict(f"loan {loan.external_id} is paid off; the payment was not recorded")
    payment = LoanPayment(
        loan_id=loan.id,
        external_id=data.external_id,
        paid_date=data.paid_date,
        amount=data.amount,
        recorded_by=actor.actor,
    )
    session.add(payment)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"payment {data.external_id!r} is already recorded on this loan") from None
    state = recompute(session, loan, today)
    audit.record(
        session,
        actor=actor.actor,
        action="payment.recorded",
        target=f"loan:{loan.id}",
        institution_id=loan.institution_id,
        details={
            "payment_id": payment.id,
            "amount": data.amount,
            "paid_date": data.paid_date.isoformat(),
            "back_dated": data.paid_date < today,
            "days_past_due": state.days_past_due,
        },
    )
    return payment


def reverse_payment(
    session: Session, actor: Principal, loan_id: int, payment_id: int, reason: str, *, now: datetime
) -> LoanPayment:
    loan = _locked(session, actor, loan_id)
    payment = repository.payment(session, loan.id, payment_id)
    if payment is None:
        raise NotFound("no such payment")
    _require(actor, PAYMENT_WRITERS, "reverse payments")
    if payment.reversed_at is not None:
        raise Conflict("this payment is already reversed")
    payment.reversed_at = now
    payment.reversal_reason = reason
    state = recompute(session, loan, now.date())
    audit.record(
        session,
        actor=actor.actor,
        action="payment.reversed",
        target=f"loan:{loan.id}",
        institution_id=loan.institution_id,
        details={"payment_id": payment.id, "reason": reason, "days_past_due": state.days_past_due},
    )
    return payment


def pause_delinquency(
    session: Session, actor: Principal, loan_id: int, data: PauseCreate, *, today: date
) -> DelinquencyPause:
    loan = _locked(session, actor, loan_id)
    _require(actor, PAUSE_WRITERS, "pause delinquency")
    if data.end_date is not None and data.end_date <= data.start_date:
        raise Invalid("end_date", "must be after start_date")
    if data.start_date < loan.start_date:
        raise Invalid("start_date", "cannot be before the loan started")
    for other in repository.pauses(session, loan.id):
        if (other.end_date is None or data.start_date < other.end_date) and (
            data.end_date is None or other.start_date < data.end_date
        ):
            raise Conflict(f"overlaps pause {other.id} starting {other.start_date}")
    pause = DelinquencyPause(
        loan_id=loan.id,
        start_date=data.start_date,
        end_date=data.end_date,
        reason=data.reason,
        note=data.note,
        created_by=actor.actor,
    )
    session.add(pause)
    session.flush()
    if data.reason == "dispute":
        loan.disputed = True
    recompute(session, loan, today)
    audit.record(
        session,
        actor=actor.actor,
        action="loan.paused",
        target=f"loan:{loan.id}",
        institution_id=loan.institution_id,
        details={
            "pause_id": pause.id,
            "reason": data.reason,
            "start": data.start_date.isoformat(),
            "end": data.end_date.isoformat() if data.end_date else None,
        },
    )
    return pause


def end_pause(
    session: Session, actor: Principal, loan_id: int, pause_id: int, data: PauseEnd, *, today: date
) -> DelinquencyPause:
    loan = _locked(session, actor, loan_id)
    pause = repository.pause(session, loan.id, pause_id)
    if pause is None:
        raise NotFound("no such pause")
    _require(actor, PAUSE_WRITERS, "resume delinquency")
    if pause.end_date is not None:
        raise Conflict("this pause has already ended")
    if data.end_date <= pause.start_date:
        raise Invalid("end_date", "must be after the pause's start date")
    pause.end_date = data.end_date
    recompute(session, loan, today)
    audit.record(
        session,
        actor=actor.actor,
        action="loan.resumed",
        target=f"loan:{loan.id}",
        institution_id=loan.institution_id,
        details={"pause_id": pause.id, "end": data.end_date.isoformat()},
    )
    return pause


def charge_off(
    session: Session, actor: Principal, loan_id: int, data: ChargeOffCreate, *, today: date
) -> Loan:
    loan = _locked(session, actor, loan_id)
    _require(actor, CHARGE_OFF_WRITERS, "charge off loans")
    if loan.charged_off_date is not None:
        raise Conflict("this loan is already charged off")
    if loan.status == LoanStatus.PAID_OFF:
        raise Conflict("a paid-off loan cannot be charged off")
    if data.charged_off_date > today or data.charged_off_date < loan.start_date:
        raise Invalid("charged_off_date", "must be between the loan's start and today")
    loan.charged_off_date = data.charged_off_date
    recompute(session, loan, today)
    audit.record(
        session,
        actor=actor.actor,
        action="loan.charged_off",
        target=f"loan:{loan.id}",
        institution_id=loan.institution_id,
        details={
            "date": data.charged_off_date.isoformat(),
            "reason": data.reason,
            "outstanding_principal": loan.outstanding_principal,
        },
    )
    return loan
