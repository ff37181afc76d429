"""Log-in, throttling, CSRF, session expiry, log-out, API tokens."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from fairdun.identity.models import ApiToken, Role, User
from fairdun.institutions.models import Institution
from tests.conftest import FakeClock
from tests.factories import PASSWORD, csrf_from, login, make_institution, make_token, make_user


def _bank_with_user(
    db: Session, username: str = "alice", role: Role = Role.INSTITUTION_ADMIN
) -> Institution:
    bank = make_institution(db)
    make_user(db, role=role, institution=bank, username=username)
    db.commit()
    return bank


def _post_login(client: TestClient, username: str, password: str, next_url: str = "/") -> object:
    token = csrf_from(client.get("/login").text)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": next_url},
        follow_redirects=False,
    )


def test_wrong_password_and_unknown_user_get_the_same_401(client: TestClient, db: Session) -> None:
    _bank_with_user(db)
    wrong_password = _post_login(client, "alice", "not-the-password")
    unknown_user = _post_login(client, "nobody", PASSWORD)
    assert wrong_password.status_code == unknown_user.status_code == 401  # type: ignore[attr-defined]
    assert "用户名或密码错误" in wrong_password.text  # type: ignore[attr-defined]
    assert "用户名或密码错误" in unknown_user.text  # type: ignore[attr-defined]


def test_successful_login_redirects_to_the_safe_next_page(client: TestClient, db: Session) -> None:
    _bank_with_user(db)
    response = _post_login(client, "alice", PASSWORD, next_url="//evil.example/")
    assert response.status_code == 303  # type: ignore[attr-defined]
    assert response.headers["location"] == "/"  # type: ignore[attr-defined]
    cookie = response.headers["set-cookie"]  # type: ignore[attr-defined]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()


def test_repeated_failures_throttle_the_account_even_with_the_right_password(
    client: TestClient, db: Session, clock: FakeClock
) -> None:
    _bank_with_user(db)
    for _ in range(5):
        assert _post_login(client, "alice", "wrong-password").status_code == 401  # type: ignore[attr-defined]
    throttled = _post_login(client, "alice", PASSWORD)
    assert throttled.status_code == 429  # type: ignore[attr-defined]
    assert int(throttled.headers["retry-after"]) > 0  # type: ignore[attr-defined]
    clock.advance(minutes=16)
    assert _post_login(client, "alice", PASSWORD).status_code == 303  # type: ignore[attr-defined]


def test_repeated_failures_from_one_address_throttle_every_account(
    client: TestClient, db: Session
) -> None:
    _bank_with_user(db)
    for n in range(20):
        _post_login(client, f"guess{n}", "wrong-password")
    assert _post_login(client, "alice", PASSWORD).status_code == 429  # type: ignore[attr-defined]


def test_login_without_or_with_a_foreign_csrf_token_is_403_and_records_nothing(
    client: TestClient, db: Session
) -> None:
    _bank_with_user(db)
    before = db.scalar(text("SELECT count(*) FROM login_sessions"))
    client.get("/login")
    missing = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert missing.status_code == 403
    other = TestClient(client.app)
    foreign = csrf_from(other.get("/login").text)
    forged = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": foreign}
    )
    assert forged.status_code == 403
    assert db.scalar(text("SELECT count(*) FROM login_sessions")) == before


def test_expired_csrf_token_is_403(client: TestClient, db: Session, clock: FakeClock) -> None:
    _bank_with_user(db)
    token = csrf_from(client.get("/login").text)
    clock.advance(hours=13)
    response = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 403
    assert "expired" in response.text


def test_form_post_without_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, db: Session
) -> None:
    bank = _bank_with_user(db)
    login(client, "alice")
    response = client.post(
        "/users",
        data={"username": "eve", "display_name": "Eve", "role": "collector", "password": PASSWORD},
    )
    assert response.status_code == 403
    count = db.scalar(select(func.count()).select_from(User).where(User.institution_id == bank.id))
    assert count == 1


def test_api_write_with_session_cookie_needs_the_csrf_header(
    client: TestClient, db: Session
) -> None:
    _bank_with_user(db)
    login(client, "alice")
    body = {"name": "dialer", "role": "collector"}
    assert client.post("/api/tokens", json=body).status_code == 403
    csrf = csrf_from(client.get("/").text)
    assert client.post("/api/tokens", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201


def test_idle_session_expires_back_to_login(
    client: TestClient, db: Session, clock: FakeClock
) -> None:
    _bank_with_user(db)
    login(client, "alice")
    assert client.get("/", follow_redirects=False).status_code == 200
    clock.advance(minutes=31)
    page = client.get("/users", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/users"
    assert client.get("/api/me").status_code == 401


def test_active_session_is_extended_by_use_but_not_beyond_the_maximum(
    client: TestClient, db: Session, clock: FakeClock
) -> None:
    _bank_with_user(db)
    login(client, "alice")
    for _ in range(30):  # 30 x 25 min = 12.5 h of steady use
        clock.advance(minutes=25)
        if client.get("/", follow_redirects=False).status_code != 200:
            break
    assert client.get("/", follow_redirects=False).status_code == 303


def test_logout_ends_the_session_for_good(client: TestClient, db: Session) -> None:
    _bank_with_user(db)
    login(client, "alice")
    cookie = client.cookies.get("fairdun_session")
    csrf = csrf_from(client.get("/").text)
    out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.headers["location"] == "/login"
    client.cookies.set("fairdun_session", cookie or "")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_inactive_user_cannot_log_in(client: TestClient, db: Session) -> None:
    _bank_with_user(db)
    user = db.scalar(select(User).where(User.username == "alice"))
    assert user is not None
    user.is_active = False
    db.commit()
    assert _post_login(client, "alice", PASSWORD).status_code == 401  # type: ignore[attr-defined]


def test_api_token_is_shown_once_stored_hashed_and_revocable(
    client: TestClient, db: Session
) -> None:
    bank = _bank_with_user(db)
    login(client, "alice")
    csrf = csrf_from(client.get("/").text)
    issued = client.post(
        "/api/tokens", json={"name": "dialer", "role": "collector"}, headers={"X-CSRF-Token": csrf}
    ).json()
    raw = issued["token"]
    assert issued["institution_id"] == bank.id
    listed = client.get("/api/tokens").text
    secret = raw.split("_", 2)[2]  # fdt_<prefix>_<secret>; the secret may contain "_"
    assert raw not in listed
    assert secret not in listed
    stored = db.scalar(text("SELECT token_hash FROM api_tokens"))
    assert stored != raw and raw not in str(db.execute(text("SELECT * FROM api_tokens")).all())

    machine = TestClient(client.app)
    me = machine.get("/api/me", headers={"Authorization": f"Bearer {raw}"}).json()
    assert me["role"] == "collector" and me["institution_id"] == bank.id
    client.post(f"/api/tokens/{issued['id']}/revoke", headers={"X-CSRF-Token": csrf})
    revoked = machine.get("/api/me", headers={"Authorization": f"Bearer {raw}"})
    assert revoked.status_code == 401
    assert revoked.json()["error"]["code"] == "unauthenticated"


def test_api_token_cannot_be_cross_institution_or_platform_admin(
    client: TestClient, db: Session
) -> None:
    _bank_with_user(db)
    login(client, "alice")
    csrf = csrf_from(client.get("/").text)
    response = client.post(
        "/api/tokens", json={"name": "x", "role": "regulator"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "role"


def test_a_token_acts_only_within_its_role(client: TestClient, db: Session) -> None:
    bank = _bank_with_user(db)
    _token, raw = make_token(db, institution=bank, role=Role.COLLECTOR)
    db.commit()
    body = {"username": "mallory", "display_name": "M", "role": "collector", "password": PASSWORD}
    response = client.post("/api/users", json=body, headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 403
    assert db.scalar(select(func.count()).select_from(ApiToken)) == 1
