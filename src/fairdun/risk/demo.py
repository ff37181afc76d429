"""Risk control in the demo: credit lines, repayment promises, a model trained on the demo
ledger, today's scores, the lists and limit decisions, a manual entry waiting for its
checker, and the demo borrower's appeal.

Idempotent: every step looks for its own traces first, so ``make demo`` on a database it
already seeded adds only what a new day needs (today's scores and decisions).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from fairdun.config import Settings
from fairdun.identity.models import User
from fairdun.institutions.models import Institution, InstitutionKind
from fairdun.kit.db import unit_of_work
from fairdun.kit.errors import DomainError
from fairdun.loans.models import Borrower, Loan, LoanPayment
from fairdun.risk import limits, lists, promises, service
from fairdun.risk.bundle import Bundle
from fairdun.risk.dataset import RiskInputError
from fairdun.risk.models import CreditLine, ListEntry, ListSource, PromiseToPay, RiskScore

SEED = 20261130
DEMO_ACTOR = "system:demo"


@dataclass(frozen=True)
class RiskDemo:
    model_id: str
    trained: bool
    scored: int
    decisions: int
    problem: str = ""  # why no model was trained, if none was


def _lenders(session: Session) -> list[int]:
    return [
        i.id
        for i in session.scalars(select(Institution).order_by(Institution.id))
        if InstitutionKind(i.kind).is_lender
    ]


def seed_credit_lines(session: Session, caps_rate: Decimal) -> int:
    """One credit line per borrower with loans: a limit of 1.2 times the largest principal
    (rounded up to 1,000 yuan), at the borrower's latest contract rate, never above the cap."""
    if session.scalar(select(func.count()).select_from(CreditLine)):
        return 0
    rows = session.execute(
        select(Loan.institution_id, Loan.borrower_id, Loan.principal, Loan.annual_rate).order_by(
            Loan.borrower_id, Loan.start_date
        )
    ).all()
    lines: dict[tuple[int, int], tuple[int, Decimal]] = {}
    for inst, borrower, principal, rate in rows:
        held = lines.get((inst, borrower))
        largest = max(principal, held[0] if held else 0)
        lines[(inst, borrower)] = (largest, min(Decimal(rate), caps_rate))
    for (inst, borrower), (largest, rate) in lines.items():
        limit = -(-largest * 12 // 10 // 100_000) * 100_000
        session.add(
            CreditLine(
                institution_id=inst, borrower_id=borrower, credit_limit=limit, annual_rate=rate
            )
        )
    session.flush()
    return len(lines)


def seed_promises(session: Session, today: date) -> int:
    """Promises as collectors record them: kept ones (a payment followed within days) on
    loans that were behind, broken ones on loans still behind."""
    if session.scalar(select(func.count()).select_from(PromiseToPay)):
        return 0
    rng = random.Random(SEED)  # noqa: S311 - demo data, not secrets
    made = 0
    window = today - timedelta(days=150)
    late_payments = session.execute(
        select(LoanPayment.loan_id, LoanPayment.paid_date, LoanPayment.amount)
        .join(Loan, Loan.id == LoanPayment.loan_id)
        .where(
            LoanPayment.reversed_at.is_(None),
            LoanPayment.paid_date >= window,
            Loan.worst_days_past_due > 0,
            Loan.status.in_(("current", "delinquent")),
        )
        .order_by(LoanPayment.id)
    ).all()
    for loan_id, paid_date, amount in late_payments:
        if rng.random() < 0.08:
            promises.record_promise(
                session,
                actor=DEMO_ACTOR,
                loan_id=loan_id,
                made_on=paid_date - timedelta(days=rng.randint(2, 9)),
                promised_date=paid_date - timedelta(days=rng.randint(0, 1)),
                amount=max(100, amount - amount % 100),
                channel="call",
            )
            made += 1
    behind = session.execute(
        select(Loan.id, Loan.amount_past_due)
        .where(Loan.status == "delinquent", Loan.days_past_due.between(10, 120))
        .order_by(Loan.id)
    ).all()
    for loan_id, past_due in behind:
        if past_due > 0 and rng.random() < 0.3:
            promised = today - timedelta(days=rng.randint(5, 25))
            promises.record_promise(
                session,
                actor=DEMO_ACTOR,
                loan_id=loan_id,
                made_on=promised - timedelta(days=rng.randint(3, 10)),
                promised_date=promised,
                amount=max(100, past_due - past_due % 100),
                channel="call",
            )
            made += 1
    return made


def seed_manual_entries(session: Session, today: date) -> None:
    """A manual grey-list entry the demo analyst made, waiting for a second person, and the
    demo borrower on the grey list with an open appeal."""
    if session.scalar(
        select(func.count()).select_from(ListEntry).where(ListEntry.source == ListSource.MANUAL)
    ):
        return
    analyst = session.scalar(select(User).where(User.username == "analyst"))
    borrower_user = session.scalar(select(User).where(User.username == "borrower"))
    if analyst is None or analyst.institution_id is None:
        return
    bank = analyst.institution_id
    candidate = session.scalar(
        select(Borrower.id)
        .join(Loan, Loan.borrower_id == Borrower.id)
        .where(Borrower.institution_id == bank, Loan.status == "delinquent")
        .order_by(Borrower.id)
        .limit(1)
    )
    if candidate is not None:
        lists.add_entry(
            session,
            actor=f"user:{analyst.id}",
            institution_id=bank,
            borrower_id=candidate,
            kind="grey",
            source="manual",
            reason="借款人自述近期失业，暂停提额，待复核（示范）",
            effective_date=today,
            expiry_date=today + timedelta(days=90),
        )
    if borrower_user is None:
        return
    own = session.scalar(
        select(Borrower).where(Borrower.user_id == borrower_user.id).order_by(Borrower.id).limit(1)
    )
    if own is None:
        return
    entry = lists.add_entry(
        session,
        actor="system:lists-apply",
        institution_id=own.institution_id,
        borrower_id=own.id,
        kind="grey",
        source="rule",
        rule_id="demo.grey.manual-review",
        reason="近12个月内有逾期记录（示范）",
        effective_date=today - timedelta(days=10),
        expiry_date=today + timedelta(days=80),
    )
    lists.open_appeal(
        session,
        actor=f"user:{borrower_user.id}",
        institution_id=own.institution_id,
        borrower_id=own.id,
        entry_id=entry.id,
        text="那次逾期是因为银行系统扣款失败，我当天就补还了，请核实后移出灰名单。",
        today=today - timedelta(days=3),
    )


def seed_risk(
    engine: Engine, factory: sessionmaker[Session], settings: Settings, today: date
) -> RiskDemo:
    caps = service.caps_of(settings)
    lowest = min(Decimal(c.annual_rate) for c in caps)
    with unit_of_work(factory) as session:
        seed_credit_lines(session, lowest)
        seed_promises(session, today)
    trained = False
    model: Bundle | None
    problem = ""
    try:
        model = service.active_bundle(settings)
    except service.NoActiveModel:
        try:
            model = _train(settings, engine, today)
            trained = True
        except (RiskInputError, DomainError) as exc:
            # A tiny demo ledger may hold too few late loans to learn from: the rest of the
            # demo goes on without scores, and says why.
            model, problem = None, str(exc)
    rule_set = limits.load_rules(settings.risk_rules, caps=caps)
    with unit_of_work(factory) as session:
        already = model is not None and session.scalar(
            select(func.count())
            .select_from(RiskScore)
            .where(RiskScore.as_of == today, RiskScore.model_id == model.model_id)
        )
        if model is not None and not already:
            scored = service.score_portfolio(
                session,
                model,
                today,
                actor=DEMO_ACTOR,
                loss_given_default=settings.risk_loss_given_default,
            ).scored
        else:
            scored = int(already or 0)  # today's scores are there: a rerun adds nothing
        runs = service.run_lists(
            session,
            actor="system:lists-apply",
            as_of=today,
            rules=rule_set,
            caps=caps,
            institution_ids=_lenders(session),
        )
        seed_manual_entries(session, today)
    decisions = sum(len(r.summary.adjustments.decisions) for r in runs)
    return RiskDemo(
        model.model_id if model is not None else "", trained, scored, decisions, problem
    )


def _train(settings: Settings, engine: Engine, today: date) -> Bundle:
    result = service.train_from_ledger(engine, as_of=today)
    root = service.model_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    for bundle in (result.champion, result.challenger):
        bundle.save(root / bundle.model_id)
    service.save_report(
        settings,
        result.champion,
        result.test,
        title=f"{result.champion.model_id}: demo ledger, borrowers held out",
        others=(result.challenger,),
    )
    return service.activate(settings, root / result.champion.model_id)
