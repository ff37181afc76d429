"""The web shell: error shape, docs offline, health, headers, role navigation."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from fairdun.identity.models import Role
from fairdun.institutions.models import InstitutionKind
from tests.factories import login, make_institution, make_user


def _is_error_shape(body: dict[str, object]) -> bool:
    error = body.get("error")
    return isinstance(error, dict) and set(error) == {"code", "message", "details"}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/nowhere", 404),
        ("DELETE", "/api/health", 405),
        ("GET", "/api/me", 401),
        ("GET", "/api/audit?limit=0", 401),
    ],
)
def test_api_errors_share_one_json_shape(
    client: TestClient, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert _is_error_shape(response.json())


def test_validation_errors_name_each_field(client: TestClient, db: Session) -> None:
    make_user(db, role=Role.PLATFORM_ADMIN, username="root")
    db.commit()
    login(client, "root")
    response = client.get("/api/audit?limit=0")
    assert response.status_code == 422
    body = response.json()
    assert _is_error_shape(body)
    assert body["error"]["details"][0]["field"] == "limit"


def test_unknown_page_is_an_html_404(client: TestClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "404" in response.text


def test_api_docs_work_offline(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    external = re.findall(r'(?:src|href)="(https?://[^"]+)"', page.text)
    assert external == [], f"docs page loads from the network: {external}"
    for asset in re.findall(r'"(/static/swagger/[^"]+)"', page.text):
        assert client.get(asset).status_code == 200, asset
    spec = client.get("/api/openapi.json").json()
    assert "/api/institutions" in spec["paths"]


def test_health_reports_the_database(client: TestClient) -> None:
    body = client.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["database"] in ("sqlite", "postgresql")


def test_pages_carry_security_headers(client: TestClient) -> None:
    response = client.get("/login")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in response.headers["content-security-policy"]


def test_pages_load_no_external_resources(client: TestClient) -> None:
    html = client.get("/login").text
    assert re.findall(r'(?:src|href)="(https?://[^"]+)"', html) == []
    assert client.get("/static/htmx-2.0.11.min.js").status_code == 200


NAV = {
    Role.PLATFORM_ADMIN: {"/institutions", "/users", "/tokens", "/audit", "/templates"}
    | {"/dashboard"},
    Role.REGULATOR: {"/institutions", "/audit", "/loans", "/templates", "/complaints"}
    | {"/dashboard", "/risk"},
    Role.INSTITUTION_ADMIN: {
        "/users",
        "/tokens",
        "/audit",
        "/loans",
        "/templates",
        "/complaints",
        "/dashboard",
        "/risk",
    },
    Role.COMPLIANCE_OFFICER: {"/audit", "/loans", "/templates", "/complaints", "/dashboard"}
    | {"/risk"},
    Role.COLLECTOR: {"/loans", "/templates"},
    Role.RISK_ANALYST: {"/loans", "/risk"},
    Role.AGENCY_COLLECTOR: {"/loans", "/templates"},
    Role.BORROWER: {"/loans", "/risk/mine"},
}


@pytest.mark.parametrize("role", list(Role))
def test_each_role_lands_on_its_home_with_its_navigation(
    client: TestClient, db: Session, role: Role
) -> None:
    kind = {
        Role.REGULATOR: InstitutionKind.REGULATOR,
        Role.AGENCY_COLLECTOR: InstitutionKind.COLLECTION_AGENCY,
    }.get(role, InstitutionKind.BANK)
    inst = None if role is Role.PLATFORM_ADMIN else make_institution(db, kind=kind)
    make_user(db, role=role, institution=inst, username=f"u-{role.value}")
    db.commit()
    login(client, f"u-{role.value}")
    page = client.get("/")
    assert page.status_code == 200
    assert f'data-home="{role.value}"' in page.text
    nav = re.search(r'<nav[^>]*data-testid="nav">(.*?)</nav>', page.text, re.S)
    assert nav is not None
    links = set(re.findall(r'href="([^"]+)"', nav.group(1))) - {"/"}
    links = {link for link in links if not link.startswith("/institutions/")}
    assert links == NAV[role]
    for link in links:
        assert client.get(link).status_code == 200, link
