"""A database that is busy (a lock held past the timeout) answers 503 with Retry-After and
the one JSON error shape; any other database error stays a 500."""

from __future__ import annotations

import sqlite3

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from fairdun.web.errors import install


class _PgLockError(Exception):
    sqlstate = "55P03"


def _app() -> FastAPI:
    app = FastAPI()
    install(app)

    @app.get("/api/locked")
    def locked() -> None:
        raise OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))

    @app.get("/api/pg-lock")
    def pg_lock() -> None:
        raise OperationalError("SELECT ...", {}, _PgLockError("lock not available"))

    @app.get("/api/broken")
    def broken() -> None:
        raise OperationalError("SELECT ...", {}, sqlite3.OperationalError("no such table: x"))

    return app


def test_a_busy_database_is_a_503_to_retry_and_other_errors_stay_500() -> None:
    client = TestClient(_app(), raise_server_exceptions=False)
    for path in ("/api/locked", "/api/pg-lock"):
        response = client.get(path)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error"]["code"] == "busy"
    broken = client.get("/api/broken")
    assert broken.status_code == 500
    assert broken.json()["error"]["code"] == "internal_error"
