"""Idempotent demo data. Refused in production."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairdun.audit import service as audit
from fairdun.complaints.demo import seed_complaints
from fairdun.demo import portfolio
from fairdun.identity import repository as identity_repo
from fairdun.identity import service as identity
from fairdun.identity.models import Role, User
from fairdun.identity.principal import SYSTEM, Principal
from fairdun.identity.schemas import UserCreate
from fairdun.institutions import repository as inst_repo
from fairdun.institutions import service as institutions
from fairdun.institutions import uscc
from fairdun.institutions.models import Institution, InstitutionKind, LicenceStatus
from fairdun.institutions.schemas import EngagementCreate, InstitutionCreate, LicenceChangeCreate
from fairdun.kit import crypto
from fairdun.loans import service as loans
from fairdun.loans.models import Borrower, Loan, Product
from fairdun.loans.schemas import ProductCreate
from fairdun.loans.service import CapPolicy

DEMO_PASSWORD = "fairdun-demo-2026"  # noqa: S105 - printed to the developer on purpose


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: Role
    institution: str


INSTITUTIONS = [
    # (key, name, 17-char code prefix, kind, licence number)
    (
        "regulator",
        "国家金融监督管理总局示范监管局",
        "11100000000000001",
        InstitutionKind.REGULATOR,
        "",
    ),
    ("bank", "示范城市商业银行", "91110000100000001", InstitutionKind.BANK, "B0001H111000001"),
    (
        "cfc",
        "示范消费金融有限公司",
        "91310000100000002",
        InstitutionKind.CONSUMER_FINANCE,
        "N0002H231000001",
    ),
    (
        "mcc",
        "示范网络小额贷款有限公司",
        "91440300100000003",
        InstitutionKind.MICROCREDIT,
        "XD-GD-2021-0003",
    ),
    (
        "agency",
        "示范合规催收服务有限公司",
        "91320100100000004",
        InstitutionKind.COLLECTION_AGENCY,
        "CS-JS-2024-0004",
    ),
]

USERS = [
    ("admin", "平台管理员", Role.PLATFORM_ADMIN, None),
    ("regulator", "监管员 王", Role.REGULATOR, "regulator"),
    ("bank-admin", "银行管理员 李", Role.INSTITUTION_ADMIN, "bank"),
    ("compliance", "合规专员 赵", Role.COMPLIANCE_OFFICER, "bank"),
    ("collector", "催收员 陈", Role.COLLECTOR, "bank"),
    ("analyst", "风险分析师 周", Role.RISK_ANALYST, "bank"),
    ("agent", "委外催收员 孙", Role.AGENCY_COLLECTOR, "agency"),
    ("borrower", "借款人 张三", Role.BORROWER, "bank"),
    ("cfc-admin", "消金管理员 吴", Role.INSTITUTION_ADMIN, "cfc"),
]


def is_seeded(session: Session) -> bool:
    return session.scalar(select(User).where(User.username == "admin")) is not None


def seed(session: Session) -> list[DemoLogin]:
    """Create the demo institutions and users unless they exist. Flushes only."""
    ids: dict[str, int] = {}
    names: dict[str, str] = {}
    for key, name, prefix, kind, licence in INSTITUTIONS:
        code = uscc.make(prefix)
        existing = session.scalar(select(Institution).where(Institution.credit_code == code))
        if existing is None:
            existing = institutions.create(
                session,
                SYSTEM,
                InstitutionCreate(name=name, credit_code=code, kind=kind, licence_number=licence),
            )
        ids[key] = existing.id
        names[key] = name
    # Suspend the demo microcredit company once, on first seeding only; a later
    # reinstatement by whoever runs the demo is left alone.
    if len(inst_repo.licence_history(session, ids["mcc"])) == 1:
        institutions.change_licence(
            session,
            SYSTEM,
            ids["mcc"],
            LicenceChangeCreate(
                status=LicenceStatus.SUSPENDED, reason="示范：因违规催收被暂停业务"
            ),
        )
    if inst_repo.engagement(session, ids["agency"], ids["bank"]) is None:
        institutions.engage_agency(
            session,
            SYSTEM,
            ids["bank"],
            EngagementCreate(
                agency_id=ids["agency"],
                contract_ref="WW-2026-001",
                start_date=date(2026, 1, 1),
                review_date=date(2027, 1, 1),
            ),
        )
    logins = []
    for username, display, role, inst_key in USERS:
        if identity_repo.user_by_username(session, username) is None:
            identity.create_user(
                session,
                SYSTEM,
                UserCreate(
                    username=username,
                    display_name=display,
                    role=role,
                    institution_id=ids[inst_key] if inst_key else None,
                    email=f"{username}@demo.fairdun.example",
                    password=DEMO_PASSWORD,
                ),
            )
        logins.append(DemoLogin(username, role, names[inst_key] if inst_key else "—"))
    return logins


# --- the demo portfolio ----------------------------------------------------------------

DEFAULT_PORTFOLIO_SIZE = 5000


def portfolio_seeded(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Loan)) or 0)


def seed_portfolio(
    session: Session,
    *,
    as_of: date,
    caps: CapPolicy,
    n_loans: int = DEFAULT_PORTFOLIO_SIZE,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Book the deterministic demo portfolio (see fairdun.demo.portfolio) unless loans exist.
    Flushes only. Returns the number of loans booked."""
    if portfolio_seeded(session):
        return 0
    keys = {key: inst_id for key, inst_id in _institution_ids(session).items()}
    ring = crypto.keyring()
    products: dict[tuple[str, str], Product] = {}
    for lender in ("bank", "cfc"):
        actor = Principal(role=Role.INSTITUTION_ADMIN, institution_id=keys[lender], name="demo")
        for spec in portfolio.PRODUCTS:
            products[(lender, spec.code)] = loans.create_product(
                session,
                actor,
                ProductCreate(
                    code=spec.code,
                    name=spec.name,
                    penalty_daily_rate=portfolio.PENALTY_DAILY_RATE,
                    penalty_cap_ratio=portfolio.PENALTY_CAP_RATIO,
                ),
            )
    rules = {key: loans.rules_of(p) for key, p in products.items()}
    booked = 0
    for demo in portfolio.generate(n_loans, as_of=as_of):
        institution_id = keys[demo.lender]
        b = demo.borrower
        borrower = Borrower(
            institution_id=institution_id,
            external_id=b.external_id,
            name=b.name,
            id_number=b.id_number,
            id_number_index=ring.blind_index(b.id_number, "borrowers.id_number"),
            phone=b.phone,
            phone_index=ring.blind_index(b.phone, "borrowers.phone"),
            email=b.email,
            address=f"{b.city}{b.address}",
        )
        session.add(borrower)
        session.flush()
        loans.book_loan(
            session,
            institution_id,
            borrower.id,
            products[(demo.lender, demo.product_code)],
            demo.external_id,
            demo.terms,
            caps,
            as_of,
            past=loans.LoanHistory(
                payments=demo.payments,
                pauses=demo.pauses,
                charged_off_date=demo.charged_off_date,
                disputed=demo.disputed,
                placed_agency_id=keys["agency"] if demo.placed_with_agency else None,
                recorded_by="demo",
            ),
            rules=rules[(demo.lender, demo.product_code)],
        )
        booked += 1
        if progress and booked % 50 == 0:
            progress(50)
        if booked % 500 == 0:
            session.expunge_all()  # keep the identity map small on big portfolios
    if progress:
        progress(booked % 50)
    seed_contacts(session, as_of)
    seed_templates(session)
    seed_complaints(session, as_of)
    audit.record(
        session,
        actor="system",
        action="demo.portfolio_seeded",
        details={"loans": booked, "as_of": as_of.isoformat()},
    )
    return booked


def _institution_ids(session: Session) -> dict[str, int]:
    ids = {}
    for key, _name, prefix, _kind, _licence in INSTITUTIONS:
        inst = session.scalar(
            select(Institution).where(Institution.credit_code == uscc.make(prefix))
        )
        if inst is None:
            raise RuntimeError("seed the demo institutions first")
        ids[key] = inst.id
    return ids


def link_demo_borrower(session: Session) -> None:
    """Give the demo borrower account the bank's first delinquent borrower's loans."""
    user = session.scalar(select(User).where(User.username == "borrower"))
    if user is None or session.scalar(select(Borrower).where(Borrower.user_id == user.id)):
        return
    assert user.institution_id is not None
    borrower_id = session.scalar(
        select(Loan.borrower_id)
        .where(Loan.institution_id == user.institution_id, Loan.days_past_due > 0)
        .order_by(Loan.id)
        .limit(1)
    )
    borrower = session.get(Borrower, borrower_id) if borrower_id else None
    if borrower is not None:
        borrower.user_id = user.id
        session.flush()


# --- contact parties and a little contact history ------------------------------------------


def seed_contacts(session: Session, as_of: date) -> None:
    """Parties and history on the bank's first four delinquent loans, so that the demo
    collector sees the gate allow some proposals and deny others (with the reasons).
    Idempotent: does nothing once any party beyond a debtor exists. Flushes only."""
    from datetime import UTC, datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from fairdun.compliance.events import Outcome
    from fairdun.contacts import service as contacts
    from fairdun.contacts.models import ContactParty, ContactPoint, ShieldedNumber
    from fairdun.contacts.schemas import (
        AccountEventCreate,
        AuthorizeCreate,
        PartyCreate,
        PointCreate,
    )

    if session.scalar(select(ContactParty.id).where(ContactParty.debtor_loan_id.is_(None))):
        return
    bank = _institution_ids(session)["bank"]
    user = session.scalar(select(User).where(User.username == "collector"))
    if user is None:
        return
    collector = Principal(role=Role.COLLECTOR, institution_id=bank, user_id=user.id, name="demo")
    admin = Principal(role=Role.INSTITUTION_ADMIN, institution_id=bank, name="demo")
    loan_ids = list(
        session.scalars(
            select(Loan.id)
            .where(Loan.institution_id == bank, Loan.status == "delinquent")
            .order_by(Loan.id)
            .limit(4)
        )
    )
    if len(loan_ids) < 4:
        return
    shanghai = ZoneInfo("Asia/Shanghai")
    yesterday = datetime.combine(as_of - timedelta(days=1), time(10, 0), tzinfo=shanghai)
    start = yesterday.astimezone(UTC)

    def person(loan_id: int, role: str, name: str, phone: str, **basis: object) -> tuple[int, int]:
        view = contacts.add_party(
            session,
            admin,
            loan_id,
            PartyCreate(
                role=role,
                name=name,
                point=PointCreate(kind="phone", value=phone, source="borrower_provided"),
                **basis,
            ),
            start,
        )
        return view.party.id, view.points[0].id

    basis = {"lawful_basis": "consent", "basis_date": date(2025, 12, 1)}
    for n, loan_id in enumerate(loan_ids):
        loan = session.get(Loan, loan_id)
        assert loan is not None
        contacts.ensure_debtor_party(session, loan)
        person(
            loan_id,
            "guarantor",
            "示范担保人" + "甲乙丙丁"[n],
            f"+86 100 2000 000{n}",
            contract_reference=f"DB-2026-000{n}",
        )
        contact, point = person(
            loan_id, "contact_person", "示范联系人" + "甲乙丙丁"[n], f"+86 100 3000 000{n}", **basis
        )
        debtor = contacts.ensure_debtor_party(session, loan)
        debtor_phone = session.scalar(
            select(ContactPoint.id).where(ContactPoint.party_id == debtor.id)
        )
        at = start
        # Loan 1: two unanswered calls yesterday (the debtor is not lost: contact persons
        # stay out of reach). Loan 4: three failed calls in a row (the debtor is lost:
        # its contact person may be asked, once, to pass on a call-back request).
        for outcome in ([Outcome.NO_ANSWER] * 2 if n == 0 else []) + (
            [Outcome.NO_ANSWER, Outcome.NOT_CONNECTED, Outcome.VOICEMAIL] if n == 3 else []
        ):
            result = contacts.authorize(
                session,
                collector,
                AuthorizeCreate(
                    loan_id=loan_id, party_id=debtor.id, point_id=debtor_phone, channel="call"
                ),
                at,
            )
            if result.reservation is not None:
                contacts.record_outcome(
                    session, collector, str(result.reservation.reservation), outcome, at
                )
            at += timedelta(minutes=40)
        if n == 1:
            # The contact person registered their number with the third-party shield.
            phone = session.get(ContactPoint, point)
            assert phone is not None
            session.add(
                ShieldedNumber(number_hash=contacts.shield_hash(phone.value), verified_at=start)
            )
        if n == 2:
            contacts.record_account_event(
                session,
                collector,
                loan_id,
                AccountEventCreate(kind="contact_refused", party_id=contact),
                at,
            )
        # A denied proposal in the history: a contact person asked to pay.
        contacts.authorize(
            session,
            collector,
            AuthorizeCreate(
                loan_id=loan_id, party_id=contact, point_id=point, channel="call", purpose="collect"
            ),
            at,
        )
    session.flush()


DEMO_TEMPLATES = (
    # key, channel, first contact, body, activate
    (
        "due-reminder",
        "sms",
        False,
        "{{ borrower_name }}您好，您在{{ institution }}尾号{{ loan_tail }}的借款本期应还"
        "{{ amount_due }}，将于{{ due_date }}到期。请通过官方App还款，切勿转账给任何个人。"
        "如有困难，可致电{{ phone }}协商还款计划。",
        True,
    ),
    (
        "first-call",
        "call",
        True,
        "您好，我是{{ institution }}贷后服务专员{{ collector_name }}，请问是{{ borrower_name }}"
        "本人吗？关于您尾号{{ loan_tail }}的借款，想和您确认一下还款安排。",
        True,
    ),
    (
        "old-agency-script",
        "sms",
        False,
        "{{ borrower_name }}，再不还钱就把你欠款的事发到你全部通讯录，让你单位领导都知道。",
        True,  # refused: it stays a draft and the refusal is in the audit trail
    ),
)


def seed_templates(session: Session) -> None:
    """The bank's message templates: two clean ones activated, and an abusive script an
    agency once used, whose activation the content checker refused. Idempotent."""
    from datetime import UTC, datetime

    from fairdun.messaging import service as templates
    from fairdun.messaging.models import MessageTemplate
    from fairdun.messaging.schemas import TemplateCreate

    bank = _institution_ids(session)["bank"]
    if session.scalar(select(MessageTemplate.id).where(MessageTemplate.institution_id == bank)):
        return
    admin = Principal(role=Role.COMPLIANCE_OFFICER, institution_id=bank, name="demo")
    now = datetime.now(UTC)
    for key, channel, first, body, activate in DEMO_TEMPLATES:
        template = templates.create(
            session,
            admin,
            TemplateCreate(key=key, channel=channel, lang="zh", first_contact=first, body=body),
            now,
        )
        if activate:
            templates.activate(session, admin, template.id, now)
