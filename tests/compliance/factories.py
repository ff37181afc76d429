"""Typed factories for contact events with deterministic defaults."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fairdun.compliance.events import (
    Channel,
    ContactEvent,
    Direction,
    EventKind,
    Outcome,
    Purpose,
    Role,
)


def contact(at: str, event_id: str = "e1", **values: Any) -> ContactEvent:
    """An outbound collection call to debtor p1 about debt d1 by collector c1 (New York)."""
    base: dict[str, Any] = {
        "kind": EventKind.CONTACT,
        "collector_id": "c1",
        "debt_id": "d1",
        "person_id": "p1",
        "role": Role.DEBTOR,
        "channel": Channel.CALL,
        "direction": Direction.OUTBOUND,
        "address": "+12125550101",
        "purpose": Purpose.COLLECT,
        "timezone": "America/New_York",
    }
    base.update(values)
    return ContactEvent(event_id=event_id, occurred_at=datetime.fromisoformat(at), **base)


def account(kind: EventKind, at: str, event_id: str = "a1", **values: Any) -> ContactEvent:
    return contact(at, event_id, kind=kind, channel=None, **values)


__all__ = ["Outcome", "account", "contact"]
