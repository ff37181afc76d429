"""Re-encrypt personal data under the active key (``fairdun keys rotate``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import String, column, select, table, update
from sqlalchemy.orm import Session

from fairdun.kit import crypto
from fairdun.kit.db import encrypted_columns, import_all_models


@dataclass(frozen=True)
class RotationReport:
    scanned: int
    rotated: int
    by_column: dict[str, int]


def count_values(session: Session) -> int:
    import_all_models()
    total = 0
    for table_name, column_name, _ctx in encrypted_columns():
        t = table(table_name, column("id"), column(column_name, String))
        total += len(session.execute(select(t.c.id).where(t.c[column_name].is_not(None))).all())
    return total


def rotate(
    session: Session, progress: Callable[[int], None] | None = None, batch: int = 500
) -> RotationReport:
    """Decrypt every value not under the active key and encrypt it again under it. Flushes only."""
    import_all_models()
    ring = crypto.keyring()
    scanned = rotated = 0
    by_column: dict[str, int] = {}
    for table_name, column_name, context in encrypted_columns():
        t = table(table_name, column("id"), column(column_name, String))
        last_id = 0
        changed = 0
        while True:
            rows = session.execute(
                select(t.c.id, t.c[column_name])
                .where(t.c.id > last_id, t.c[column_name].is_not(None))
                .order_by(t.c.id)
                .limit(batch)
            ).all()
            if not rows:
                break
            for row_id, stored in rows:
                scanned += 1
                if ring.key_id_of(stored) != ring.active_key_id:
                    fresh = ring.encrypt(ring.decrypt(stored, context), context)
                    session.execute(update(t).where(t.c.id == row_id).values({column_name: fresh}))
                    changed += 1
            last_id = rows[-1][0]
            if progress:
                progress(len(rows))
        by_column[f"{table_name}.{column_name}"] = changed
        rotated += changed
    return RotationReport(scanned, rotated, by_column)
