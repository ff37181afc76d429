"""The `fairdun` command line, run in-process through Typer's CliRunner.

The CLI reads its settings from the process environment, so each test sets the FAIRDUN_*
variables with monkeypatch, works in an empty directory (no .env is read), and uses a fresh
database: a SQLite file, or a fresh PostgreSQL schema when FAIRDUN_TEST_DATABASE_URL is set.
The CLI replaces the process key ring; it is restored after each test.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select, text, update
from sqlalchemy.engine import Engine, make_url
from typer.testing import CliRunner

from fairdun import __version__
from fairdun.audit.models import AuditRecord
from fairdun.cli import app
from fairdun.demo import seed
from fairdun.identity.models import User
from fairdun.institutions.models import Institution
from fairdun.kit import crypto, migrate
from fairdun.kit.db import encrypted_columns, import_all_models, make_engine, session_factory
from fairdun.loans.models import Loan
from fairdun.web.app import create_app
from tests.conftest import PG_URL, TEST_INDEX_KEY, TEST_KEY_1, TEST_KEY_2, make_settings
from tests.factories import login

runner = CliRunner()

BASE_ENV = {
    "FAIRDUN_ENV": "test",
    "FAIRDUN_SECRET_KEY": "test-secret-key-" + "x" * 32,
    "FAIRDUN_DATA_KEYS": f"t1:{TEST_KEY_1}",
    "FAIRDUN_ACTIVE_KEY_ID": "t1",
    "FAIRDUN_BLIND_INDEX_KEY": TEST_INDEX_KEY,
}
PROD_KEY = base64.b64encode(b"p" * 32).decode()


def _command_paths(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and group below ``command`` (Typer's click groups have ``commands``)."""
    yield prefix
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _command_paths(sub, (*prefix, name))


ALL_COMMANDS = list(_command_paths(typer.main.get_command(app)))


def run(*args: str) -> tuple[int, str]:
    """Exit code and the combined output, whitespace collapsed (Rich wraps long lines)."""
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture(autouse=True)
def _restore_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "_keyring", crypto._keyring)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("FAIRDUN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """An empty database, configured for the CLI together with the test keys."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cli.db'}"
        schema = None
    else:
        if not PG_URL:
            pytest.skip("PostgreSQL tests need FAIRDUN_TEST_DATABASE_URL (CI sets it; see .ci/run)")
        schema = f"fairdun_cli_{os.getpid()}"
        admin = make_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        separator = "&" if "?" in PG_URL else "?"
        url = f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    for name, value in {**BASE_ENV, "FAIRDUN_DATABASE_URL": url}.items():
        monkeypatch.setenv(name, value)
    yield url
    if schema is not None:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def engine_of(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


# A small portfolio keeps these tests fast; the full 5,000 loans are the default.
DEMO_LOANS = "25"


@pytest.fixture
def seeded(database_url: str) -> str:
    code, output = run("demo", "--no-serve", "--loans", DEMO_LOANS)
    assert code == 0, output
    return database_url


def _count(engine: Engine, model: type) -> int:
    with session_factory(engine)() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# --- help --------------------------------------------------------------------------------


def test_commands_are_enumerated_from_the_app() -> None:
    assert {
        (),
        ("db", "upgrade"),
        ("db", "current"),
        ("keys", "generate"),
        ("keys", "rotate"),
        ("audit", "verify"),
        ("users", "create-admin"),
        ("serve",),
        ("demo",),
    } <= set(ALL_COMMANDS)


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "fairdun")
def test_help_works_for_every_command(path: tuple[str, ...]) -> None:
    code, output = run(*path, "--help")
    assert code == 0, output
    assert "Usage:" in output
    assert "Traceback" not in output


def test_help_needs_no_valid_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRDUN_PROT", "1")
    code, output = run("db", "upgrade", "--help")
    assert code == 0, output


def test_version_is_printed() -> None:
    code, output = run("--version")
    assert code == 0
    assert output == __version__


# --- db ----------------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema(database_url: str, engine_of: Engine) -> None:
    code, output = run("db", "upgrade")
    assert code == 0, output
    assert f"empty -> {migrate.head_revision()}" in output
    tables = set(inspect(engine_of).get_table_names())
    assert {"users", "institutions", "audit_records", "login_sessions", "api_tokens"} <= tables
    assert migrate.current_revision(engine_of) == migrate.head_revision()


def test_db_upgrade_is_idempotent(database_url: str, engine_of: Engine) -> None:
    assert run("db", "upgrade")[0] == 0
    code, output = run("db", "upgrade")
    head = migrate.head_revision()
    assert code == 0, output
    assert f"{head} -> {head}" in output
    assert migrate.current_revision(engine_of) == head


def test_db_upgrade_hides_the_database_password(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("only a server database has a password in its URL")
    url = make_url(database_url).set(password="s3cret-pw")
    monkeypatch.setenv("FAIRDUN_DATABASE_URL", url.render_as_string(hide_password=False))
    code, output = run("db", "upgrade")
    assert "s3cret-pw" not in output, code


def test_db_current_reports_empty_then_head(database_url: str) -> None:
    head = migrate.head_revision()
    code, output = run("db", "current")
    assert code == 0, output
    assert output == f"current: empty; head: {head}"
    run("db", "upgrade")
    assert run("db", "current")[1] == f"current: {head}; head: {head}"


# --- demo --------------------------------------------------------------------------------


def test_demo_seeds_the_database_and_prints_the_logins(
    database_url: str, engine_of: Engine
) -> None:
    code, output = run("demo", "--no-serve", "--loans", DEMO_LOANS)
    assert code == 0, output
    assert "(created)" in output
    assert f"demo portfolio: {DEMO_LOANS} loans" in output
    assert _count(engine_of, Loan) == int(DEMO_LOANS)
    assert seed.DEMO_PASSWORD in output
    for username, *_ in seed.USERS:
        assert username in output
    assert _count(engine_of, User) == len(seed.USERS)
    assert _count(engine_of, Institution) == len(seed.INSTITUTIONS)


def test_demo_second_run_reuses_the_database_without_duplicates(
    seeded: str, engine_of: Engine
) -> None:
    with session_factory(engine_of)() as session:
        users_before = sorted(session.scalars(select(User.username)).all())
        ids_before = sorted(session.scalars(select(User.id)).all())
    institutions_before = _count(engine_of, Institution)
    audit_before = _count(engine_of, AuditRecord)
    loans_before = _count(engine_of, Loan)
    # As if the demo had been seeded three days ago.
    today = datetime.now(UTC).date()
    with engine_of.begin() as conn:
        conn.execute(
            update(Loan.__table__)
            .where(Loan.status.in_(("current", "delinquent")))
            .values(state_as_of=today - timedelta(days=3))
        )

    code, output = run("demo", "--no-serve", "--loans", DEMO_LOANS)
    assert code == 0, output
    assert "(reused)" in output

    with session_factory(engine_of)() as session:
        assert sorted(session.scalars(select(User.username)).all()) == users_before
        assert sorted(session.scalars(select(User.id)).all()) == ids_before
    assert users_before == sorted(u for u, *_ in seed.USERS)
    assert _count(engine_of, Institution) == institutions_before
    assert _count(engine_of, AuditRecord) == audit_before
    assert _count(engine_of, Loan) == loans_before
    # A reused demo moves every open loan to today.
    assert f"state as of {today}" in output
    with session_factory(engine_of)() as session:
        stale = session.scalar(
            select(func.count())
            .select_from(Loan)
            .where(Loan.status.in_(("current", "delinquent")), Loan.state_as_of != today)
        )
    assert stale == 0


def test_demo_is_refused_in_production(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "FAIRDUN_ENV": "production",
        "FAIRDUN_SECRET_KEY": "p" * 48,
        "FAIRDUN_DATA_KEYS": f"p1:{PROD_KEY}",
        "FAIRDUN_ACTIVE_KEY_ID": "p1",
        "FAIRDUN_BLIND_INDEX_KEY": TEST_INDEX_KEY,
        "FAIRDUN_COOKIE_SECURE": "true",
    }.items():
        monkeypatch.setenv(name, value)
    code, output = run("demo", "--no-serve", "--loans", "0")
    assert code == 2
    assert "never loaded in production" in output


# --- audit verify ------------------------------------------------------------------------


def test_audit_verify_passes_on_an_intact_chain(seeded: str, engine_of: Engine) -> None:
    total = _count(engine_of, AuditRecord)
    assert total > 1
    code, output = run("audit", "verify")
    assert code == 0, output
    assert f"audit chain intact: {total} records verified" in output


def test_audit_verify_passes_on_an_empty_chain(database_url: str) -> None:
    run("db", "upgrade")
    code, output = run("audit", "verify")
    assert code == 0, output
    assert "0 records verified" in output


def _tamper(engine: Engine, record_id: int) -> None:
    """Rewrite one record's details behind the application's back (lifting the triggers)."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_records_no_update"))
        else:
            conn.execute(text("ALTER TABLE audit_records DISABLE TRIGGER USER"))
        changed = conn.execute(
            text("UPDATE audit_records SET details = :d WHERE id = :id"),
            {"d": '{"tampered":true}', "id": record_id},
        ).rowcount
        assert changed == 1


def test_audit_verify_names_the_tampered_record_and_exits_1(seeded: str, engine_of: Engine) -> None:
    with session_factory(engine_of)() as session:
        ids = sorted(session.scalars(select(AuditRecord.id)).all())
    target = ids[len(ids) // 2]
    _tamper(engine_of, target)
    code, output = run("audit", "verify")
    assert code == 1, output
    assert f"audit chain broken at record {target}:" in output
    assert "altered" in output


# --- keys --------------------------------------------------------------------------------


def test_keys_generate_prints_a_fresh_32_byte_key() -> None:
    first = run("keys", "generate")
    second = run("keys", "generate")
    assert first[0] == second[0] == 0
    assert first[1] != second[1]
    assert len(base64.b64decode(first[1], validate=True)) == 32


def _encrypted_user_values(engine: Engine) -> list[str]:
    """Every encrypted value in the database (users, and the demo portfolio's borrowers)."""
    import_all_models()
    values: list[str] = []
    with engine.connect() as conn:
        for table, column, _ctx in encrypted_columns():
            rows = conn.execute(text(f'SELECT "{column}" FROM "{table}"')).all()  # noqa: S608
            values.extend(row[0] for row in rows if row[0] is not None)
    return values


def test_keys_rotate_re_encrypts_everything_under_the_new_key(
    seeded: str, engine_of: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _encrypted_user_values(engine_of)
    assert before
    assert all(value.startswith("fd1:t1:") for value in before)

    monkeypatch.setenv("FAIRDUN_DATA_KEYS", f"t1:{TEST_KEY_1},t2:{TEST_KEY_2}")
    monkeypatch.setenv("FAIRDUN_ACTIVE_KEY_ID", "t2")
    code, output = run("keys", "rotate")
    assert code == 0, output
    assert f"scanned {len(before)} values, re-encrypted {len(before)} under key 't2'" in output

    after = _encrypted_user_values(engine_of)
    assert len(after) == len(before)
    assert all(value.startswith("fd1:t2:") for value in after), after

    # Only the new key is needed from now on.
    crypto.configure(crypto.KeyRing.from_settings(f"t2:{TEST_KEY_2}", "t2", TEST_INDEX_KEY))
    with session_factory(engine_of)() as session:
        names = {u.username: u.display_name for u in session.scalars(select(User))}
        emails = {u.username: u.email for u in session.scalars(select(User))}
    assert names == {username: display for username, display, *_ in seed.USERS}
    assert emails["admin"] == "admin@demo.fairdun.example"

    with session_factory(engine_of)() as session:
        last = session.scalars(select(AuditRecord).order_by(AuditRecord.id.desc())).first()
    assert last is not None
    assert last.action == "keys.rotated"
    assert '"rotated":' + str(len(before)) in last.details


def test_keys_rotate_twice_changes_nothing_the_second_time(
    seeded: str, engine_of: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIRDUN_DATA_KEYS", f"t1:{TEST_KEY_1},t2:{TEST_KEY_2}")
    monkeypatch.setenv("FAIRDUN_ACTIVE_KEY_ID", "t2")
    assert run("keys", "rotate")[0] == 0
    first = _encrypted_user_values(engine_of)
    code, output = run("keys", "rotate")
    assert code == 0, output
    assert "re-encrypted 0 under key 't2'" in output
    assert _encrypted_user_values(engine_of) == first
    assert run("audit", "verify")[0] == 0


def test_after_rotation_the_app_logs_in_with_only_the_new_key(
    seeded: str, engine_of: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIRDUN_DATA_KEYS", f"t1:{TEST_KEY_1},t2:{TEST_KEY_2}")
    monkeypatch.setenv("FAIRDUN_ACTIVE_KEY_ID", "t2")
    assert run("keys", "rotate")[0] == 0

    settings = make_settings(seeded, data_keys=f"t2:{TEST_KEY_2}", active_key_id="t2")
    with TestClient(create_app(settings, engine=engine_of)) as client:
        login(client, "admin", seed.DEMO_PASSWORD)
        home = client.get("/")
    assert home.status_code == 200
    assert "平台管理员" in home.text


def test_keys_rotate_with_an_active_key_not_listed_is_a_key_error(
    seeded: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIRDUN_ACTIVE_KEY_ID", "t9")
    code, output = run("keys", "rotate")
    assert code == 2
    assert "key error" in output
    assert "'t9'" in output


def test_rotation_without_the_old_key_fails_naming_it_and_changes_nothing(
    seeded: str, engine_of: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _encrypted_user_values(engine_of)
    monkeypatch.setenv("FAIRDUN_DATA_KEYS", f"t2:{TEST_KEY_2}")
    monkeypatch.setenv("FAIRDUN_ACTIVE_KEY_ID", "t2")
    result = runner.invoke(app, ["keys", "rotate"])
    assert result.exit_code != 0
    assert "'t1'" in str(result.exception) + result.output
    assert _encrypted_user_values(engine_of) == before


# --- users -------------------------------------------------------------------------------


def test_create_admin_creates_a_platform_administrator(
    database_url: str, engine_of: Engine
) -> None:
    run("db", "upgrade")
    code, output = run("users", "create-admin", "root", "--password", "a-long-password-1")
    assert code == 0, output
    assert "platform administrator 'root' created" in output
    with session_factory(engine_of)() as session:
        user = session.scalars(select(User).where(User.username == "root")).one()
    assert user.role == "platform_admin"
    assert user.institution_id is None


def test_create_admin_refuses_a_duplicate_username(seeded: str) -> None:
    code, output = run("users", "create-admin", "admin", "--password", "a-long-password-1")
    assert code == 1
    assert "not created" in output


# --- configuration errors ----------------------------------------------------------------

CONFIGURED_COMMANDS = [
    ("db", "upgrade"),
    ("db", "current"),
    ("keys", "rotate"),
    ("audit", "verify"),
    ("demo", "--no-serve", "--loans", "0"),
    ("users", "create-admin", "x", "--password", "a-long-password-1"),
]


@pytest.mark.parametrize("args", CONFIGURED_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_unknown_fairdun_variable_stops_the_command_by_name(
    database_url: str, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    monkeypatch.setenv("FAIRDUN_PROT", "8001")
    code, output = run(*args)
    assert code == 2
    assert "configuration error" in output
    assert "FAIRDUN_PROT" in output


@pytest.mark.parametrize("args", CONFIGURED_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_production_with_development_secrets_stops_the_command(
    database_url: str, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    for name in (
        "FAIRDUN_SECRET_KEY",
        "FAIRDUN_DATA_KEYS",
        "FAIRDUN_ACTIVE_KEY_ID",
        "FAIRDUN_BLIND_INDEX_KEY",
    ):
        monkeypatch.delenv(name)
    monkeypatch.setenv("FAIRDUN_ENV", "production")
    code, output = run(*args)
    assert code == 2
    assert "refusing to start in production" in output
    assert "FAIRDUN_SECRET_KEY" in output


def test_invalid_value_stops_the_command_by_name(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIRDUN_PORT", "notaport")
    code, output = run("db", "current")
    assert code == 2
    assert "FAIRDUN_PORT" in output


def test_dot_env_in_the_working_directory_is_read(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("FAIRDUN_PROT=1\n", encoding="utf-8")
    code, output = run("db", "current")
    assert code == 2
    assert "FAIRDUN_PROT" in output
