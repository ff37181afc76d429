"""Whatever the gate allowed and recorded replays clean through the same engine.

Random proposals from a lender's collector and its agency, random outcomes (or none, so the
reservation expires), and random account events go through the real service and database;
the lender's exported log is then replayed with ``compliance.engine.replay`` and the same
pack. No event may be a violation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairdun.compliance import packs
from fairdun.compliance.engine import replay
from fairdun.compliance.events import Facts, Outcome
from fairdun.contacts import rules
from fairdun.contacts import service as contacts
from fairdun.contacts.models import ContactPoint
from fairdun.contacts.schemas import AccountEventCreate, AuthorizeCreate, PointCreate
from fairdun.identity.models import Role
from fairdun.identity.principal import SYSTEM, Principal
from fairdun.institutions import service as institutions
from fairdun.institutions.models import InstitutionKind
from fairdun.institutions.schemas import EngagementCreate
from fairdun.kit.errors import Conflict, Invalid
from fairdun.loans.models import Loan
from tests.factories import (
    collector_of,
    debtor_party_ids,
    lender_admin,
    make_borrower,
    make_institution,
    make_loan,
    make_party,
)

START = {
    "cn": datetime(2026, 12, 1, 0, 0, tzinfo=UTC),
    "us-regf": datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
}
ZONE = {"cn": "Asia/Shanghai", "us-regf": "America/New_York"}
CHANNELS = ["call", "call", "call", "sms", "email", "visit", "fax"]
ACCOUNT_KINDS = [
    "cease_request",
    "dispute_opened",
    "dispute_resolved",
    "attorney_retained",
    "medium_opt_out",
    "call_consent",
    "contact_refused",
    "contact_agreement",
]


@dataclass
class Target:
    loan: Loan
    party: int
    points: dict[str, int]  # kind -> point id


@dataclass
class World:
    pack: packs.Pack
    lender_collector: Principal
    agent: Principal
    compliance: Principal
    targets: list[Target]


def _world(db: Session, pack_id: str) -> World:
    lender = make_institution(db)
    lender.policy_pack = pack_id
    agency = make_institution(db, kind=InstitutionKind.COLLECTION_AGENCY)
    institutions.engage_agency(
        db,
        SYSTEM,
        lender.id,
        EngagementCreate(agency_id=agency.id, contract_ref="C", start_date=date(2026, 1, 1)),
    )
    borrower = make_borrower(db, lender)
    loans = [make_loan(db, lender, borrower=borrower) for _ in range(2)]
    loans[1].placed_agency_id = agency.id
    admin = lender_admin(lender)
    zone = ZONE[pack_id]
    targets = []
    for loan in loans:
        debtor, loan_phone = debtor_party_ids(db, loan)
        own = {} if pack_id == "us-regf" else {"phone": loan_phone}
        for kind, value in (
            ("phone", "+1 212 555 0100"),
            ("email", "debtor@example.com"),
            ("address", "示范市示范路1号"),
        ):
            if kind in own:
                continue
            point = contacts.add_point(
                db,
                admin,
                debtor,
                PointCreate(kind=kind, value=value, source="borrower_provided", timezone=zone),  # type: ignore[arg-type]
                START[pack_id],
            )
            own[kind] = point.id
        targets.append(Target(loan, debtor, own))
        for role, phone in (
            ("guarantor", "+86 100 0000 0101"),
            ("contact_person", "+86 100 0000 0102"),
        ):
            party = make_party(db, loan, role=role, phone=phone, timezone=zone)
            point_id = db.scalar(select(ContactPoint.id).where(ContactPoint.party_id == party))
            assert point_id is not None
            targets.append(Target(loan, party, {"phone": point_id}))
    db.commit()
    return World(
        pack=packs.load(pack_id),
        lender_collector=collector_of(lender),
        agent=collector_of(agency, Role.AGENCY_COLLECTOR),
        compliance=Principal(role=Role.COMPLIANCE_OFFICER, institution_id=lender.id),
        targets=targets,
    )


step = st.fixed_dictionaries(
    {
        "minutes": st.one_of(st.integers(0, 2), st.integers(0, 2), st.integers(0, 9 * 60)),
        "settle": st.booleans(),
        "repeat": st.integers(1, 5),  # dialers asking at the same instant
        "action": st.sampled_from(["propose"] * 5 + ["event"]),
        "target": st.sampled_from([0, 0, 0, 1, 2, 3, 4, 5]),
        "agent": st.booleans(),
        "channel": st.sampled_from(CHANNELS),
        "purpose": st.sampled_from(["collect", "collect", "locate", "required_notice", "response"]),
        "outcome": st.one_of(
            st.none(), st.just(Outcome.CONVERSATION), st.sampled_from(list(Outcome))
        ),
        "kind": st.sampled_from(ACCOUNT_KINDS),
        "window": st.sampled_from(["07:00-23:00", "09:00-12:00"]),
        "staff": st.one_of(st.none(), st.integers(1, 3)),
    }
)


def simulate(
    db: Session, world: World, steps: list[dict[str, object]], start: datetime
) -> tuple[int, int, datetime]:
    """Run the steps through the gate and the database; count allowed and denied."""
    allowed = denied = 0
    now = start
    pending: list[tuple[Principal, str, Outcome]] = []
    for s in steps:
        now += timedelta(minutes=int(s["minutes"]))  # type: ignore[call-overload]
        target = world.targets[int(s["target"])]  # type: ignore[call-overload]
        by_agency = bool(s["agent"]) and target.loan.placed_agency_id is not None
        actor = world.agent if by_agency else world.lender_collector
        channel = str(s["channel"])
        kind = rules.POINT_FOR_CHANNEL.get(channel, "phone")  # type: ignore[call-overload]
        point = target.points.get(kind)
        for _ in range(int(s["repeat"]) if s["action"] == "propose" else 0):  # type: ignore[call-overload]
            result = contacts.authorize(
                db,
                actor,
                AuthorizeCreate(
                    loan_id=target.loan.id,
                    party_id=target.party,
                    point_id=point,
                    channel=channel,
                    purpose=s["purpose"],  # type: ignore[arg-type]
                    staff_count=s["staff"],  # type: ignore[arg-type]
                ),
                now,
            )
            db.commit()
            if result.decision.allowed:
                allowed += 1
                assert result.reservation is not None
                if s["outcome"] is not None:
                    token = str(result.reservation.reservation)
                    pending.append((actor, token, s["outcome"]))  # type: ignore[arg-type]
            else:
                denied += 1
        if s["action"] == "event":
            event_kind = str(s["kind"])
            fields: dict[str, object] = {"kind": event_kind, "party_id": target.party}
            if event_kind == "medium_opt_out":
                fields["channel"] = channel if channel != "fax" else "sms"
            if event_kind == "contact_agreement":
                fields["window"] = s["window"]
            contacts.record_account_event(
                db,
                world.lender_collector,
                target.loan.id,
                AccountEventCreate(**fields),
                now,  # type: ignore[arg-type]
            )
            db.commit()
        if s["settle"]:
            # Outcomes come in later than the proposals, some after their reservation
            # expired (refused: the call then counts as unanswered).
            for who, token, outcome in pending:
                try:
                    contacts.record_outcome(db, who, token, outcome, now)
                    db.commit()
                except (Invalid, Conflict):
                    db.rollback()
            pending.clear()
    return allowed, denied, now


@pytest.mark.parametrize("pack_id", ["cn", "us-regf"])
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_what_the_gate_allowed_and_recorded_replays_clean(
    db: Session, pack_id: str, steps: list[dict[str, object]]
) -> None:
    world = _world(db, pack_id)
    _allowed, _denied, end = simulate(db, world, steps, START[pack_id])
    log = contacts.contact_log(db, world.compliance, end + timedelta(minutes=10))
    violations = [
        (event.event_id, decision.rules)
        for event, decision in replay(log, world.pack, Facts(party_has_contract_reference=True))
        if not decision.allowed
    ]
    assert violations == []


def test_the_simulation_both_allows_and_denies_so_the_property_means_something(
    db: Session,
) -> None:
    world = _world(db, "cn")
    calls: list[dict[str, object]] = [
        {
            "minutes": 120 if n == 0 else 10,
            "settle": True,
            "repeat": 1,
            "action": "propose",
            "target": 0,
            "agent": n % 2 == 1,
            "channel": "call",
            "purpose": "collect",
            "outcome": Outcome.NO_ANSWER,
            "kind": "",
            "window": "",
            "staff": None,
        }
        for n in range(9)
    ]
    allowed, denied, end = simulate(db, world, calls, START["cn"])
    assert (allowed, denied) == (6, 3)
    log = contacts.contact_log(db, world.compliance, end)
    assert len(log) == 6
    assert all(d.allowed for _e, d in replay(log, world.pack, Facts(True)))
