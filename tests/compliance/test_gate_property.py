"""Whatever the gate allowed and recorded replays clean (issue 4's central property).

An in-memory gate simulator: random proposed contacts, outcomes and account events go
through the gate in time order; a proposal the gate allows is recorded with a random
outcome, a denied one is dropped; account events and inbound contacts are always
recorded. Replaying the whole log through the same engine must find no violation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairdun.compliance import packs
from fairdun.compliance.engine import History, replay
from fairdun.compliance.events import (
    NO_FACTS,
    Channel,
    ContactEvent,
    Direction,
    EventKind,
    Facts,
    Outcome,
    Purpose,
    Role,
)

START = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)  # DST changes in the US a week later
PERSONS = {
    "p1": Role.DEBTOR,
    "p2": Role.DEBTOR,
    "s1": Role.SPOUSE,
    "g1": Role.GUARANTOR,
    "c1": Role.CONTACT_PERSON,
    "t1": Role.THIRD_PARTY,
    "a1": Role.ATTORNEY,
}
ZONES = ["America/New_York", "America/Los_Angeles", "Asia/Shanghai", "Europe/London", ""]
ACCOUNT_KINDS = [k for k in EventKind if k is not EventKind.CONTACT]

step = st.fixed_dictionaries(
    {
        "minutes": st.integers(0, 36 * 60),
        "kind": st.sampled_from([EventKind.CONTACT] * 6 + ACCOUNT_KINDS),
        "inbound": st.booleans(),
        "person": st.sampled_from(sorted(PERSONS)),
        "role": st.one_of(st.none(), st.sampled_from(list(Role))),
        "channel": st.sampled_from([*Channel, None]),
        "purpose": st.sampled_from(list(Purpose)),
        "collector": st.sampled_from(["c1", "c2"]),
        "creditor": st.sampled_from(["", "bank"]),
        "debt": st.sampled_from(["d1", "d2"]),
        "address": st.sampled_from(["", "+1", "+2"]),
        "zone": st.sampled_from(ZONES),
        "outcome": st.sampled_from(list(Outcome)),
        "staff": st.one_of(st.none(), st.integers(0, 3)),
        "requested": st.booleans(),
        "window": st.sampled_from(["08:00-22:30", "09:00-12:00"]),
    }
)


def simulate(pack: packs.Pack, steps: list[dict[str, object]], facts: Facts) -> list[ContactEvent]:
    """Run the steps through a gate; return the log it recorded."""
    gate = History(pack)
    log: list[ContactEvent] = []
    at = START
    for n, s in enumerate(steps):
        at += timedelta(minutes=s["minutes"])  # type: ignore[arg-type]
        person = str(s["person"])
        role = PERSONS[person] if s["role"] is None else s["role"]
        kind = s["kind"]
        event = ContactEvent(
            event_id=f"e{n}",
            occurred_at=at,
            kind=kind,  # type: ignore[arg-type]
            collector_id=str(s["collector"]),
            creditor_id=str(s["creditor"]),
            debt_id=str(s["debt"]),
            person_id=person,
            role=role,  # type: ignore[arg-type]
            channel=s["channel"],  # type: ignore[arg-type]
            direction=Direction.INBOUND if s["inbound"] else Direction.OUTBOUND,
            address=str(s["address"]),
            purpose=s["purpose"],  # type: ignore[arg-type]
            timezone=str(s["zone"]),
            staff_count=s["staff"],  # type: ignore[arg-type]
            requested_by_person=bool(s["requested"]),
            content=str(s["window"]) if kind is EventKind.CONTACT_AGREEMENT else "",
        )
        if kind is EventKind.MEDIUM_OPT_OUT and event.channel is None and not event.address:
            event = event._replace(channel=Channel.SMS)
        if kind is EventKind.CONTACT and event.direction is Direction.OUTBOUND:
            decision = gate.judge(event, facts)
            if not decision.allowed:
                continue
            event = event._replace(outcome=s["outcome"])
        elif kind is EventKind.CONTACT:
            event = event._replace(outcome=s["outcome"])
        gate.record(event)
        log.append(event)
    return log


@pytest.mark.parametrize("pack_id", ["us-regf", "cn"])
@pytest.mark.parametrize("facts", [NO_FACTS, Facts(True, True, True, True)], ids=["none", "all"])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=80))
def test_what_the_gate_allowed_replays_clean(
    pack_id: str, facts: Facts, steps: list[dict[str, object]]
) -> None:
    pack = packs.load(pack_id)
    log = simulate(pack, steps, facts)
    violations = [
        (event.event_id, decision.rules)
        for event, decision in replay(log, pack, facts)
        if not decision.allowed
    ]
    assert violations == []


def test_the_simulator_denies_and_allows_so_the_property_means_something() -> None:
    pack = packs.load("us-regf")
    steps: list[dict[str, object]] = [
        {
            "minutes": 15 * 60 if n == 0 else 10,
            "kind": EventKind.CONTACT,
            "inbound": False,
            "person": "p1",
            "role": None,
            "channel": Channel.CALL,
            "purpose": Purpose.COLLECT,
            "collector": "c1",
            "creditor": "",
            "debt": "d1",
            "address": "+1",
            "zone": "America/New_York",
            "outcome": Outcome.NO_ANSWER,
            "staff": None,
            "requested": False,
            "window": "",
        }
        for n in range(12)
    ]
    log = simulate(pack, steps, NO_FACTS)
    assert len(log) == 7  # the eighth and later calls within seven days were refused
