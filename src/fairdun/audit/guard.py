"""Application-level refusal of audit updates and deletes (database triggers back it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Delete, Update, event
from sqlalchemy.orm import ORMExecuteState, Session

from fairdun.audit.models import AuditRecord


class AuditImmutable(Exception):
    pass


def _refuse(*_args: Any) -> None:
    raise AuditImmutable("audit records are append-only: update and delete are refused")


event.listen(AuditRecord, "before_update", _refuse)
event.listen(AuditRecord, "before_delete", _refuse)


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk(state: ORMExecuteState) -> None:
    statement = state.statement
    if isinstance(statement, Update | Delete):
        table = getattr(statement, "table", None)
        if getattr(table, "name", None) == AuditRecord.__tablename__:
            raise AuditImmutable("audit records are append-only: bulk update/delete refused")
