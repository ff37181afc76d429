"""Pure hash-chain arithmetic: canonical encoding, record hash, chain verification."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True)
class Entry:
    id: int
    created_at: datetime
    actor: str
    action: str
    target: str
    institution_id: int | None
    details: str
    decided_by: str | None
    prev_hash: str
    hash: str


def canonical_details(details: dict[str, Any]) -> str:
    return json.dumps(
        details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def compute_hash(
    *,
    created_at: datetime,
    actor: str,
    action: str,
    target: str,
    institution_id: int | None,
    details: str,
    decided_by: str | None,
    prev_hash: str,
) -> str:
    body = {
        "created_at": created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "target": target,
        "institution_id": institution_id,
        "details": details,
        "decided_by": decided_by,
        "prev_hash": prev_hash,
    }
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    broken_id: int | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.broken_id is None


def verify(entries: Iterable[Entry]) -> VerifyResult:
    """Walk records in id order; name the first whose link or hash does not hold."""
    expected_prev = GENESIS
    checked = 0
    for entry in entries:
        if entry.prev_hash != expected_prev:
            return VerifyResult(
                checked, entry.id, "previous-hash link broken (record removed or reordered)"
            )
        recomputed = compute_hash(
            created_at=entry.created_at,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            institution_id=entry.institution_id,
            details=entry.details,
            decided_by=entry.decided_by,
            prev_hash=entry.prev_hash,
        )
        if recomputed != entry.hash:
            return VerifyResult(
                checked, entry.id, "content does not match its hash (record altered)"
            )
        expected_prev = entry.hash
        checked += 1
    return VerifyResult(checked, None, None)
