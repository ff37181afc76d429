"""Use cases of the contact gate: parties and points, authorize, outcomes, account events,
and the third-party shield. Never commits: the caller's unit of work does.

The gate (:func:`authorize`) runs the same pure engine as the audit replay
(``fairdun.compliance.engine``) over the debtor's stored log, plus the checks only the
platform can make (licence, agency whitelist, legal cap, parties, the shield). See
docs/gate.md for every decision taken here.
"""

from __future__ import annotations

import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fairdun.audit import service as audit
from fairdun.complaints.gate import RULE_HOLD, holding_complaints
from fairdun.compliance import packs
from fairdun.compliance.engine import History
from fairdun.compliance.events import (
    Channel,
    ContactEvent,
    Direction,
    Facts,
    Outcome,
    Purpose,
    Role,
)
from fairdun.compliance.events import EventKind as EngineKind
from fairdun.compliance.rules import Violation, missing_fact
from fairdun.contacts import repository, rules
from fairdun.contacts.content_gate import text_violations
from fairdun.contacts.models import (
    ContactDecision,
    ContactLogEntry,
    ContactParty,
    ContactPoint,
    EventKind,
    PartyRole,
    PointKind,
    PointSource,
    ShieldedNumber,
    ShieldVerification,
)
from fairdun.contacts.schemas import AccountEventCreate, AuthorizeCreate, PartyCreate, PointCreate
from fairdun.content.types import Finding
from fairdun.identity.models import Role as UserRole
from fairdun.identity.principal import Principal
from fairdun.institutions import service as institutions
from fairdun.institutions.models import Institution
from fairdun.kit import crypto
from fairdun.kit.errors import Conflict, Forbidden, Invalid, NotFound, Throttled
from fairdun.loans import repository as loans_repo
from fairdun.loans.models import Borrower, DelinquencyPause, Loan
from fairdun.outbox import service as outbox
from fairdun.outbox.models import OutboxChannel

# Who may do what (checked after the loan is found in the caller's scope: 404 first).
GATE_ROLES = frozenset({UserRole.COLLECTOR, UserRole.AGENCY_COLLECTOR})
EVENT_ROLES = frozenset(
    {
        UserRole.COLLECTOR,
        UserRole.AGENCY_COLLECTOR,
        UserRole.COMPLIANCE_OFFICER,
        UserRole.INSTITUTION_ADMIN,
    }
)
PARTY_ROLES = EVENT_ROLES

RESERVATION_TTL = timedelta(minutes=5)
# The shipped packs' rules look back at most 7 local days; 9 days covers every time zone.
LOOKBACK = timedelta(days=9)

# Per pack: the zone a new point gets when none is given (empty: unknown, so the gate
# denies until one is set), and the country code of a national phone number.
DEFAULT_ZONE = {"cn": "Asia/Shanghai"}
DEFAULT_COUNTRY = {"cn": "86", "us-regf": "1"}

# Rule ids of the checks the gate makes beyond the pack.
RULE_PACK = "fairdun.policy-pack"
RULE_LICENCE = "fairdun.licence"
RULE_WHITELIST = "fairdun.agency-whitelist"
RULE_ABOVE_CAP = "fairdun.above-cap"
RULE_SHIELD = "fairdun.third-party-shield"
RULE_CONTACT_PERSON_TEXT = "fairdun.contact-person-message"
RULE_LEDGER_DISPUTE = "fairdun.ledger-dispute"
RULE_COMPLAINT_HOLD = RULE_HOLD  # "fairdun.complaint-hold"


# --- engine identifiers -------------------------------------------------------------------


def inst_key(institution_id: int) -> str:
    return f"inst:{institution_id}"


def debt_key(loan_id: int) -> str:
    return f"loan:{loan_id}"


def person_key(role: str | None, borrower_id: int, party_id: int | None) -> str:
    """The debtor is one person across all their loans at the lender (the daily caps count
    per debtor); any other party is the person recorded on that loan."""
    if role in (None, PartyRole.DEBTOR) or party_id is None:
        return f"borrower:{borrower_id}"
    return f"party:{party_id}"


@cache
def _builtin_pack(pack_id: str) -> packs.Pack:
    return packs.load(pack_id)


def pack_for(lender: Institution) -> packs.Pack | None:
    """The lender's pack, loaded once per process; None if the name is not a shipped pack
    (the gate then denies: fail closed)."""
    if lender.policy_pack not in packs.builtin_pack_ids():
        return None
    return _builtin_pack(lender.policy_pack)


def shield_hash(phone: str) -> str:
    return crypto.keyring().blind_index(phone, "shield.phone")


# --- loans, parties and points ------------------------------------------------------------


def get_loan(session: Session, actor: Principal, loan_id: int) -> Loan:
    loan = loans_repo.loan(session, actor, loan_id)
    if loan is None:
        raise NotFound("no such loan")
    return loan


def _lender(session: Session, loan: Loan) -> Institution:
    lender = session.get(Institution, loan.institution_id)
    assert lender is not None
    return lender


def ensure_debtor_party(session: Session, loan: Loan) -> ContactParty:
    """The loan's debtor party, made from its borrower the first time it is needed, with the
    borrower's phone and e-mail from the loan record (source: the loan contract)."""
    found = repository.debtor_party(session, loan.id)
    if found is not None:
        return found
    repository.lock_debtor(session, loan.borrower_id, None)
    found = repository.debtor_party(session, loan.id)
    if found is not None:
        return found
    borrower = session.get(Borrower, loan.borrower_id)
    assert borrower is not None
    party = ContactParty(
        institution_id=loan.institution_id,
        loan_id=loan.id,
        role=PartyRole.DEBTOR,
        name=borrower.name,
        debtor_loan_id=loan.id,
        borrower_id=borrower.id,
        created_by="system",
    )
    session.add(party)
    session.flush()
    lender = _lender(session, loan)
    pack_id = lender.policy_pack
    country = DEFAULT_COUNTRY.get(pack_id, "86")
    for kind, value in ((PointKind.PHONE, borrower.phone), (PointKind.EMAIL, borrower.email)):
        if not value:
            continue
        try:
            normal = rules.normalise(kind, value, country)
        except ValueError:
            continue  # a malformed number on the loan record is simply not offered
        _insert_point(
            session,
            party,
            kind,
            normal,
            PointSource.LOAN_CONTRACT,
            DEFAULT_ZONE.get(pack_id, ""),
            "system",
        )
    return party


def _insert_point(
    session: Session,
    party: ContactParty,
    kind: PointKind,
    value: str,
    source: PointSource,
    timezone: str,
    actor: str,
) -> ContactPoint:
    point = ContactPoint(
        institution_id=party.institution_id,
        party_id=party.id,
        kind=kind,
        value=value,
        value_index=crypto.keyring().blind_index(value, "contact_points.value"),
        source=source,
        timezone=timezone,
        created_by=actor,
    )
    session.add(point)
    session.flush()
    return point


@dataclass(frozen=True)
class PartyView:
    party: ContactParty
    points: list[ContactPoint]


def list_parties(session: Session, actor: Principal, loan_id: int) -> list[PartyView]:
    loan = get_loan(session, actor, loan_id)
    if actor.role not in EVENT_ROLES and actor.role is not UserRole.REGULATOR:
        raise Forbidden("your role does not see a loan's contact parties")
    ensure_debtor_party(session, loan)
    found = repository.parties(session, loan.id)
    by_party: dict[int, list[ContactPoint]] = {p.id: [] for p in found}
    for point in repository.points(session, list(by_party)):
        by_party[point.party_id].append(point)
    return [PartyView(p, by_party[p.id]) for p in found]


def add_party(
    session: Session, actor: Principal, loan_id: int, data: PartyCreate, now: datetime
) -> PartyView:
    loan = get_loan(session, actor, loan_id)
    if actor.role not in PARTY_ROLES:
        raise Forbidden("your role does not record parties")
    role = PartyRole(data.role)
    party = ContactParty(
        institution_id=loan.institution_id,
        loan_id=loan.id,
        role=role,
        name=data.name,
        contract_reference=data.contract_reference,
        lawful_basis=data.lawful_basis,
        basis_date=data.basis_date,
        designated_by="borrower" if role is PartyRole.CONTACT_PERSON else None,
        created_by=actor.actor,
        created_at=now,
    )
    session.add(party)
    session.flush()
    points = [_add_point(session, actor, party, data.point, now)] if data.point else []
    audit.record(
        session,
        actor=actor.actor,
        action="contact.party_added",
        target=f"party:{party.id}",
        institution_id=loan.institution_id,
        details={"loan_id": loan.id, "role": role.value, "lawful_basis": data.lawful_basis},
        at=now,
    )
    return PartyView(party, points)


def add_point(
    session: Session, actor: Principal, party_id: int, data: PointCreate, now: datetime
) -> ContactPoint:
    party = repository.visible_party(session, actor, party_id)
    if party is None:
        raise NotFound("no such party")
    if actor.role not in PARTY_ROLES:
        raise Forbidden("your role does not record contact points")
    return _add_point(session, actor, party, data, now)


def _add_point(
    session: Session, actor: Principal, party: ContactParty, data: PointCreate, now: datetime
) -> ContactPoint:
    try:
        source = rules.check_source(data.source)  # the schema checked it too; never trust one door
    except ValueError as exc:
        raise Invalid("source", str(exc)) from None
    lender = session.get(Institution, party.institution_id)
    assert lender is not None
    try:
        value = rules.normalise(
            data.kind, data.value, DEFAULT_COUNTRY.get(lender.policy_pack, "86")
        )
    except ValueError as exc:
        raise Invalid("value", str(exc)) from None
    index = crypto.keyring().blind_index(value, "contact_points.value")
    if repository.point_by_index(session, party.id, index) is not None:
        raise Conflict("this party already has this contact point")
    zone = data.timezone if data.timezone is not None else DEFAULT_ZONE.get(lender.policy_pack, "")
    point = _insert_point(session, party, data.kind, value, source, zone, actor.actor)
    audit.record(
        session,
        actor=actor.actor,
        action="contact.point_added",
        target=f"point:{point.id}",
        institution_id=party.institution_id,
        details={"party_id": party.id, "kind": data.kind.value, "source": source.value},
        at=now,
    )
    return point


# --- the contact log as engine events -----------------------------------------------------


def to_events(row: ContactLogEntry, now: datetime, *, pending_as_worst: bool) -> list[ContactEvent]:
    """One stored row as the engine's events.

    A contact whose reservation expired without an outcome counts as placed (no answer, or
    a message sent). One still open is, for the gate, assumed to have the outcome that
    restricts most (``pending_as_worst``); an export leaves its outcome empty.
    An account event binds every collector named in ``applies_to``: one event each.
    """
    person = person_key(row.role, row.borrower_id, row.party_id)
    channel = Channel(row.channel) if row.channel else None
    base = ContactEvent(
        event_id=row.reservation or f"event:{row.id}",
        occurred_at=row.occurred_at,
        kind=EngineKind(row.kind),
        collector_id=inst_key(row.collector_institution_id),
        creditor_id=inst_key(row.institution_id),
        debt_id=debt_key(row.loan_id),
        person_id=person,
        role=Role(row.role) if row.role else None,
        channel=channel,
        direction=Direction(row.direction),
        address=row.address_index or "",
        purpose=Purpose(row.purpose),
        timezone=row.timezone,
        staff_count=row.staff_count,
        content=row.content,
    )
    if row.kind == EventKind.CONTACT:
        outcome: Outcome | None = Outcome(row.outcome) if row.outcome else None
        if outcome is None and channel is not None:
            if row.expires_at is not None and row.expires_at <= now:
                outcome = rules.unreported_outcome(channel)
            elif pending_as_worst:
                outcome = rules.worst_outcome(channel)
        return [base._replace(outcome=outcome)]
    collectors = row.applies_to.split() or [base.collector_id]
    return [base._replace(collector_id=c, event_id=f"{base.event_id}/{c}") for c in collectors]


def contact_log(
    session: Session, actor: Principal, now: datetime, loan_id: int | None = None
) -> list[ContactEvent]:
    """The contact log of the actor's lender (or of one loan) as engine events, in time
    order: what ``fairdun audit check`` replays."""
    if actor.role not in (UserRole.COMPLIANCE_OFFICER, UserRole.INSTITUTION_ADMIN):
        raise Forbidden("only compliance or the institution's administrator exports the log")
    if actor.scope is None or actor.institution_id is None:
        raise Forbidden("the log is exported per lender")
    if loan_id is not None:
        get_loan(session, actor, loan_id)
    events: list[ContactEvent] = []
    for row in repository.log(session, actor.institution_id, loan_id):
        events.extend(to_events(row, now, pending_as_worst=False))
    return events


# --- the gate -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GateResult:
    decision: ContactDecision
    violations: tuple[Violation, ...]
    reservation: ContactLogEntry | None
    party: ContactParty | None
    message: str | None
    findings: tuple[Finding, ...] = ()  # the content checker's, for the agent's free text


def _channel(value: str | None) -> Channel | Violation:
    if not value:
        return missing_fact("channel", "the contact channel is not given.", "未提供联系渠道。")
    try:
        return Channel(value)
    except ValueError:
        return missing_fact(
            "channel",
            f"the channel {value!r} is not known; one of {', '.join(Channel)}.",
            f"联系渠道{value!r}未知。",
        )


def _licence_violation(session: Session, actor: Principal, loan: Loan) -> Violation | None:
    collector = actor.institution_id
    if collector is None:
        return Violation(RULE_LICENCE, "the collector is not an institution.", "催收方不是机构。")
    lender_id = loan.institution_id if collector != loan.institution_id else None
    check = institutions.collection_check(session, collector, lender_id)
    if check.allowed:
        return None
    if check.code in ("no_engagement", "engagement_inactive"):
        return Violation(
            RULE_WHITELIST,
            f"the agency is not on the lender's active whitelist: {check.reason}.",
            "委外机构不在该贷款机构的有效白名单内。",
        )
    return Violation(
        RULE_LICENCE,
        f"collection is not allowed: {check.reason}.",
        "该机构当前不得催收（牌照或委托状态不允许）。",
    )


def _cap_violation(loan: Loan, data: AuthorizeCreate) -> Violation | None:
    collectable = max(0, loan.payoff_amount - loan.not_collectable)
    if data.amount is not None and data.amount > collectable:
        return Violation(
            RULE_ABOVE_CAP,
            f"the amount demanded ({data.amount / 100:.2f}) is more than the collectable "
            f"amount ({collectable / 100:.2f}): charges above the legal cap are never collected.",
            f"催收金额（{data.amount / 100:.2f}）超过可催收金额（{collectable / 100:.2f}）："
            "超过法定上限的费用不得催收。",
        )
    if data.purpose is Purpose.COLLECT and collectable <= 0:
        return Violation(
            RULE_ABOVE_CAP,
            "nothing on this loan is collectable (what remains is above the legal cap or "
            "already paid).",
            "该笔贷款没有可催收的金额（剩余部分超过法定上限或已结清）。",
        )
    return None


def _ledger_dispute_violation(
    session: Session, loan: Loan, data: AuthorizeCreate, now: datetime
) -> Violation | None:
    """A dispute recorded on the ledger (a delinquency pause for a dispute, covering today)
    stops collection as an open dispute does, whatever the policy pack: the debt is being
    checked, so it is not demanded meanwhile."""
    if data.purpose is not Purpose.COLLECT:
        return None
    today = now.date()
    found = session.scalar(
        select(DelinquencyPause.id)
        .where(
            DelinquencyPause.loan_id == loan.id,
            DelinquencyPause.reason == "dispute",
            DelinquencyPause.start_date <= today,
            or_(DelinquencyPause.end_date.is_(None), DelinquencyPause.end_date > today),
        )
        .limit(1)
    )
    if found is None:
        return None
    return Violation(
        RULE_LEDGER_DISPUTE,
        "the loan is paused for a dispute: no collection contact until the dispute is resolved.",
        "该笔贷款因争议暂停：争议解决前不得催收。",
    )


def _complaint_hold_violation(
    session: Session, loan: Loan, data: AuthorizeCreate
) -> Violation | None:
    """A report of abusive collection that the borrower linked to this loan pauses its
    collection until reviewed (FAIRDUN_COMPLAINT_HOLD); contacts for other purposes
    (a required notice, answering the borrower) stay possible."""
    if data.purpose is not Purpose.COLLECT:
        return None
    if not holding_complaints(session, loan.id):
        return None
    # No case id in the reason: the collector need not learn which report, or whose.
    return Violation(
        RULE_COMPLAINT_HOLD,
        "collection of this loan is paused while the regulator reviews its collection "
        "conduct: no collection contact until the review is done.",
        "监管部门正在审查该笔贷款的催收行为，审查完成前暂停催收。",
    )


def _shield_violation(session: Session, loan: Loan, point: ContactPoint) -> Violation | None:
    if point.kind != PointKind.PHONE:
        return None
    if not repository.is_shielded(session, shield_hash(point.value)):
        return None
    if repository.debtor_owns(session, loan.id, point.value_index):
        return None  # the debtor's own number: the shield protects third parties only
    return Violation(
        RULE_SHIELD,
        "the holder of this number registered it as not a debtor here: never contact it "
        "about someone else's debt.",
        "该号码持有人已登记为非债务人：不得就他人债务联系此号码。",
    )


def authorize(
    session: Session,
    actor: Principal,
    data: AuthorizeCreate,
    now: datetime,
    locale: str = "zh_Hans",
) -> GateResult:
    """Decide a proposed contact; reserve it if allowed. Every decision is stored and
    audited in the caller's transaction."""
    loan = get_loan(session, actor, data.loan_id)
    if actor.role not in GATE_ROLES:
        raise Forbidden("only collectors propose contacts")
    lender = _lender(session, loan)
    party = repository.party(session, data.party_id, loan.id) if data.party_id else None
    point = (
        repository.point(session, data.point_id, party.id)
        if party is not None and data.point_id
        else None
    )
    repository.lock_debtor(session, loan.borrower_id, point.value_index if point else None)

    found: list[Violation] = []
    pack = pack_for(lender)
    if pack is None:
        found.append(
            Violation(
                RULE_PACK,
                f"the lender's policy pack {lender.policy_pack!r} is not a shipped pack.",
                f"该机构的规则包{lender.policy_pack!r}不存在。",
            )
        )
    licence = _licence_violation(session, actor, loan)
    if licence is not None:
        found.append(licence)
    if party is None:
        found.append(
            missing_fact(
                "person_id",
                "the party is not one of this loan's parties.",
                "联系对象不是该笔贷款的当事人。",
            )
        )
    parsed = _channel(data.channel)
    channel: Channel | None = None
    if isinstance(parsed, Violation):
        found.append(parsed)
    else:
        channel = parsed
    if point is None:
        found.append(
            missing_fact(
                "address",
                "the contact point is not one of this party's numbers or addresses.",
                "联系方式不属于该联系对象。",
            )
        )
    elif channel is not None and rules.POINT_FOR_CHANNEL.get(channel) != point.kind:
        needs = rules.POINT_FOR_CHANNEL.get(channel)
        found.append(
            missing_fact(
                "address",
                f"a {channel} contact needs the party's {needs}, not its {point.kind}."
                if needs
                else f"the gate does not offer {channel} contacts.",
                "联系渠道与联系方式不符。",
            )
        )
    if point is not None:
        shielded = _shield_violation(session, loan, point)
        if shielded is not None:
            found.append(shielded)
    message: str | None = None
    if party is not None and party.role == PartyRole.CONTACT_PERSON:
        if data.text or (data.template not in (None, rules.CALL_BACK_TEMPLATE)):
            found.append(
                Violation(
                    RULE_CONTACT_PERSON_TEXT,
                    "a contact person is only ever asked to pass on a request to call back; "
                    "no other text or template.",
                    "对联系人只能转告回电请求，不得使用其他话术或模板。",
                )
            )
        borrower = session.get(Borrower, loan.borrower_id)
        message = rules.call_back_message(borrower.name if borrower else "", locale)
    capped = _cap_violation(loan, data)
    if capped is not None:
        found.append(capped)
    disputed = _ledger_dispute_violation(session, loan, data, now)
    if disputed is not None:
        found.append(disputed)
    held = _complaint_hold_violation(session, loan, data)
    if held is not None:
        found.append(held)
    findings: list[Finding] = []
    if data.text:
        worded, findings = text_violations(
            session,
            text=data.text,
            loan=loan,
            lender=lender,
            role=party.role if party is not None else None,
            channel=data.channel,
            pack_id=lender.policy_pack,
        )
        found.extend(worded)
    gate_only = list(found)

    at = now
    earliest: datetime | None = None
    if pack is not None and party is not None and channel is not None:
        since = now - LOOKBACK
        rows = repository.history(
            session,
            lender_id=lender.id,
            borrower_id=loan.borrower_id,
            address_index=point.value_index if point else None,
            since=since,
        )
        history = History(pack)
        for row in rows:
            for event in to_events(row, now, pending_as_worst=True):
                history.record(event)
        if history.last_at is not None and history.last_at > at:
            at = history.last_at  # another process's clock ran ahead: keep the log in order
        proposed = ContactEvent(
            event_id="proposed",
            occurred_at=at,
            collector_id=inst_key(actor.institution_id or 0),
            creditor_id=inst_key(lender.id),
            debt_id=debt_key(loan.id),
            person_id=person_key(party.role, loan.borrower_id, party.id),
            role=Role(party.role),
            channel=channel,
            address=point.value_index if point else "",
            purpose=data.purpose,
            timezone=point.timezone if point else "",
            staff_count=data.staff_count,
        )
        facts = Facts(
            party_has_contract_reference=party.role in (PartyRole.GUARANTOR, PartyRole.CO_OBLIGOR)
            and bool(party.contract_reference)
        )
        decision = history.judge(proposed, facts)
        found.extend(decision.violations)
        if not decision.allowed and not gate_only:
            earliest = decision.earliest_lawful_at

    allowed = not found
    entry: ContactLogEntry | None = None
    if allowed:
        assert party is not None
        assert point is not None
        assert channel is not None
        assert pack
        entry = ContactLogEntry(
            reservation=str(uuid.uuid4()),
            kind=EventKind.CONTACT,
            institution_id=lender.id,
            collector_institution_id=actor.institution_id,
            loan_id=loan.id,
            borrower_id=loan.borrower_id,
            party_id=party.id,
            point_id=point.id,
            role=party.role,
            channel=channel.value,
            direction=Direction.OUTBOUND.value,
            address_index=point.value_index,
            purpose=data.purpose.value,
            timezone=point.timezone,
            staff_count=data.staff_count,
            occurred_at=at,
            expires_at=at + RESERVATION_TTL,
            actor=actor.actor,
            pack=pack.id,
            pack_version=pack.effective_version,
        )
        session.add(entry)
    rule_ids = [v.rule for v in found]
    decided = ContactDecision(
        institution_id=lender.id,
        collector_institution_id=actor.institution_id or lender.id,
        loan_id=loan.id,
        party_id=party.id if party else None,
        point_id=point.id if point else None,
        channel=(data.channel or "")[:20],
        purpose=data.purpose.value,
        allowed=allowed,
        rules=" ".join(rule_ids),
        reasons=json.dumps(
            [{"rule": v.rule, "message": v.message, "message_zh": v.message_zh} for v in found],
            ensure_ascii=False,
        ),
        earliest_lawful_at=earliest,
        timezone=point.timezone if point else "",
        reservation=entry.reservation if entry else None,
        pack=pack.id if pack else lender.policy_pack,
        pack_version=pack.effective_version if pack else "",
        actor=actor.actor,
        decided_at=now,
    )
    session.add(decided)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="contact.allowed" if allowed else "contact.denied",
        target=f"loan:{loan.id}",
        institution_id=lender.id,
        details={
            "pack": decided.pack,
            "pack_version": decided.pack_version,
            "rules": rule_ids,
            "reservation": decided.reservation,
            "decision_id": decided.id,
            "party_id": decided.party_id,
            "channel": decided.channel,
            "purpose": decided.purpose,
            "collector_institution_id": actor.institution_id,
            **({"content": sorted({f.category for f in findings})} if findings else {}),
        },
        at=now,
    )
    return GateResult(decided, tuple(found), entry, party, message, tuple(findings))


def local_time(at: datetime | None, zone: str) -> str | None:
    """``at`` on the party's wall clock (``2026-03-02 08:00 Asia/Shanghai``), UTC if unknown."""
    if at is None:
        return None
    try:
        tz = ZoneInfo(zone) if zone else None
    except (ValueError, OSError, KeyError):
        tz = None
    if tz is None:
        return at.strftime("%Y-%m-%d %H:%M UTC")
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M ") + zone


# --- outcomes and account events ----------------------------------------------------------


def record_outcome(
    session: Session, actor: Principal, reservation: str, outcome: Outcome, now: datetime
) -> ContactLogEntry:
    row = repository.reservation(session, actor, reservation)
    if row is None:
        raise NotFound("no such reservation")
    if actor.role not in GATE_ROLES:
        raise Forbidden("only collectors record outcomes")
    if row.outcome is not None:
        raise Conflict(f"the outcome of this contact is already recorded: {row.outcome}")
    assert row.expires_at is not None
    assert row.channel is not None
    if now > row.expires_at:
        raise Conflict(
            f"the reservation expired at {row.expires_at.isoformat()}: it counts as placed "
            "with no answer, and its outcome can no longer change"
        )
    channel = Channel(row.channel)
    allowed = rules.outcomes_for(channel)
    if outcome not in allowed:
        raise Invalid(
            "outcome",
            f"a {channel} cannot end {outcome}; one of {', '.join(sorted(allowed))}",
        )
    row.outcome = outcome.value
    row.outcome_at = now
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="contact.outcome_recorded",
        target=f"loan:{row.loan_id}",
        institution_id=row.institution_id,
        details={"reservation": row.reservation, "outcome": outcome.value},
        at=now,
    )
    return row


def record_account_event(
    session: Session, actor: Principal, loan_id: int, data: AccountEventCreate, now: datetime
) -> ContactLogEntry:
    """Record an event that changes what is lawful from now on, in the gate's order."""
    loan = get_loan(session, actor, loan_id)
    if actor.role not in EVENT_ROLES:
        raise Forbidden("your role does not record account events")
    kind = EventKind(data.kind)
    party = None
    if data.party_id is not None:
        party = repository.party(session, data.party_id, loan.id)
        if party is None:
            raise Invalid("party_id", "not a party of this loan")
    point = None
    if data.point_id is not None:
        if party is None:
            raise Invalid("point_id", "a point is named together with its party")
        point = repository.point(session, data.point_id, party.id)
        if point is None:
            raise Invalid("point_id", "not a contact point of this party")
    repository.lock_debtor(session, loan.borrower_id, None)
    last = repository.last_time(session, loan.institution_id, loan.borrower_id)
    at = max(now, last) if last is not None else now
    collector = actor.institution_id or loan.institution_id
    if kind is EventKind.CALL_CONSENT:
        # Consent is given directly to one collector (Reg F 1006.14(b)(3)(i)).
        applies = [inst_key(collector)]
    else:
        # A stop binds everyone collecting this debt: the lender, whoever recorded it, and
        # the agency holding the debt now.
        ids = [loan.institution_id, collector]
        if loan.placed_agency_id is not None:
            ids.append(loan.placed_agency_id)
        applies = [inst_key(i) for i in dict.fromkeys(ids)]
    lender = _lender(session, loan)
    pack = pack_for(lender)
    row = ContactLogEntry(
        kind=kind,
        institution_id=loan.institution_id,
        collector_institution_id=collector,
        loan_id=loan.id,
        borrower_id=loan.borrower_id,
        party_id=party.id if party else None,
        point_id=point.id if point else None,
        role=party.role if party else PartyRole.DEBTOR.value,
        channel=data.channel.value if data.channel else None,
        direction=Direction.OUTBOUND.value,
        address_index=point.value_index if point else None,
        purpose=Purpose.COLLECT.value,
        timezone=point.timezone if point else "",
        content=data.window or "",
        applies_to=" ".join(applies),
        occurred_at=at,
        actor=actor.actor,
        pack=pack.id if pack else "",
        pack_version=pack.effective_version if pack else "",
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="contact.account_event_recorded",
        target=f"loan:{loan.id}",
        institution_id=loan.institution_id,
        details={"kind": kind.value, "event_id": row.id, "party_id": row.party_id},
        at=now,
    )
    return row


@dataclass(frozen=True)
class LoanContacts:
    """What the loan's contacts page shows."""

    parties: list[PartyView]
    decisions: list[ContactDecision]
    log: list[ContactLogEntry]


def loan_contacts(session: Session, actor: Principal, loan_id: int) -> LoanContacts:
    loan = get_loan(session, actor, loan_id)
    views = list_parties(session, actor, loan.id)
    return LoanContacts(
        parties=views,
        decisions=repository.decisions(session, loan.id),
        log=repository.loan_log(session, loan.id),
    )


# --- the third-party shield ---------------------------------------------------------------

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
THROTTLE_WINDOW = timedelta(hours=1)
MAX_REQUESTS_PER_NUMBER = 3
MAX_REQUESTS_PER_REQUESTER = 10


def _code_hash(token: str, code: str) -> str:
    # Keyed: someone who reads the database cannot try the million codes without the key.
    return crypto.keyring().blind_index(f"{token}:{code}", "shield.code")


def request_shield(
    session: Session, phone: str, requester: str, now: datetime
) -> ShieldVerification:
    """Send a one-time code to ``phone`` (through the outbox). The answer is the same
    whether or not the number is already shielded."""
    number_hash = shield_hash(phone)
    requester_hash = crypto.keyring().blind_index(requester or "unknown", "shield.requester")
    since = now - THROTTLE_WINDOW
    if (
        repository.recent_verifications(session, since=since, number_hash=number_hash)
        >= MAX_REQUESTS_PER_NUMBER
        or repository.recent_verifications(session, since=since, requester_hash=requester_hash)
        >= MAX_REQUESTS_PER_REQUESTER
    ):
        raise Throttled(
            "too many codes requested; try again in an hour",
            int(THROTTLE_WINDOW.total_seconds()),
        )
    token = str(uuid.uuid4())
    code = f"{secrets.randbelow(1_000_000):06d}"
    verification = ShieldVerification(
        token=token,
        number_hash=number_hash,
        code_hash=_code_hash(token, code),
        requester_hash=requester_hash,
        attempts=0,
        created_at=now,
        expires_at=now + CODE_TTL,
    )
    session.add(verification)
    session.flush()
    outbox.enqueue(
        session,
        channel=OutboxChannel.SMS,
        recipient=phone,
        body=(
            f"【fairdun】验证码 {code}，10分钟内有效。验证后，平台上任何机构都不得就他人的债务"
            f"联系此号码。Code {code}: shields this number from contact about others' debts."
        ),
        kind="shield.code",
        now=now,
    )
    audit.record(
        session,
        actor="anonymous",
        action="shield.code_sent",
        target=f"shield_verification:{verification.id}",
        details={"verification": token},
        at=now,
    )
    return verification


@dataclass(frozen=True)
class ShieldCheck:
    verified: bool
    reason: str = ""


def verify_shield(session: Session, token: str, code: str, now: datetime) -> ShieldCheck:
    """Check a code. A wrong code counts an attempt and returns ``verified=False``: the
    caller commits the count before it answers (like a failed log-in), so that guessing is
    throttled."""
    verification = repository.verification(session, token)
    if verification is None:
        raise NotFound("no such verification; request a new code")
    if verification.verified_at is not None:
        raise Conflict("this code was already used")
    if verification.attempts >= MAX_ATTEMPTS:
        raise Throttled("too many wrong codes; request a new one", 60)
    if now > verification.expires_at:
        raise Invalid("code", "the code has expired; request a new one")
    if not hmac.compare_digest(verification.code_hash, _code_hash(token, code)):
        verification.attempts += 1
        session.flush()
        left = MAX_ATTEMPTS - verification.attempts
        return ShieldCheck(False, f"wrong code; {left} attempt(s) left")
    verification.verified_at = now
    if not repository.is_shielded(session, verification.number_hash):
        session.add(ShieldedNumber(number_hash=verification.number_hash, verified_at=now))
    session.flush()
    audit.record(
        session,
        actor="anonymous",
        action="shield.verified",
        target=f"shield_verification:{verification.id}",
        details={"verification": token},
        at=now,
    )
    return ShieldCheck(True)
