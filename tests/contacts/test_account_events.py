"""Account events change what the gate allows from then on. The us-regf pack has the
cease, dispute and attorney rules; the cn pack has refusals and agreed hours (test_gate)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from fairdun.compliance import packs
from fairdun.compliance.engine import replay
from fairdun.compliance.events import EventKind, Facts
from fairdun.contacts import service as contacts
from fairdun.contacts.schemas import AccountEventCreate, PointCreate
from fairdun.identity.principal import Principal
from fairdun.kit.errors import Forbidden, Invalid
from fairdun.loans.models import Loan
from tests.contacts.conftest import ask, minutes
from tests.factories import (
    collector_of,
    debtor_party_ids,
    lender_admin,
    make_borrower,
    make_institution,
    make_loan,
)

# 10:00 in New York.
NY_MORNING = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def _us_book(db: Session) -> tuple[Loan, Principal, int, int]:
    lender = make_institution(db, name="Acme Bank")
    lender.policy_pack = "us-regf"
    borrower = make_borrower(db, lender, name="John Doe")
    loan = make_loan(db, lender, borrower=borrower)
    debtor, _from_loan_record = debtor_party_ids(db, loan)
    point = contacts.add_point(
        db,
        lender_admin(lender),
        debtor,
        PointCreate(
            kind="phone",  # type: ignore[arg-type]
            value="+1 212 555 0100",
            source="borrower_provided",
            timezone="America/New_York",
        ),
        NY_MORNING,
    )
    db.commit()
    return loan, collector_of(lender), debtor, point.id


def _event(db: Session, actor: Principal, loan: Loan, at: datetime, **fields: object) -> None:
    contacts.record_account_event(db, actor, loan.id, AccountEventCreate(**fields), at)  # type: ignore[arg-type]
    db.commit()


def test_a_us_point_without_a_zone_is_denied_until_one_is_set(db: Session) -> None:
    loan, collector, debtor, _point = _us_book(db)
    _party, unzoned = debtor_party_ids(db, loan)  # from the loan record: no US default zone
    result = ask(db, collector, loan, debtor, unzoned, NY_MORNING)
    assert "engine.missing-fact" in [v.rule for v in result.violations]


@pytest.mark.parametrize(
    ("kind", "rule"),
    [
        ("cease_request", "us-regf.cease"),
        ("dispute_opened", "us-regf.dispute-pause"),
        ("attorney_retained", "us-regf.attorney"),
    ],
)
def test_an_account_event_stops_collection_calls(db: Session, kind: str, rule: str) -> None:
    loan, collector, debtor, point = _us_book(db)
    assert ask(db, collector, loan, debtor, point, NY_MORNING).decision.allowed
    _event(db, collector, loan, NY_MORNING + minutes(1), kind=kind)
    later = NY_MORNING + minutes(10)
    result = ask(db, collector, loan, debtor, point, later)
    assert rule in [v.rule for v in result.violations]
    assert result.decision.earliest_lawful_at is None  # waiting does not help


def test_a_resolved_dispute_lets_collection_resume(db: Session) -> None:
    loan, collector, debtor, point = _us_book(db)
    _event(db, collector, loan, NY_MORNING, kind="dispute_opened")
    assert not ask(db, collector, loan, debtor, point, NY_MORNING + minutes(1)).decision.allowed
    _event(db, collector, loan, NY_MORNING + minutes(2), kind="dispute_resolved")
    resumed = ask(db, collector, loan, debtor, point, NY_MORNING + minutes(3))
    assert resumed.decision.allowed, resumed.violations


def test_a_cease_request_binds_the_agency_holding_the_debt(db: Session) -> None:
    from datetime import date

    from fairdun.identity.models import Role
    from fairdun.identity.principal import SYSTEM
    from fairdun.institutions import service as institutions
    from fairdun.institutions.models import Institution, InstitutionKind
    from fairdun.institutions.schemas import EngagementCreate

    loan, collector, debtor, point = _us_book(db)
    agency = make_institution(db, name="Recovery LLC", kind=InstitutionKind.COLLECTION_AGENCY)
    lender = db.get(Institution, loan.institution_id)
    assert lender is not None
    institutions.engage_agency(
        db,
        SYSTEM,
        lender.id,
        EngagementCreate(agency_id=agency.id, contract_ref="C-1", start_date=date(2026, 1, 1)),
    )
    loan.placed_agency_id = agency.id
    db.commit()
    agent = collector_of(agency, Role.AGENCY_COLLECTOR)
    _event(db, collector, loan, NY_MORNING, kind="cease_request")  # told to the lender
    result = ask(db, agent, loan, debtor, point, NY_MORNING + minutes(5))
    assert "us-regf.cease" in [v.rule for v in result.violations]


def test_account_event_input_is_checked(db: Session) -> None:
    loan, collector, _debtor, _point = _us_book(db)
    other = make_loan(db, make_institution(db))
    other_debtor, _ = debtor_party_ids(db, other)
    with pytest.raises(Invalid) as bad:
        _event(db, collector, loan, NY_MORNING, kind="contact_refused", party_id=other_debtor)
    assert bad.value.field == "party_id"
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="party_id"):
        AccountEventCreate(kind="contact_refused")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="window"):
        AccountEventCreate(kind="contact_agreement", party_id=1, window="25:00-26:00")  # type: ignore[arg-type]
    from fairdun.identity.models import Role

    analyst = Principal(role=Role.RISK_ANALYST, institution_id=loan.institution_id)
    with pytest.raises(Forbidden):
        _event(db, analyst, loan, NY_MORNING, kind="cease_request")


def test_the_exported_log_replays_with_the_account_events(db: Session) -> None:

    loan, collector, debtor, point = _us_book(db)
    assert ask(db, collector, loan, debtor, point, NY_MORNING).decision.allowed
    _event(db, collector, loan, NY_MORNING + minutes(10), kind="cease_request")
    log = contacts.contact_log(
        db,
        lender_admin(db.get(type(make_institution(db)), loan.institution_id)),
        NY_MORNING + minutes(30),
    )  # type: ignore[arg-type]
    kinds = [e.kind for e in log]
    assert kinds == [EventKind.CONTACT, EventKind.CEASE_REQUEST]
    pack = packs.load("us-regf")
    assert all(d.allowed for _e, d in replay(log, pack, Facts(party_has_contract_reference=True)))
