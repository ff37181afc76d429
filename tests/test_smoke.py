from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from fairdun.identity.models import Role
from tests.factories import login, make_institution, make_user


def test_health_answers_without_login(client: TestClient) -> None:
    body = client.get("/api/health").json()
    assert body["status"] == "ok"


def test_regulator_logs_in_and_sees_supervision_desk(client: TestClient, db: Session) -> None:
    reg = make_institution(db, kind="regulator")  # type: ignore[arg-type]
    make_user(db, role=Role.REGULATOR, institution=reg, username="reg")
    db.commit()
    login(client, "reg")
    page = client.get("/")
    assert 'data-home="regulator"' in page.text
