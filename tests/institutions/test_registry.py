"""The institution registry over HTTP and the licence rule that later parts call."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairdun.identity.models import Role
from fairdun.identity.principal import SYSTEM
from fairdun.institutions import service
from fairdun.institutions.models import Institution, InstitutionKind, LicenceStatus
from fairdun.institutions.schemas import EngagementCreate, LicenceChangeCreate
from fairdun.kit.errors import CollectionBlocked, Conflict
from tests.factories import credit_code, csrf_from, login, make_institution, make_user


@pytest.fixture
def admin(client: TestClient, db: Session) -> dict[str, str]:
    make_user(db, role=Role.PLATFORM_ADMIN, username="root")
    db.commit()
    login(client, "root")
    return {"X-CSRF-Token": csrf_from(client.get("/").text)}


def _count(db: Session) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(Institution)) or 0)


def test_register_an_institution(client: TestClient, db: Session, admin: dict[str, str]) -> None:
    body = {
        "name": "示范银行",
        "credit_code": credit_code(777).lower(),
        "kind": "bank",
        "licence_number": "B1",
    }
    response = client.post("/api/institutions", json=body, headers=admin)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["credit_code"] == credit_code(777)  # normalised to upper case
    assert created["licence_status"] == "active"
    history = client.get(f"/api/institutions/{created['id']}/licence-history").json()
    assert [h["to_status"] for h in history] == ["active"]


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("91110000100000077", "18 characters"),
        ("91110000100000077I", "not allowed"),
        ("9111000010000007AX", "check character"),
    ],
)
def test_malformed_credit_code_is_422_naming_the_field_and_creates_nothing(
    client: TestClient, db: Session, admin: dict[str, str], code: str, why: str
) -> None:
    before = _count(db)
    body = {"name": "坏银行", "credit_code": code, "kind": "bank"}
    response = client.post("/api/institutions", json=body, headers=admin)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["field"] == "credit_code"
    assert why in error["details"][0]["message"]
    assert _count(db) == before


def test_duplicate_institution_is_409_and_creates_nothing(
    client: TestClient, db: Session, admin: dict[str, str]
) -> None:
    body = {"name": "甲", "credit_code": credit_code(778), "kind": "bank"}
    assert client.post("/api/institutions", json=body, headers=admin).status_code == 201
    before = _count(db)
    again = client.post("/api/institutions", json={**body, "name": "乙"}, headers=admin)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert _count(db) == before


def test_registration_form_shows_the_error_and_keeps_nothing(
    client: TestClient, db: Session, admin: dict[str, str]
) -> None:
    before = _count(db)
    form = {"name": "坏", "credit_code": "123", "kind": "bank", "csrf_token": admin["X-CSRF-Token"]}
    response = client.post("/institutions", data=form)
    assert response.status_code == 422
    assert "credit_code" in response.text
    assert _count(db) == before


def test_only_a_platform_admin_registers(client: TestClient, db: Session) -> None:
    bank = make_institution(db)
    make_user(db, role=Role.INSTITUTION_ADMIN, institution=bank, username="inst-admin")
    db.commit()
    login(client, "inst-admin")
    csrf = csrf_from(client.get("/").text)
    body = {"name": "x", "credit_code": credit_code(779), "kind": "bank"}
    assert (
        client.post("/api/institutions", json=body, headers={"X-CSRF-Token": csrf}).status_code
        == 403
    )


def test_unknown_fields_and_kinds_are_refused(client: TestClient, admin: dict[str, str]) -> None:
    body = {"name": "x", "credit_code": credit_code(780), "kind": "pawnshop"}
    response = client.post("/api/institutions", json=body, headers=admin)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "kind"
    extra = client.post(
        "/api/institutions", json={**body, "kind": "bank", "licence": "x"}, headers=admin
    )
    assert extra.status_code == 422


def test_licence_history_and_collection_block(
    client: TestClient, db: Session, admin: dict[str, str]
) -> None:
    bank = make_institution(db)
    db.commit()
    service.require_collection_allowed(db, bank.id)
    suspend = {"status": "suspended", "reason": "违规催收"}
    assert (
        client.post(f"/api/institutions/{bank.id}/licence", json=suspend, headers=admin).status_code
        == 200
    )
    db.expire_all()
    with pytest.raises(CollectionBlocked, match="suspended"):
        service.require_collection_allowed(db, bank.id)
    reinstate = {"status": "active", "reason": "整改完成"}
    client.post(f"/api/institutions/{bank.id}/licence", json=reinstate, headers=admin)
    revoke = {"status": "revoked", "reason": "吊销"}
    client.post(f"/api/institutions/{bank.id}/licence", json=revoke, headers=admin)
    final = client.post(f"/api/institutions/{bank.id}/licence", json=reinstate, headers=admin)
    assert final.status_code == 409
    history = client.get(f"/api/institutions/{bank.id}/licence-history").json()
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        (None, "active"),
        ("active", "suspended"),
        ("suspended", "active"),
        ("active", "revoked"),
    ]
    db.expire_all()
    assert not service.collection_check(db, bank.id).allowed


def test_agency_collects_only_for_an_engaged_lender_with_an_active_licence(db: Session) -> None:
    bank = make_institution(db)
    other = make_institution(db)
    agency = make_institution(db, kind=InstitutionKind.COLLECTION_AGENCY)
    service.engage_agency(
        db,
        SYSTEM,
        bank.id,
        EngagementCreate(agency_id=agency.id, contract_ref="C-1", start_date=date(2026, 1, 1)),
    )
    db.commit()
    assert service.collection_check(db, agency.id, bank.id).allowed
    assert not service.collection_check(db, agency.id, other.id).allowed
    assert not service.collection_check(db, agency.id).allowed
    service.change_licence(
        db, SYSTEM, bank.id, LicenceChangeCreate(status=LicenceStatus.SUSPENDED, reason="x")
    )
    assert "lender" in service.collection_check(db, agency.id, bank.id).reason
    with pytest.raises(Conflict):
        service.engage_agency(
            db,
            SYSTEM,
            bank.id,
            EngagementCreate(agency_id=agency.id, contract_ref="C-2", start_date=date(2026, 1, 1)),
        )


def test_regulator_changes_a_licence_from_the_page_with_htmx(
    client: TestClient, db: Session
) -> None:
    reg = make_institution(db, kind=InstitutionKind.REGULATOR)
    bank = make_institution(db, name="被监管银行")
    make_user(db, role=Role.REGULATOR, institution=reg, username="reg")
    db.commit()
    login(client, "reg")
    csrf = csrf_from(client.get(f"/institutions/{bank.id}").text)
    response = client.post(
        f"/institutions/{bank.id}/licence",
        data={"status": "suspended", "reason": "现场检查", "csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section class="card" id="licence-panel"')
    assert "暂停" in response.text and "现场检查" in response.text


def test_a_collector_cannot_change_its_own_licence(client: TestClient, db: Session) -> None:
    bank = make_institution(db)
    make_user(db, role=Role.COLLECTOR, institution=bank, username="coll")
    db.commit()
    login(client, "coll")
    csrf = csrf_from(client.get("/").text)
    response = client.post(
        f"/api/institutions/{bank.id}/licence",
        json={"status": "active", "reason": "x"},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code in (403, 409)
    assert response.json()["error"]["code"] in ("forbidden", "conflict")
