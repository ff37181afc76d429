"""Typed factory functions with deterministic defaults. They flush; the test commits."""

from __future__ import annotations

import itertools
import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from fairdun.identity import service as identity
from fairdun.identity.models import ApiToken, Role, User
from fairdun.identity.principal import SYSTEM
from fairdun.identity.schemas import ApiTokenCreate, UserCreate
from fairdun.institutions import service as institutions
from fairdun.institutions import uscc
from fairdun.institutions.models import Institution, InstitutionKind

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
