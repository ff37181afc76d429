"""Typed factory functions with deterministic defaults. They flush; the test commits."""

from __future__ import annotations

import itertools
import re
from datetime import date
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from fairdun.identity import service as identity
from fairdun.identity.models import ApiToken, Role, User
from fairdun.identity.principal import SYSTEM, Principal
from fairdun.identity.schemas import ApiTokenCreate, UserCreate
from fairdun.institutions import service as institutions
from fairdun.institutions import uscc
from fairdun.institutions.models import Institution, InstitutionKind
from fairdun.loans import service as loans
from fairdun.loans.models import Borrower, Loan, Product
from fairdun.loans.schemas import BorrowerCreate, LoanCreate, ProductCreate
from fairdun.loans.service import CapPolicy

PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)


def credit_code(n: int) -> str:
    return uscc.make(f"9111000010{n:07d}")


def make_institution(
    db: Session, *, name: str | None = None, kind: InstitutionKind = InstitutionKind.BANK
) -> Institution:
    n = next(_seq)
    return institutions.create(
        db,
        SYSTEM,
        institutions.InstitutionCreate(
            name=name or f"Institution {n}",
            credit_code=credit_code(n),
            kind=kind,
            licence_number=f"L-{n}",
        ),
    )


def make_user(
    db: Session,
    *,
    role: Role,
    institution: Institution | None = None,
    username: str | None = None,
    display_name: str = "Test User",
    email: str | None = None,
) -> User:
    n = next(_seq)
    return identity.create_user(
        db,
        SYSTEM,
        UserCreate(
            username=username or f"user{n}",
            display_name=display_name,
            role=role,
            institution_id=institution.id if institution else None,
            email=email,
            password=PASSWORD,
        ),
    )


def make_token(
    db: Session, *, institution: Institution, role: Role = Role.COLLECTOR
) -> tuple[ApiToken, str]:
    return identity.issue_api_token(
        db, SYSTEM, ApiTokenCreate(name="dialer", role=role, institution_id=institution.id)
    )


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    """Log in through the real form; the client keeps the session cookie."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_from(page.text),
            "next": "/",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def page_csrf(client: TestClient, path: str = "/") -> str:
    return csrf_from(client.get(path).text)


# --- ledger -------------------------------------------------------------------------

TODAY = date(2026, 11, 29)


def lender_admin(institution: Institution) -> Principal:
    """An institution administrator of ``institution``, to act through the services."""
    return Principal(role=Role.INSTITUTION_ADMIN, institution_id=institution.id, name="factory")


def caps() -> CapPolicy:
    return CapPolicy.from_ids("cn.24pct,cn.36pct,cn.4x-lpr", "cn.24pct", Decimal("0.030"))


def make_product(
    db: Session, institution: Institution, *, code: str = "cash", **kw: object
) -> Product:
    return loans.create_product(
        db,
        lender_admin(institution),
        ProductCreate(code=code, name=f"产品 {code}", **kw),  # type: ignore[arg-type]
    )


def make_borrower(
    db: Session,
    institution: Institution,
    *,
    external_id: str | None = None,
    name: str = "王小明",
    user: User | None = None,
) -> Borrower:
    borrower = loans.create_borrower(
        db,
        lender_admin(institution),
        BorrowerCreate(
            external_id=external_id or f"B{next(_seq)}",
            name=name,
            phone="+86 139 0000 0000",
            id_number="11010519491231002X",
        ),
    )
    if user is not None:
        borrower.user_id = user.id
        db.flush()
    return borrower


def make_loan(
    db: Session,
    institution: Institution,
    *,
    borrower: Borrower | None = None,
    product: Product | None = None,
    external_id: str | None = None,
    principal: int = 1_200_000,
    annual_rate: str = "0.12",
    term_months: int = 12,
    start_date: date = date(2026, 1, 15),
    method: str = "equal_instalment",
    upfront_fee: int = 0,
    periodic_fee: int = 0,
    today: date = TODAY,
) -> Loan:
    borrower = borrower or make_borrower(db, institution)
    product = product or make_product(db, institution, code=f"p{next(_seq)}")
    return loans.create_loan(
        db,
        lender_admin(institution),
        LoanCreate(
            external_id=external_id or f"L{next(_seq)}",
            borrower_id=borrower.id,
            product_id=product.id,
            principal=principal,
            annual_rate=Decimal(annual_rate),
            term_months=term_months,
            start_date=start_date,
            method=method,
            upfront_fee=upfront_fee,
            periodic_fee=periodic_fee,
        ),
        today=today,
        caps=caps(),
    )


# --- contact gate ---------------------------------------------------------------------


def collector_of(institution: Institution, role: Role = Role.COLLECTOR) -> Principal:
    """A collector (or agency collector) of ``institution``, to act through the services."""
    return Principal(role=role, institution_id=institution.id, user_id=None, name="collector")


def make_party(
    db: Session,
    loan: Loan,
    *,
    role: str = "contact_person",
    name: str = "李四",
    phone: str | None = "+86 100 0000 0001",
    source: str = "borrower_provided",
    timezone: str | None = None,
) -> int:
    """A co-obligor, guarantor or contact person of ``loan`` with one phone; its id."""
    from datetime import UTC, datetime

    from fairdun.contacts import service as contacts
    from fairdun.contacts.schemas import PartyCreate, PointCreate

    institution = db.get(Institution, loan.institution_id)
    assert institution is not None
    fields: dict[str, object] = {"role": role, "name": name}
    if role in ("co_obligor", "guarantor"):
        fields["contract_reference"] = f"GC-{loan.id}-{next(_seq)}"
    if role == "contact_person":
        fields["lawful_basis"] = "consent"
        fields["basis_date"] = date(2026, 1, 10)
    if phone is not None:
        fields["point"] = PointCreate(
            kind="phone",  # type: ignore[arg-type]
            value=phone,
            source=source,
            timezone=timezone,
        )
    view = contacts.add_party(
        db,
        lender_admin(institution),
        loan.id,
        PartyCreate(**fields),  # type: ignore[arg-type]
        datetime(2026, 1, 10, tzinfo=UTC),
    )
    return view.party.id


def debtor_party_ids(db: Session, loan: Loan) -> tuple[int, int]:
    """The loan's debtor party and its phone point (made from the borrower record)."""
    from fairdun.contacts import service as contacts

    institution = db.get(Institution, loan.institution_id)
    assert institution is not None
    views = contacts.list_parties(db, lender_admin(institution), loan.id)
    debtor = views[0]
    assert debtor.party.role == "debtor"
    phone = next(p for p in debtor.points if p.kind == "phone")
    return debtor.party.id, phone.id
