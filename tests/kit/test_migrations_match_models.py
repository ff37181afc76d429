"""The migrations build exactly the schema the models describe.

A model changed without a migration (or a migration edited by hand to differ) shows up
here as a difference between the migrated database and ``Base.metadata``, on SQLite and,
when FAIRDUN_TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from fairdun.kit.db import Base, import_all_models


def _significant(diff: Any) -> bool:
    # Type comparison is off: the custom column types (encrypted text, decimals as text,
    # UTC datetimes) are stored as their plain implementations on purpose.
    return not (isinstance(diff, tuple) and diff and diff[0] == "modify_type")


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    import_all_models()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diffs = [d for d in compare_metadata(context, Base.metadata) if _significant(d)]
    assert diffs == [], f"models and migrations differ: {diffs}"
