"""Write and check the audit trail. Callers pass the session of their unit of work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from fairdun.audit import chain, repository
from fairdun.audit import guard as _guard  # noqa: F401  (installs the refusal hooks)
from fairdun.audit.models import AuditRecord
from fairdun.identity.models import Role
from fairdun.identity.principal import Principal
from fairdun.kit.clock import utcnow
from fairdun.kit.errors import Forbidden


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str = "",
    institution_id: int | None = None,
    details: dict[str, Any] | None = None,
    decided_by: str | None = None,
    at: datetime | None = None,
) -> AuditRecord:
    """Append one record to the chain inside the caller's transaction."""
    repository.lock_chain(session)
    prev = repository.head_hash(session) or chain.GENESIS
    created_at = at or utcnow()
    encoded = chain.canonical_details(details or {})
    digest = chain.compute_hash(
        created_at=created_at,
        actor=actor,
        action=action,
        target=target,
        institution_id=institution_id,
        details=encoded,
        decided_by=decided_by,
        prev_hash=prev,
    )
    entry = AuditRecord(
        created_at=created_at,
        actor=actor,
        action=action,
        target=target,
        institution_id=institution_id,
        details=encoded,
        decided_by=decided_by,
        prev_hash=prev,
        hash=digest,
    )
    repository.add(session, entry)
    return entry


def verify(session: Session) -> chain.VerifyResult:
    return chain.verify(repository.iter_entries(session))


def visible_records(
    session: Session, actor: Principal, *, limit: int = 100, before_id: int | None = None
) -> list[AuditRecord]:
    """Cross-institution roles see the whole trail; compliance and admins their institution's."""
    if actor.role not in (
        Role.PLATFORM_ADMIN,
        Role.REGULATOR,
        Role.INSTITUTION_ADMIN,
        Role.COMPLIANCE_OFFICER,
    ):
        raise Forbidden("your role may not read the audit trail")
    return repository.list_records(
        session, institution_id=actor.scope, limit=limit, before_id=before_id
    )


def verify_for(session: Session, actor: Principal) -> chain.VerifyResult:
    if actor.role not in (Role.PLATFORM_ADMIN, Role.REGULATOR):
        raise Forbidden("only a regulator or platform administrator verifies the whole chain")
    return verify(session)
