"""Shared fixtures. Every database test runs on SQLite, and on PostgreSQL too when
FAIRDUN_TEST_DATABASE_URL is set. The schema always comes from the migrations."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fairdun.config import Settings
from fairdun.kit import crypto, migrate
from fairdun.kit.db import Base, import_all_models, make_engine, session_factory
from fairdun.web.app import create_app

PG_URL = os.environ.get("FAIRDUN_TEST_DATABASE_URL")
TEST_KEY_1 = base64.b64encode(b"k" * 32).decode()
TEST_KEY_2 = base64.b64encode(b"n" * 32).decode()
TEST_INDEX_KEY = base64.b64encode(b"i" * 32).decode()


def make_settings(database_url: str = "sqlite://", **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": database_url,
        "secret_key": "test-secret-key-" + "x" * 32,
        "data_keys": f"t1:{TEST_KEY_1}",
        "active_key_id": "t1",
        "blind_index_key": TEST_INDEX_KEY,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type, call-arg]


@pytest.fixture(autouse=True, scope="session")
def _keyring() -> None:
    crypto.configure(crypto.KeyRing.from_settings(f"t1:{TEST_KEY_1}", "t1", TEST_INDEX_KEY))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (fast and fully isolated)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    if not PG_URL:
        pytest.skip("PostgreSQL tests need FAIRDUN_TEST_DATABASE_URL (CI sets it; see .ci/run)")
    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def _truncate_all(engine: Engine) -> None:
    import_all_models()
    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        # Only the test harness may empty the audit table: it lifts the guard for this statement.
        conn.execute(text("ALTER TABLE audit_records DISABLE TRIGGER audit_records_no_truncate"))
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        conn.execute(text("ALTER TABLE audit_records ENABLE TRIGGER audit_records_no_truncate"))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        eng = make_engine(f"sqlite:///{path}")
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("pg_engine")
        _truncate_all(eng)
        yield eng


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session for arranging and inspecting; tests commit what they arrange."""
    factory = session_factory(engine)
    with factory() as session:
        yield session


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def settings(engine: Engine, tmp_path: Path) -> Settings:
    # The risk model directory is the test's own: never the developer's var/risk-models.
    return make_settings(
        engine.url.render_as_string(hide_password=False),
        risk_model_dir=str(tmp_path / "risk-models"),
    )


@pytest.fixture
def app(settings: Settings, engine: Engine, clock: FakeClock):  # type: ignore[no-untyped-def]
    return create_app(settings, engine=engine, clock=clock)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as c:
        yield c
