"""Tenancy, proven over every route of the app.

The test enumerates ``app.routes``: a route added later is exercised automatically.
Any route with a path parameter is called by a user of institution A with the id of
a record of institution B and must answer 404 and change nothing; any list must not
leak B's records; anonymous callers get 401 (API) or a redirect to log in (pages).
A new path parameter or request body makes this test fail until it is added below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairdun.identity.models import ApiToken, Role, User
from fairdun.institutions.models import Institution, InstitutionKind, LicenceChange
from fairdun.web.routes import all_routes
from tests.factories import csrf_from, login, make_institution, make_token, make_user

SECRET_B = "乙方银行-TENANT-B-MARKER"

# Routes anyone may call, logged in or not.
PUBLIC = {
    ("GET", "/api/health"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/lang"),
    ("GET", "/api/docs"),
    ("GET", "/api/docs/oauth2-redirect"),
    ("GET", "/api/openapi.json"),
}

# A valid request body per route, so that validation passes and tenancy is what decides.
JSON_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/institutions"): {
        "name": "Newco",
        "credit_code": "91110000100000099P",
        "kind": "bank",
        "licence_number": "X",
    },
    ("POST", "/api/institutions/{institution_id}/licence"): {"status": "suspended", "reason": "x"},
    ("POST", "/api/institutions/{institution_id}/engagements"): {
        "agency_id": 0,
        "contract_ref": "C-1",
        "start_date": "2026-01-01",
    },
    ("POST", "/api/users"): {
        "username": "intruder",
        "display_name": "I",
        "role": "collector",
        "password": "long-enough-pw",
    },
    ("POST", "/api/tokens"): {"name": "intruder", "role": "collector"},
    ("POST", "/api/tokens/{token_id}/revoke"): {},
}
FORM_BODIES: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/institutions"): {
        "name": "Newco",
        "credit_code": "91110000100000099P",
        "kind": "bank",
        "licence_number": "X",
    },
    ("POST", "/institutions/{institution_id}/licence"): {"status": "suspended", "reason": "x"},
    ("POST", "/users"): {
        "username": "intruder2",
        "display_name": "I",
        "role": "collector",
        "password": "long-enough-pw",
    },
    ("POST", "/tokens"): {"name": "intruder", "role": "collector"},
    ("POST", "/tokens/{token_id}/revoke"): {},
    ("POST", "/logout"): {},
}
# Routes that end the caller's own session; run last so the others keep a session.
RUN_LAST = {("POST", "/logout")}


@dataclass
class World:
    a: Institution
    b: Institution
    b_user: User
    b_token: ApiToken
    agency: Institution


@pytest.fixture
def world(db: Session) -> World:
    a = make_institution(db, name="甲方银行")
    b = make_institution(db, name=SECRET_B)
    agency = make_institution(db, name="丙方催收", kind=InstitutionKind.COLLECTION_AGENCY)
    b_user = make_user(db, role=Role.COLLECTOR, institution=b, username="b-secret-user")
    b_token, _ = make_token(db, institution=b)
    for role in (
        Role.INSTITUTION_ADMIN,
        Role.COMPLIANCE_OFFICER,
        Role.COLLECTOR,
        Role.RISK_ANALYST,
        Role.BORROWER,
    ):
        make_user(db, role=role, institution=a, username=f"a-{role.value}")
    make_user(db, role=Role.AGENCY_COLLECTOR, institution=agency, username="a-agency_collector")
    db.commit()
    return World(a, b, b_user, b_token, agency)


def fill(path: str, world: World) -> str:
    ids = {"institution_id": world.b.id, "user_id": world.b_user.id, "token_id": world.b_token.id}
    for name in re.findall(r"{(\w+)}", path):
        assert name in ids, (
            f"route {path} has path parameter {name!r}: add a record of institution B for it "
            "to the tenancy test, so cross-tenant access is checked"
        )
        path = path.replace("{" + name + "}", str(ids[name]))
    return path


def snapshot(db: Session, world: World) -> tuple[Any, ...]:
    db.expire_all()
    b = db.get(Institution, world.b.id)
    token = db.get(ApiToken, world.b_token.id)
    assert b is not None and token is not None
    return (
        b.licence_status,
        b.name,
        token.revoked_at,
        db.scalar(select(func.count()).select_from(User).where(User.institution_id == world.b.id)),
        db.scalar(
            select(func.count()).select_from(ApiToken).where(ApiToken.institution_id == world.b.id)
        ),
        db.scalar(
            select(func.count())
            .select_from(LicenceChange)
            .where(LicenceChange.institution_id == world.b.id)
        ),
    )


def call(client: TestClient, method: str, template: str, world: World, csrf: str) -> Any:
    url = fill(template, world)
    key = (method, template)
    if template.startswith("/api"):
        headers = {"X-CSRF-Token": csrf}
        if method == "GET":
            return client.get(url, headers=headers, follow_redirects=False)
        assert key in JSON_BODIES, f"{method} {template}: add a valid JSON body to JSON_BODIES"
        body = dict(JSON_BODIES[key])
        body.setdefault("institution_id", world.b.id) if "institution_id" not in template else None
        if "agency_id" in body:
            body["agency_id"] = world.agency.id
        return client.request(method, url, json=body, headers=headers, follow_redirects=False)
    if method == "GET":
        return client.get(url, follow_redirects=False)
    assert key in FORM_BODIES, f"{method} {template}: add a valid form body to FORM_BODIES"
    form = {**FORM_BODIES[key], "csrf_token": csrf}
    if "institution_id" not in template:
        form["institution_id"] = str(world.b.id)
    return client.request(method, url, data=form, follow_redirects=False)


ROLES = [
    "a-institution_admin",
    "a-compliance_officer",
    "a-collector",
    "a-risk_analyst",
    "a-borrower",
    "a-agency_collector",
]


@pytest.mark.parametrize("username", ROLES)
def test_no_route_reaches_another_institutions_records(
    username: str, app: FastAPI, client: TestClient, db: Session, world: World
) -> None:
    login(client, username)
    csrf = csrf_from(client.get("/").text)
    before = snapshot(db, world)
    routes = sorted(
        (r for r in all_routes(app) if r not in PUBLIC), key=lambda r: (r in RUN_LAST, r[1], r[0])
    )
    assert len(routes) >= 20, "route enumeration found too few routes"
    for method, template in routes:
        response = call(client, method, template, world, csrf)
        where = f"{username} {method} {template} -> {response.status_code}"
        if "{" in template:
            assert response.status_code == 404, where
        else:
            assert response.status_code in (200, 201, 303, 403, 404, 409, 422), where
            assert SECRET_B not in response.text, f"{where}: leaks institution B's name"
            assert "b-secret-user" not in response.text, f"{where}: leaks institution B's user"
            assert world.b_token.prefix not in response.text, (
                f"{where}: leaks institution B's token"
            )
        assert snapshot(db, world) == before, f"{where}: changed institution B's records"


def test_every_non_public_route_requires_login(
    app: FastAPI, client: TestClient, world: World
) -> None:
    for method, template in all_routes(app):
        if (method, template) in PUBLIC:
            continue
        response = client.request(method, fill(template, world), follow_redirects=False)
        where = f"anonymous {method} {template} -> {response.status_code}"
        if template.startswith("/api"):
            assert response.status_code == 401, where
            assert response.json()["error"]["code"] == "unauthenticated", where
        else:
            assert response.status_code == 303, where
            assert response.headers["location"].startswith("/login"), where


def test_api_token_of_institution_a_cannot_reach_b(
    app: FastAPI, client: TestClient, db: Session, world: World
) -> None:
    _token, raw = make_token(db, institution=world.a, role=Role.INSTITUTION_ADMIN)
    db.commit()
    headers = {"Authorization": f"Bearer {raw}"}
    for method, template in all_routes(app):
        if not template.startswith("/api") or (method, template) in PUBLIC:
            continue
        url = fill(template, world)
        body = JSON_BODIES.get((method, template))
        response = client.request(method, url, json=body, headers=headers)
        where = f"token {method} {template} -> {response.status_code}"
        if "{" in template:
            assert response.status_code == 404, where
        assert SECRET_B not in response.text, where


def test_regulator_sees_every_institution(client: TestClient, db: Session, world: World) -> None:
    reg_inst = make_institution(db, name="监管", kind=InstitutionKind.REGULATOR)
    make_user(db, role=Role.REGULATOR, institution=reg_inst, username="reg")
    db.commit()
    login(client, "reg")
    names = {i["name"] for i in client.get("/api/institutions").json()}
    assert {SECRET_B, "甲方银行"} <= names
    assert client.get(f"/institutions/{world.b.id}").status_code == 200
