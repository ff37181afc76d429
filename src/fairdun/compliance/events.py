"""The vocabulary of the compliance engine: contact events, account events, and facts.

A contact log is a sequence of :class:`ContactEvent` in time order. The same type carries
the contacts a collector made or received (``kind=contact``) and the account events that
change what is lawful afterwards (a cease request, a dispute, an attorney, an opt-out,
consent to a call, a contact person's refusal, an agreed contact window).

Conventions:

* ``occurred_at`` is timezone-aware. Local times (calling windows, "per day" caps, the
  days of a seven-day window) are taken in the person's IANA ``timezone``.
* Values are taken literally (no trimming of spaces). An empty string means "not
  given" for text fields; ``None`` means "not given" for
  enumerations and numbers. The engine fails closed on a missing party, channel or time
  zone: see ``engine.py``.
* ``creditor_id`` is the lender on whose behalf the collector acts; empty means the
  collector is the creditor (see :func:`creditor_of`). Reg F counts per collector, the
  Chinese caps per lender across all its agencies.
* :class:`ContactEvent` is a ``NamedTuple`` rather than a frozen dataclass: it is as
  immutable and typed, and about five times cheaper to build, which matters to a replay
  of ten million rows.

``parse_record`` turns one row of a log (CSV strings or JSON values) into an event and
names the column of anything wrong with it; the log reader and the golden cases share it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple, TypeVar

E = TypeVar("E", bound=StrEnum)


class EventKind(StrEnum):
    CONTACT = "contact"
    CEASE_REQUEST = "cease_request"
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_RESOLVED = "dispute_resolved"
    ATTORNEY_RETAINED = "attorney_retained"
    MEDIUM_OPT_OUT = "medium_opt_out"
    CALL_CONSENT = "call_consent"
    CONTACT_REFUSED = "contact_refused"
    CONTACT_AGREEMENT = "contact_agreement"


class Role(StrEnum):
    """Who the person is in relation to the debt."""

    DEBTOR = "debtor"
    CO_OBLIGOR = "co_obligor"
    GUARANTOR = "guarantor"
    SPOUSE = "spouse"
    PARENT = "parent"  # parent of a minor debtor
    GUARDIAN = "guardian"
    EXECUTOR = "executor"
    ATTORNEY = "attorney"  # the debtor's attorney for this debt
    CONTACT_PERSON = "contact_person"  # designated by the debtor (紧急联系人)
    THIRD_PARTY = "third_party"
    EMPLOYER = "employer"


class Channel(StrEnum):
    CALL = "call"
    SMS = "sms"
    EMAIL = "email"
    LETTER = "letter"
    VISIT = "visit"
    PUSH = "push"
    IM = "im"


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class Outcome(StrEnum):
    NOT_CONNECTED = "not_connected"  # busy, not in service: the call never rang
    NO_ANSWER = "no_answer"
    VOICEMAIL = "voicemail"
    CONVERSATION = "conversation"  # with the person called
    WRONG_PARTY = "wrong_party"
    DELIVERED = "delivered"
    FAILED = "failed"  # a message that could not be delivered


class Purpose(StrEnum):
    COLLECT = "collect"
    LOCATE = "locate"  # learn the debtor's whereabouts, or pass on a request to call back
    REQUIRED_NOTICE = "required_notice"  # a notice the law requires or allows after a stop
    RESPONSE = "response"  # answering a contact the person started
    OPT_OUT_CONFIRMATION = "opt_out_confirmation"


class ContactEvent(NamedTuple):
    """One row of a contact log: a contact (proposed or made) or an account event."""

    event_id: str
    occurred_at: datetime
    kind: EventKind = EventKind.CONTACT
    collector_id: str = ""
    creditor_id: str = ""
    debt_id: str = ""
    person_id: str = ""
    role: Role | None = None
    channel: Channel | None = None
    direction: Direction = Direction.OUTBOUND
    address: str = ""
    outcome: Outcome | None = None
    purpose: Purpose = Purpose.COLLECT
    timezone: str = ""
    staff_count: int | None = None
    requested_by_person: bool = False
    content: str = ""


def creditor_of(event: ContactEvent) -> str:
    """The lender the event is for: ``creditor_id``, or the collector when it is empty."""
    return event.creditor_id or event.collector_id


@dataclass(frozen=True, slots=True)
class Facts:
    """What the gate knows that a contact log does not carry.

    Every default is the value that denies (fail closed): a replay that knows nothing
    more than the log assumes none of these facts, and says so in the reason.
    """

    # cn.debtor-only: the guarantor or co-obligor contacted is bound by a contract on file.
    party_has_contract_reference: bool = False
    # cn.contact-person-not-lost: the debtor's own number is known to be invalid.
    debtor_number_invalid: bool = False
    # us-regf.attorney: the debtor's attorney has not answered within a reasonable time,
    # or has agreed to the collector contacting the debtor directly.
    attorney_unresponsive: bool = False
    attorney_consents_to_direct_contact: bool = False


NO_FACTS = Facts()

COLUMNS: tuple[str, ...] = (
    "event_id",
    "occurred_at",
    "kind",
    "collector_id",
    "creditor_id",
    "debt_id",
    "person_id",
    "role",
    "channel",
    "direction",
    "address",
    "outcome",
    "purpose",
    "timezone",
    "staff_count",
    "requested_by_person",
    "content",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("event_id", "occurred_at", "kind")

# What an account event must name to mean anything (checked when a log is read).
ACCOUNT_EVENT_NEEDS: dict[EventKind, tuple[str, ...]] = {
    EventKind.CEASE_REQUEST: ("collector_id", "debt_id"),
    EventKind.DISPUTE_OPENED: ("debt_id",),
    EventKind.DISPUTE_RESOLVED: ("debt_id",),
    EventKind.ATTORNEY_RETAINED: ("collector_id", "debt_id"),
    EventKind.MEDIUM_OPT_OUT: ("collector_id", "person_id"),
    EventKind.CALL_CONSENT: ("collector_id", "debt_id", "person_id"),
    EventKind.CONTACT_REFUSED: ("collector_id", "person_id"),
    EventKind.CONTACT_AGREEMENT: ("collector_id", "person_id", "content"),
}

_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")


def parse_window(text: str) -> tuple[int, int] | None:
    """``"HH:MM-HH:MM"`` as minutes after midnight ``(start, end)``, or None if malformed.

    The end may be ``24:00``; the start must be before the end (no window across midnight).
    """
    match = _WINDOW.match(text.strip())
    if match is None:
        return None
    start = int(match[1]) * 60 + int(match[2])
    end = int(match[3]) * 60 + int(match[4])
    if end > 24 * 60 or start >= end:
        return None
    return start, end


class FieldError(ValueError):
    """A value of a log row that cannot be used; ``column`` is None for the row as a whole."""

    def __init__(self, column: str | None, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def _lookup(enum: type[E]) -> dict[str, E]:
    return {member.value: member for member in enum}


KIND_BY_VALUE = _lookup(EventKind)
ROLE_BY_VALUE = _lookup(Role)
CHANNEL_BY_VALUE = _lookup(Channel)
DIRECTION_BY_VALUE = _lookup(Direction)
OUTCOME_BY_VALUE = _lookup(Outcome)
PURPOSE_BY_VALUE = _lookup(Purpose)


def _choices(table: Mapping[str, object]) -> str:
    return ", ".join(table)


def _text(values: Mapping[str, object], column: str) -> str:
    value = values.get(column)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FieldError(column, f"expected text, got {type(value).__name__} {value!r}")
    return value


def _enum(values: Mapping[str, object], column: str, table: Mapping[str, E]) -> E | None:
    text = _text(values, column)
    if not text:
        return None
    member = table.get(text)
    if member is None:
        raise FieldError(column, f"unknown value {text!r}; expected one of {_choices(table)}")
    return member


def parse_timestamp(text: str, column: str = "occurred_at") -> datetime:
    """ISO 8601 with an offset (``2026-03-02T09:30:00+08:00`` or ``...Z``)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError(column, f"not an ISO 8601 timestamp: {text!r}") from None
    if value.tzinfo is None:
        raise FieldError(column, f"timestamp without a UTC offset: {text!r}")
    return value


def parse_record(values: Mapping[str, object]) -> ContactEvent:
    """One log row (column name -> CSV string or JSON value) as an event.

    Raises :class:`FieldError` naming the column. Unknown enumeration values are bad
    input; an empty role, channel or time zone on a contact is not (the engine denies it
    as a missing fact).
    """
    unknown = [name for name in values if name not in _COLUMN_SET]
    if unknown:
        raise FieldError(unknown[0], f"unknown column {unknown[0]!r}")
    event_id = _text(values, "event_id")
    if not event_id:
        raise FieldError("event_id", "empty")
    at_text = _text(values, "occurred_at")
    if not at_text:
        raise FieldError("occurred_at", "empty")
    occurred_at = parse_timestamp(at_text)
    kind = _enum(values, "kind", KIND_BY_VALUE)
    if kind is None:
        raise FieldError("kind", "empty")
    staff = values.get("staff_count")
    staff_count: int | None
    if staff is None or staff == "":
        staff_count = None
    elif isinstance(staff, bool):
        raise FieldError("staff_count", f"expected a whole number, got {staff!r}")
    elif isinstance(staff, int):
        staff_count = staff
    elif isinstance(staff, str) and staff.isdigit() and staff.isascii():
        staff_count = int(staff)
    else:
        raise FieldError("staff_count", f"expected a whole number, got {staff!r}")
    if staff_count is not None and staff_count < 0:
        raise FieldError("staff_count", f"negative: {staff_count}")
    requested = values.get("requested_by_person")
    requested_by_person: bool
    if requested is None or requested == "":
        requested_by_person = False
    elif isinstance(requested, bool):
        requested_by_person = requested
    elif isinstance(requested, str) and requested.lower() in _BOOLEANS:
        requested_by_person = _BOOLEANS[requested.lower()]
    else:
        raise FieldError("requested_by_person", f"expected true or false, got {requested!r}")
    event = ContactEvent(
        event_id=event_id,
        occurred_at=occurred_at,
        kind=kind,
        collector_id=_text(values, "collector_id"),
        creditor_id=_text(values, "creditor_id"),
        debt_id=_text(values, "debt_id"),
        person_id=_text(values, "person_id"),
        role=_enum(values, "role", ROLE_BY_VALUE),
        channel=_enum(values, "channel", CHANNEL_BY_VALUE),
        direction=_enum(values, "direction", DIRECTION_BY_VALUE) or Direction.OUTBOUND,
        address=_text(values, "address"),
        outcome=_enum(values, "outcome", OUTCOME_BY_VALUE),
        purpose=_enum(values, "purpose", PURPOSE_BY_VALUE) or Purpose.COLLECT,
        timezone=_text(values, "timezone"),
        staff_count=staff_count,
        requested_by_person=requested_by_person,
        content=_text(values, "content"),
    )
    check_account_event(event)
    return event


def check_account_event(event: ContactEvent) -> None:
    """Refuse an account event that does not name what it applies to."""
    needs = ACCOUNT_EVENT_NEEDS.get(event.kind)
    if needs is None:
        return
    for column in needs:
        if not getattr(event, column):
            raise FieldError(column, f"a {event.kind} event needs {column}")
    if event.kind is EventKind.MEDIUM_OPT_OUT and event.channel is None and not event.address:
        raise FieldError("channel", "a medium_opt_out event needs a channel, an address or both")
    if event.kind is EventKind.CONTACT_AGREEMENT and parse_window(event.content) is None:
        raise FieldError(
            "content",
            f"a contact_agreement needs the agreed window as HH:MM-HH:MM, got {event.content!r}",
        )


_COLUMN_SET = frozenset(COLUMNS)
_BOOLEANS = {"true": True, "false": False}
