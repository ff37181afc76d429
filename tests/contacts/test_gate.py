"""The contact gate through its service: decisions, reservations, outcomes, fail-closed
inputs, licence and whitelist, the legal cap, contact persons and audit records."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairdun.audit.models import AuditRecord
from fairdun.compliance.events import Outcome
from fairdun.contacts import rules
from fairdun.contacts import service as contacts
from fairdun.contacts.models import ContactLogEntry, ContactPoint
from fairdun.identity.models import Role
from fairdun.identity.principal import SYSTEM
from fairdun.institutions import service as institutions
from fairdun.institutions.models import InstitutionKind, LicenceStatus
from fairdun.institutions.schemas import EngagementCreate, LicenceChangeCreate
from fairdun.kit.errors import Conflict, Forbidden, Invalid, NotFound
from fairdun.loans import service as loans
from fairdun.loans.schemas import PauseCreate, PaymentCreate
from tests.contacts.conftest import MORNING, Book, ask, minutes
from tests.factories import (
    TODAY,
    collector_of,
    lender_admin,
    make_institution,
    make_loan,
    make_party,
)


def _audits(db: Session, action: str) -> list[dict[str, object]]:
    rows = db.scalars(select(AuditRecord).where(AuditRecord.action == action)).all()
    return [json.loads(r.details) for r in rows]


# --- allowed, reserved, audited -----------------------------------------------------------


def test_a_call_to_the_debtor_in_the_morning_is_allowed_reserved_and_audited(
    db: Session, book: Book
) -> None:
    result = ask(db, book.collector, book.loan, book.debtor, book.debtor_phone, MORNING)
    assert result.decision.allowed, result.violations
    assert result.reservation is not None
    assert result.reservation.expires_at == MORNING + contacts.RESERVATION_TTL
    assert result.reservation.outcome is None
    [details] = _audits(db, "contact.allowed")
    assert details["pack"] == "cn"
    assert details["pack_version"] == "2026.1"
    assert details["rules"] == []
    assert details["reservation"] == result.reservation.reservation


def test_a_call_at_night_is_denied_with_the_rule_and_the_next_morning(
    db: Session, book: Book
) -> None:
    night = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    result = ask(db, book.collector, book.loan, book.debtor, book.debtor_phone, night)
    assert not result.decision.allowed
    assert [v.rule for v in result.violations] == ["cn.time-window"]
    assert result.decision.earliest_lawful_at == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
    assert contacts.local_time(result.decision.earliest_lawful_at, "Asia/Shanghai") == (
        "2026-12-02 08:00 Asia/Shanghai"
    )
    assert result.reservation is None
    assert db.scalar(select(ContactLogEntry)) is None
    [details] = _audits(db, "contact.denied")
    assert details["rules"] == ["cn.time-window"]
    assert details["pack_version"] == "2026.1"


# --- caps, open and expired reservations --------------------------------------------------


def test_six_dial_attempts_a_day_then_denied_until_midnight(db: Session, book: Book) -> None:
    now = MORNING
    for _ in range(6):
        result = ask(db, book.collector, book.loan, book.debtor, book.debtor_phone, now)
        assert result.decision.allowed, result.violations
        assert result.reservation is not None
        contacts.record_outcome(
            db, book.collector, str(result.reservation.reservation), Outcome.NO_ANSWER, now
        )
        db.commit()
        now += minutes(20)
    seventh = ask(db, book.collector, book.loan, book.debtor, book.debtor_phone, now)
    assert [v.rule for v in seventh.violations] == ["cn.dial-attempts-daily"]
    # Midnight ends the day's count; the calling window opens at 08:00 local.
    assert seventh.decision.earliest_lawful_at == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)


def test_open_reservations_count_as_conversations_so_dialers_cannot_overrun_the_cap(
    db: Session, book: Book
) -> None:
    for n in range(3):
        first = ask(db, book.collector, book.loan, book.debtor, book.debtor_phone, MORNING)
        assert first.decision.allowed, (n, first.violations)
    fourth = ask(db, book.collector, book.loan, book.debtor, book.debtor_phone, MORNING)
    assert "cn.voice-conversations-daily" in [v.rule for v in fourth.violations]


def test_a_reservation_that_expires_without_outcome_counts_as_a_placed_call(
    db: Session, book: Book
) -> None:
    now = MORNING
    for _ in range(6):
        result = ask(db, book.collector, book.loan, book.debtor, book.debtor_phone, now)
        assert result.decision.allowed, result.violations
        now += minutes(6)  # past the reservation's expiry: no outcome ever comes
    seventh = ask(db, book.collector, book.loan, book.debtor, book.debtor_phone, now)
    assert [v.rule for v in seventh.violations] == ["cn.dial-attempts-daily"]
    log = contacts.contact_log(db, lender_admin(book.lender), now)
    assert [e.outcome for e in log] == [Outcome.NO_ANSWER] * 6


def test_outcomes_are_recorded_once_in_time_and_fitting_the_channel(
    db: Session, book: Book
) -> None:
    result = ask(db, book.collector, book.loan, book.debtor, book.debtor_phone, MORNING)
    assert result.reservation is not None
    token = str(result.reservation.reservation)
    with pytest.raises(Invalid) as wrong:
        contacts.record_outcome(db, book.collector, token, Outcome.DELIVERED, MORNING)
    assert wrong.value.field == "outcome"
    row = contacts.record_outcome(
        db, book.collector, token, Outcome.CONVERSATION, MORNING + minutes(3)
    )
    assert row.outcome == "conversation"
    db.commit()
    with pytest.raises(Conflict):
        contacts.record_outcome(db, book.collector, token, Outcome.NO_ANSWER, MORNING)
    late = ask(db, book.collector, book.loan, book.debtor, book.debtor_phone, MORNING)
    assert late.reservation is not None
    with pytest.raises(Conflict, match="expired"):
        contacts.record_outcome(
            db,
            book.collector,
            str(late.reservation.reservation),
            Outcome.NO_ANSWER,
            MORNING + minutes(6),
        )
    other = make_institution(db, name="乙银行")
    with pytest.raises(NotFound):
        contacts.record_outcome(db, collector_of(other), token, Outcome.NO_ANSWER, MORNING)
    assert len(_audits(db, "contact.outcome_recorded")) == 1


# --- fail closed --------------------------------------------------------------------------


def _missing(result: contacts.GateResult) -> list[str]:
    return [v.message for v in result.violations if v.rule == "engine.missing-fact"]


def test_an_unknown_or_missing_time_zone_is_a_denial_naming_it(db: Session, book: Book) -> None:
    point = db.get(ContactPoint, book.debtor_phone)
    assert point is not None
    for zone in ("", "Mars/Olympus_Mons"):
        point.timezone = zone
        db.commit()
        result = ask(db, book.collector, book.loan, book.debtor, book.debtor_phone, MORNING)
        assert not result.decision.allowed
        assert any(m.startswith("timezone missing") for m in _missing(result)), result.violations


def test_an_unknown_party_channel_or_point_is_a_denial_naming_what_is_missing(
    db: Session, book: Book
) -> None:
    stranger = make_loan(db, book.lender)
    foreign_party = make_party(db, stranger)
    db.commit()
    no_party = ask(db, book.collector, book.loan, foreign_party, book.debtor_phone, MORNING)
    assert any(m.startswith("person_id missing") for m in _missing(no_party))
    no_channel = ask(
        db, book.collector, book.loan, book.debtor, book.debtor_phone, MORNING, channel="fax"
    )
    assert any("'fax' is not known" in m for m in _missing(no_channel))
    unset = ask(
        db, book.collector, book.loan, book.debtor, book.debtor_phone, MORNING, channel=None
    )
    assert any(m.startswith("channel missing") for m in _missing(unset))
    mismatch = ask(
        db, book.collector, book.loan, book.debtor, book.debtor_phone, MORNING, channel="email"
    )
    assert any(
        "a email contact needs the party's email, not its phone" in m for m in _missing(mismatch)
    )
    no_point = ask(db, book.collector, book.loan, book.debtor, None, MORNING)
    assert any(m.startswith("address missing") for m in _missing(no_point))
    for result in (no_party, no_channel, unset, mismatch, no_point):
        assert not result.decision.allowed
    assert db.scalar(select(ContactLogEntry)) is None


def test_an_unknown_policy_pack_denies_everything(db: Session, book: Book) -> None:
    book.lender.policy_pack = "atlantis"
    db.commit()
    result = ask(db, book.collector, book.loan, book.debtor, book.debtor_phone, MORNING)
    assert [v.rule for v in result.violations] == ["fairdun.policy-pack"]


# --- licence, whitelist, legal cap ---------------------------------------------------------


def test_a_suspended_or_revoked_lender_may_not_contact(db: Session, book: Book) -> None:
    for status in (LicenceStatus.SUSPENDED, LicenceStatus.REVOKED):
        institutions.change_licence(
            db, SYSTEM, book.lender.id, LicenceChangeCreate(status=status, reason="test")
        )
        db.commit()
        result = ask(db, book.collector, book.loan, book.debtor, book.debtor_phone, MORNING)
        assert "fairdun.licence" in [v.rule for v in result.violations]
        assert not result.decision.allowed


def test_an_agency_contacts_only_while_whitelisted_and_counts_against_the_lenders_caps(
    db: Session, book: Book
) -> None:
    agency = make_institution(db, name="丙催收", kind=InstitutionKind.COLLECTION_AGENCY)
    book.loan.placed_agency_id = agency.id
    db.commit()
    agent = collector_of(agency, Role.AGENCY_COLLECTOR)
    not_engaged = ask(db, agent, book.loan, book.debtor, book.debtor_phone, MORNING)
    assert [v.rule for v in not_engaged.violations] == ["fairdun.agency-whitelist"]
    link = institutions.engage_agency(
        db,
        SYSTEM,
        book.lender.id,
        EngagementCreate(agency_id=agency.id, contract_ref="WW-1", start_date=date(2026, 1, 1)),
    )
    db.commit()
    now = MORNING
    for actor in (book.collector, agent) * 3:
        result = ask(db, actor, book.loan, book.debtor, book.debtor_phone, now)
        assert result.decision.allowed, result.violations
        assert result.reservation is not None
        contacts.record_outcome(
            db, actor, str(result.reservation.reservation), Outcome.NO_ANSWER, now
        )
        db.commit()
        now += minutes(10)
    seventh = ask(db, agent, book.loan, book.debtor, book.debtor_phone, now)
    assert [v.rule for v in seventh.violations] == ["cn.dial-attempts-daily"]
    link.active = False
    db.commit()
    inactive = ask(db, agent, book.loan, book.debtor, book.debtor_phone, now)
    assert "fairdun.agency-whitelist" in [v.rule for v in inactive.violations]
    other_loan = make_loan(db, book.lender)
    db.commit()
    with pytest.raises(NotFound):
        ask(db, agent, other_loan, None, None, now)  # not placed with the agency


def test_only_collectors_propose_contacts(db: Session, book: Book) -> None:
    with pytest.raises(Forbidden):
        ask(db, lender_admin(book.lender), book.loan, book.debtor, book.debtor_phone, MORNING)


def test_demanding_more_than_the_collectable_amount_is_denied(db: Session, book: Book) -> None:
    collectable = book.loan.payoff_amount - book.loan.not_collectable
    fine = ask(
        db, book.collector, book.loan, book.debtor, book.debtor_phone, MORNING, amount=collectable
    )
    assert fine.decision.allowed, fine.violations
    too_much = ask(
        db,
        book.collector,
        book.loan,
        book.debtor,
        book.debtor_phone,
        MORNING,
        amount=collectable + 1,
    )
    assert [v.rule for v in too_much.violations] == ["fairdun.above-cap"]


def test_charges_above_the_legal_cap_are_not_collectable(db: Session) -> None:
    lender = make_institution(db, name="高息贷")
    loan = make_loan(db, lender, annual_rate="0.30")
    assert loan.not_collectable > 0
    from tests.factories import debtor_party_ids

    debtor, phone = debtor_party_ids(db, loan)
    db.commit()
    result = ask(db, collector_of(lender), loan, debtor, phone, MORNING, amount=loan.payoff_amount)
    assert [v.rule for v in result.violations] == ["fairdun.above-cap"]


def test_nothing_left_to_collect_denies_every_collection_contact(db: Session, book: Book) -> None:
    loans.record_payment(
        db,
        lender_admin(book.lender),
        book.loan.id,
        PaymentCreate(paid_date=TODAY, amount=book.loan.payoff_amount),
        today=TODAY,
    )
    db.commit()
    assert book.loan.payoff_amount == 0
    result = ask(db, book.collector, book.loan, book.debtor, book.debtor_phone, MORNING)
    assert [v.rule for v in result.violations] == ["fairdun.above-cap"]
    notice = ask(
        db,
        book.collector,
        book.loan,
        book.debtor,
        book.debtor_phone,
        MORNING,
        purpose="required_notice",
    )
    assert notice.decision.allowed, notice.violations


# --- parties ------------------------------------------------------------------------------


def _first_point(db: Session, party: int) -> int:
    point = db.scalar(select(ContactPoint.id).where(ContactPoint.party_id == party))
    assert point is not None
    return point


def _fail_debtor_calls(db: Session, book: Book, count: int, start: datetime) -> datetime:
    now = start
    for _ in range(count):
        result = ask(db, book.collector, book.loan, book.debtor, book.debtor_phone, now)
        assert result.reservation is not None, result.violations
        contacts.record_outcome(
            db, book.collector, str(result.reservation.reservation), Outcome.NO_ANSWER, now
        )
        db.commit()
        now += minutes(30)
    return now


def test_a_contact_person_only_to_locate_a_lost_debtor_with_the_fixed_message(
    db: Session, book: Book
) -> None:
    person = make_party(db, book.loan, name="赵六")
    point = _first_point(db, person)
    db.commit()
    early = ask(db, book.collector, book.loan, person, point, MORNING, purpose="locate")
    assert [v.rule for v in early.violations] == ["cn.contact-person-not-lost"]
    now = _fail_debtor_calls(db, book, 3, MORNING)
    collect = ask(db, book.collector, book.loan, person, point, now)
    assert "cn.contact-person-not-lost" in [v.rule for v in collect.violations]
    scripted = ask(
        db, book.collector, book.loan, person, point, now, purpose="locate", text="你朋友欠钱"
    )
    # Both the fixed-message rule and the content checker (debt information to a contact
    # person is a third-party disclosure) deny it.
    rules_fired = [v.rule for v in scripted.violations]
    assert rules_fired[0] == "fairdun.contact-person-message"
    assert set(rules_fired[1:]) == {"fairdun.content"}
    assert "third-party-disclosure" in {f.category for f in scripted.findings}
    locate = ask(db, book.collector, book.loan, person, point, now, purpose="locate")
    assert locate.decision.allowed, locate.violations
    assert locate.message is not None
    for word in ("欠", "逾期", "贷款", "催收", "银行", "元"):
        assert word not in locate.message
    assert "回电" in locate.message


def test_a_guarantor_with_a_contract_may_be_asked_to_pay(db: Session, book: Book) -> None:
    guarantor = make_party(db, book.loan, role="guarantor", name="钱七", phone="+86 100 0000 0002")
    result = ask(db, book.collector, book.loan, guarantor, _first_point(db, guarantor), MORNING)
    assert result.decision.allowed, result.violations


def test_a_refusing_contact_person_is_never_contacted_again(db: Session, book: Book) -> None:
    from fairdun.contacts.schemas import AccountEventCreate

    person = make_party(db, book.loan, name="孙八")
    point = _first_point(db, person)
    now = _fail_debtor_calls(db, book, 3, MORNING)
    assert ask(db, book.collector, book.loan, person, point, now, purpose="locate").decision.allowed
    contacts.record_account_event(
        db,
        book.collector,
        book.loan.id,
        AccountEventCreate(kind="contact_refused", party_id=person),
        now + minutes(10),
    )
    db.commit()
    again = ask(db, book.collector, book.loan, person, point, now + minutes(20), purpose="locate")
    assert "cn.contact-person-refused" in [v.rule for v in again.violations]


def test_an_agreement_on_hours_moves_the_calling_window(db: Session, book: Book) -> None:
    from fairdun.contacts.schemas import AccountEventCreate

    late = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    assert not ask(
        db, book.collector, book.loan, book.debtor, book.debtor_phone, late
    ).decision.allowed
    contacts.record_account_event(
        db,
        book.collector,
        book.loan.id,
        AccountEventCreate(kind="contact_agreement", party_id=book.debtor, window="09:00-23:00"),
        MORNING,
    )
    db.commit()
    result = ask(db, book.collector, book.loan, book.debtor, book.debtor_phone, late)
    assert result.decision.allowed, result.violations


def test_sources_without_a_lawful_basis_are_refused_with_the_reason() -> None:
    for source in rules.REFUSED_SOURCES:
        with pytest.raises(ValueError, match="not a lawful source"):
            rules.check_source(source)
    with pytest.raises(ValueError, match="通讯录"):
        rules.check_source("device_address_book")
    with pytest.raises(ValueError, match="unknown source"):
        rules.check_source("friend_said_so")
    assert rules.check_source("court_record").value == "court_record"


def test_a_dispute_pause_on_the_ledger_stops_collection_while_it_lasts(
    db: Session, book: Book
) -> None:
    """A dispute recorded as a delinquency pause stops collection contacts under every
    pack (the cn pack has no dispute rule of its own); a locating contact is not collection,
    and once the pause has ended collection may resume."""
    day = MORNING.date()
    loans.pause_delinquency(
        db,
        lender_admin(book.lender),
        book.loan.id,
        PauseCreate(start_date=day, end_date=date(2026, 12, 3), reason="dispute"),
        today=day,
    )
    db.commit()
    during = ask(db, book.collector, book.loan, book.debtor, book.debtor_phone, MORNING)
    assert [v.rule for v in during.violations] == ["fairdun.ledger-dispute"]
    assert during.decision.earliest_lawful_at is None
    after = ask(
        db,
        book.collector,
        book.loan,
        book.debtor,
        book.debtor_phone,
        datetime(2026, 12, 3, 2, 0, tzinfo=UTC),
    )
    assert after.decision.allowed, after.violations


def test_a_hardship_pause_does_not_stop_contact(db: Session, book: Book) -> None:
    day = MORNING.date()
    loans.pause_delinquency(
        db,
        lender_admin(book.lender),
        book.loan.id,
        PauseCreate(start_date=day, reason="hardship"),
        today=day,
    )
    db.commit()
    result = ask(db, book.collector, book.loan, book.debtor, book.debtor_phone, MORNING)
    assert result.decision.allowed, result.violations
