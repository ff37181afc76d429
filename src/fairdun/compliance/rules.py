"""The rule kinds: what each rule of a policy pack checks, and the state it keeps.

A policy pack names a *kind* for each of its rules (``time-window``, ``call-cap-rolling``
...) and gives its parameters; this module implements the kinds. One kind may serve
several packs (``us-regf.time-window`` and ``cn.time-window`` are both ``time-window``
with different hours), and a state pack could reuse ``call-cap-rolling`` with a lower cap.

Each kind is a small class, instantiated once per rule for each :class:`History
<fairdun.compliance.engine.History>`:

* ``Params``: a strict Pydantic model of the rule's parameters. Every field is required
  (the pack states every number) and carries a :class:`Stricter` marker saying which way
  an institution may move it: ``lower`` (a cap), ``higher`` (a waiting period, the start
  of a window), ``subset`` (a list of things allowed), ``superset`` (a list of things
  covered) or ``fixed``.
* ``check(event, local, facts)``: judge a proposed outbound contact on one of the rule's
  channels against the state so far; return a :class:`Violation` or None. ``check``
  never changes the state, so the engine may ask again at a later time to find the
  earliest lawful moment.
* ``observe(event, local)``: fold an event that happened (allowed or not, contact or
  account event) into the state. Events arrive in time order.
* ``prune(day)``: forget what can no longer matter on or after local day ``day``, so a
  long replay keeps memory bounded by the debts and persons still active.
* ``judges(channel, role, purpose, outcome)`` and ``observes_event(kind, channel, role,
  direction, purpose, outcome)``: False only when ``check`` would return None, or
  ``observe`` would change nothing, for *every* state, time, fact and other field of an
  event with these values. The engine builds its dispatch tables from them once per
  combination, so a replay calls only the rules that can matter to an event. They may
  say True when unsure (the default); they must never say False when the answer could
  differ (``tests/compliance/test_speed_replay.py`` checks them against the rules).
* ``gate``: ``"debt"`` or ``"person"`` for a rule whose ``check`` can only deny a contact
  about a debt (to a person) that its ``observe`` has put in ``marks`` (a set the engine
  shares between the rules of a history); ``marked()`` lists what still needs a mark when
  the history is pruned. The replay skips such a rule for the many contacts that no
  account event has touched (a cease request, a dispute, an opt-out ...).

"Day" is a proleptic Gregorian ordinal (``date.toordinal()``) in the person's local time
zone. A contact whose outcome is already known (a replayed log) is judged with it: a call
that never connected is not a placed call for Reg F's counts, and a call that did not
become a conversation is not a fourth conversation. The gate judges before the outcome
exists, so it is never less strict than a replay of what it allowed.

Reasons are plain English in ``message`` and plain Simplified Chinese in ``message_zh``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Annotated, ClassVar, Literal, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from fairdun.compliance.events import (
    Channel,
    ContactEvent,
    Direction,
    EventKind,
    Facts,
    Outcome,
    Purpose,
    Role,
    parse_window,
)

MISSING_FACT = "engine.missing-fact"

# Enum members as module constants: in Python 3.11 ``EventKind.CONTACT`` in a function
# costs a metaclass lookup (about 0.2 µs), which the replay would pay millions of times.
_CALL_CONSENT = EventKind.CALL_CONSENT
_CONTACT = EventKind.CONTACT
_CONTACT_AGREEMENT = EventKind.CONTACT_AGREEMENT
_CONVERSATION = Outcome.CONVERSATION
_DEBTOR = Role.DEBTOR
_DISPUTE_OPENED = EventKind.DISPUTE_OPENED
_INBOUND = Direction.INBOUND
_MEDIUM_OPT_OUT = EventKind.MEDIUM_OPT_OUT
_OPT_OUT_CONFIRMATION = Purpose.OPT_OUT_CONFIRMATION
_OUTBOUND = Direction.OUTBOUND
_RESPONSE = Purpose.RESPONSE


class Stricter(StrEnum):
    """Which way a parameter may move in an institution's override."""

    LOWER = "lower"
    HIGHER = "higher"
    SUBSET = "subset"
    SUPERSET = "superset"
    FIXED = "fixed"


LOWER, HIGHER, SUBSET, SUPERSET = (
    Stricter.LOWER,
    Stricter.HIGHER,
    Stricter.SUBSET,
    Stricter.SUPERSET,
)

TimeOfDay = Annotated[StrictStr, Field(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")]
Count = Annotated[StrictInt, Field(ge=0)]
Days = Annotated[StrictInt, Field(ge=1, le=366)]


class Params(BaseModel):
    """Base of every kind's parameters: strict, closed, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def directions(model: type[Params]) -> dict[str, Stricter]:
    """The :class:`Stricter` marker of every field of a params model."""
    found: dict[str, Stricter] = {}
    for name, info in model.model_fields.items():
        marks = [m for m in info.metadata if isinstance(m, Stricter)]
        found[name] = marks[0] if marks else Stricter.FIXED
    return found


@dataclass(frozen=True, slots=True)
class Violation:
    """Why a contact is not lawful, and from when it would be (None: not by waiting)."""

    rule: str
    message: str
    message_zh: str
    earliest_lawful_at: datetime | None = None


class Local(NamedTuple):
    """The instant of an event in the person's time zone (UTC when the zone is unknown).

    Built by the engine (``History.local``), which caches the zone's UTC offset per hour.
    """

    at: datetime
    zone: ZoneInfo | None
    day: int  # local day, date.toordinal()
    minute: int  # local minutes after midnight
    us: int  # the instant in microseconds since 1970-01-01 UTC (orders events cheaply)


def local_of(at: datetime, zone: ZoneInfo | None, us: int) -> Local:
    """The :class:`Local` of ``at`` (whose epoch microseconds are ``us``), the slow way."""
    wall = at.astimezone(zone if zone is not None else UTC)
    return Local(at, zone, wall.toordinal(), wall.hour * 60 + wall.minute, us)


def local_midnight(zone: ZoneInfo | None, day: int) -> datetime:
    """The first instant of local day ``day``, in UTC."""
    return datetime.combine(date.fromordinal(day), time(), tzinfo=zone or UTC).astimezone(UTC)


def local_clock(zone: ZoneInfo | None, day: int, minute: int) -> datetime:
    """Local day ``day`` at ``minute`` after midnight, in UTC (a DST gap moves it later)."""
    wall = datetime.combine(date.fromordinal(day), time(), tzinfo=zone or UTC)
    wall = wall.replace(hour=minute // 60, minute=minute % 60) if minute < 1440 else wall
    return wall.astimezone(UTC)


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def missing_fact(fact: str, en: str, zh: str) -> Violation:
    """A denial because something the rules need is not known (fail closed)."""
    return Violation(MISSING_FACT, f"{fact} missing: {en}", f"缺少{fact}：{zh}")


Key = tuple[str, ...]


class RuleRuntime:
    """One rule of a pack with its parameters and its share of the history state."""

    kind: ClassVar[str]
    params_model: ClassVar[type[Params]]
    needs_local_time: ClassVar[bool] = False
    observes: ClassVar[frozenset[EventKind]] = frozenset()
    gate: ClassVar[Literal["debt", "person"] | None] = None

    def __init__(self, rule_id: str, channels: frozenset[Channel], params: Params) -> None:
        self.id = rule_id
        self.channels = channels
        self.marks: set[str] = set()

    def marked(self) -> Iterable[str]:
        """The debt (or person) ids that ``check`` may still deny (see ``gate``)."""
        return ()

    def check(self, ev: ContactEvent, local: Local, facts: Facts) -> Violation | None:
        raise NotImplementedError

    def observe(self, ev: ContactEvent, local: Local) -> None:
        return None

    def prune(self, day: int) -> None:
        return None

    def judges(
        self, channel: Channel, role: Role, purpose: Purpose, outcome: Outcome | None
    ) -> bool:
        """False if ``check`` returns None for every contact with these values."""
        return True

    def observes_event(
        self,
        kind: EventKind,
        channel: Channel | None,
        role: Role | None,
        direction: Direction,
        purpose: Purpose,
        outcome: Outcome | None,
    ) -> bool:
        """False if ``observe`` changes nothing for every event with these values."""
        return kind in self.observes

    def deny(self, en: str, zh: str, earliest: datetime | None = None) -> Violation:
        return Violation(self.id, en, zh, earliest)


KINDS: dict[str, type[RuleRuntime]] = {}


R = TypeVar("R", bound=type[RuleRuntime])


def register(cls: R) -> R:
    """Class decorator: make a rule kind available to packs under its ``kind`` name."""
    KINDS[cls.kind] = cls
    return cls


def _names(values: frozenset[Role] | frozenset[Purpose]) -> str:
    return ", ".join(sorted(v.value for v in values))


class _Consents:
    """Prior consent to calls, given directly to the collector, per (collector, debt, person).

    A call placed on the consent's local day or the ``days - 1`` days after it is placed
    with consent, until a telephone conversation about the debt ends the consent early.
    """

    __slots__ = ("days", "given")

    def __init__(self, days: int) -> None:
        self.days = days
        self.given: dict[Key, tuple[int, datetime]] = {}

    def give(self, key: Key, local: Local) -> None:
        self.given[key] = (local.us, local.at)

    def end(self, key: Key) -> None:
        self.given.pop(key, None)

    def active(self, key: Key, local: Local) -> bool:
        if not self.given:
            return False
        given = self.given.get(key)
        if given is None or given[0] > local.us:
            return False
        first = given[1].astimezone(local.zone or UTC).toordinal()
        return local.day <= first + self.days - 1

    def prune(self, day: int) -> None:
        stale = [k for k, (_, at) in self.given.items() if at.toordinal() + self.days < day]
        for key in stale:
            del self.given[key]


# --- time ----------------------------------------------------------------------------------


class TimeWindowParams(Params):
    start: Annotated[TimeOfDay, HIGHER]
    end: Annotated[TimeOfDay, LOWER]
    agreement_exception: Annotated[StrictBool, LOWER]

    @model_validator(mode="after")
    def _start_before_end(self) -> TimeWindowParams:
        if self.start >= self.end:
            raise ValueError(f"start {self.start} must be before end {self.end}")
        return self


@register
class TimeWindow(RuleRuntime):
    """Contacts only between ``start`` (inclusive) and ``end`` (exclusive), local time.

    With ``agreement_exception``, a ``contact_agreement`` event (content ``HH:MM-HH:MM``)
    replaces the window for that person and lender.
    """

    kind = "time-window"
    params_model = TimeWindowParams
    needs_local_time = True
    observes = frozenset({EventKind.CONTACT_AGREEMENT})

    def __init__(self, rule_id: str, channels: frozenset[Channel], params: Params) -> None:
        super().__init__(rule_id, channels, params)
        assert isinstance(params, TimeWindowParams)
        self.start = _minutes(params.start)
        self.end = _minutes(params.end)
        self.agreements_apply = params.agreement_exception
        self.agreements: dict[Key, tuple[int, int]] = {}

    def observe(self, ev: ContactEvent, local: Local) -> None:
        if self.agreements_apply:
            window = parse_window(ev.content)
            if window is not None:
                self.agreements[(ev.creditor_id or ev.collector_id, ev.person_id)] = window

    def observes_event(
        self,
        kind: EventKind,
        channel: Channel | None,
        role: Role | None,
        direction: Direction,
        purpose: Purpose,
        outcome: Outcome | None,
    ) -> bool:
        return kind is _CONTACT_AGREEMENT and self.agreements_apply

    def check(self, ev: ContactEvent, local: Local, facts: Facts) -> Violation | None:
        start, end = self.start, self.end
        agreed = self.agreements and self.agreements.get(
            (ev.creditor_id or ev.collector_id, ev.person_id)
        )
        if agreed:
            start, end = agreed
        minute = local.minute
        if start <= minute < end:
            return None
        day = local.day if minute < start else local.day + 1
        window = f"{hhmm(start)}–{hhmm(end)}"
        source = "agreed " if agreed else ""
        return self.deny(
            f"{hhmm(minute)} local time ({ev.timezone}) is outside the {source}contact hours "
            f"{window}.",
            f"当地时间（{ev.timezone}）{hhmm(minute)}不在{'约定的' if agreed else ''}"
            f"联系时段{window}内。",
            local_clock(local.zone, day, start),
        )


# --- Regulation F call frequency ----------------------------------------------------------


class RollingCallCapParams(Params):
    max_calls: Annotated[Count, LOWER]
    window_days: Annotated[Days, HIGHER]
    excluded_outcomes: Annotated[list[Outcome], SUBSET]
    excluded_roles: Annotated[list[Role], SUBSET]
    consent_days: Annotated[Count, LOWER]


@register
class RollingCallCap(RuleRuntime):
    """At most ``max_calls`` calls to a person about a debt in ``window_days`` local days.

    Counted per (collector, debt, person): outbound calls, except those whose outcome is
    in ``excluded_outcomes`` and those placed with the person's prior consent.
    """

    kind = "call-cap-rolling"
    params_model = RollingCallCapParams
    needs_local_time = True
    observes = frozenset({EventKind.CONTACT, EventKind.CALL_CONSENT})

    def __init__(self, rule_id: str, channels: frozenset[Channel], params: Params) -> None:
        super().__init__(rule_id, channels, params)
        assert isinstance(params, RollingCallCapParams)
        self.max = params.max_calls
        self.window = params.window_days
        self.excluded_outcomes = frozenset(params.excluded_outcomes)
        self.excluded_roles = frozenset(params.excluded_roles)
        self.consents = _Consents(params.consent_days)
        self.calls: dict[Key, list[int]] = {}

    def judges(
        self, channel: Channel, role: Role, purpose: Purpose, outcome: Outcome | None
    ) -> bool:
        return role not in self.excluded_roles and outcome not in self.excluded_outcomes

    def observes_event(
        self,
        kind: EventKind,
        channel: Channel | None,
        role: Role | None,
        direction: Direction,
        purpose: Purpose,
        outcome: Outcome | None,
    ) -> bool:
        if kind is _CALL_CONSENT:
            return True
        return (
            kind is _CONTACT
            and channel in self.channels
            and (
                outcome is _CONVERSATION
                or (
                    direction is _OUTBOUND
                    and role not in self.excluded_roles
                    and outcome not in self.excluded_outcomes
                )
            )
        )

    def check(self, ev: ContactEvent, local: Local, facts: Facts) -> Violation | None:
        if ev.role in self.excluded_roles or ev.outcome in self.excluded_outcomes:
            return None
        key = (ev.collector_id, ev.debt_id, ev.person_id)
        days = self.calls.get(key)
        if not days or len(days) < self.max:
            return None  # fewer calls than the cap are kept: not over it
        floor = local.day - self.window + 1
        count = len(days) - bisect_left(days, floor)
        if count < self.max or self.consents.active(key, local):
            return None
        earliest = local_midnight(local.zone, days[len(days) - self.max] + self.window)
        return self.deny(
            f"{count} calls to this person about this debt in the last {self.window} days "
            f"(at most {self.max}).",
            f"{self.window}天内已就该笔债务致电此人{count}次（上限{self.max}次）。",
            earliest,
        )

    def observe(self, ev: ContactEvent, local: Local) -> None:
        key = (ev.collector_id, ev.debt_id, ev.person_id)
        if ev.kind is _CALL_CONSENT:
            self.consents.give(key, local)
            return
        if ev.channel not in self.channels:
            return
        given = self.consents.given
        if (
            ev.direction is _OUTBOUND
            and ev.role not in self.excluded_roles
            and ev.outcome not in self.excluded_outcomes
            and not (given and key in given and self.consents.active(key, local))
        ):
            days = self.calls.get(key)
            if days is None:
                self.calls[key] = [local.day]
            else:
                days.append(local.day)
                floor = local.day - self.window + 1
                if days[0] < floor:
                    del days[: bisect_left(days, floor)]
        if ev.outcome is _CONVERSATION and given:
            given.pop(key, None)  # self.consents.end(key)

    def prune(self, day: int) -> None:
        floor = day - self.window + 1
        stale = [k for k, days in self.calls.items() if days[-1] < floor]
        for key in stale:
            del self.calls[key]
        self.consents.prune(day)


class CallCooldownParams(Params):
    days: Annotated[Days, HIGHER]
    excluded_outcomes: Annotated[list[Outcome], SUBSET]
    excluded_roles: Annotated[list[Role], SUBSET]
    consent_days: Annotated[Count, LOWER]


@register
class CallCooldown(RuleRuntime):
    """No call to a person about a debt on the ``days`` local days that begin with a
    telephone conversation with them about it (either direction; its day is day 1)."""

    kind = "call-cooldown"
    params_model = CallCooldownParams
    needs_local_time = True
    observes = frozenset({EventKind.CONTACT, EventKind.CALL_CONSENT})

    def __init__(self, rule_id: str, channels: frozenset[Channel], params: Params) -> None:
        super().__init__(rule_id, channels, params)
        assert isinstance(params, CallCooldownParams)
        self.days = params.days
        self.excluded_outcomes = frozenset(params.excluded_outcomes)
        self.excluded_roles = frozenset(params.excluded_roles)
        self.consents = _Consents(params.consent_days)
        self.last: dict[Key, int] = {}

    def judges(
        self, channel: Channel, role: Role, purpose: Purpose, outcome: Outcome | None
    ) -> bool:
        return role not in self.excluded_roles and outcome not in self.excluded_outcomes

    def observes_event(
        self,
        kind: EventKind,
        channel: Channel | None,
        role: Role | None,
        direction: Direction,
        purpose: Purpose,
        outcome: Outcome | None,
    ) -> bool:
        if kind is _CALL_CONSENT:
            return True
        return (
            kind is _CONTACT
            and outcome is _CONVERSATION
            and channel in self.channels
            and role not in self.excluded_roles
        )

    def check(self, ev: ContactEvent, local: Local, facts: Facts) -> Violation | None:
        if not self.last or ev.role in self.excluded_roles or ev.outcome in self.excluded_outcomes:
            return None
        key = (ev.collector_id, ev.debt_id, ev.person_id)
        last = self.last.get(key)
        if last is None or local.day > last + self.days - 1 or self.consents.active(key, local):
            return None
        day_number = local.day - last + 1
        return self.deny(
            f"a telephone conversation about this debt took place {day_number - 1} day(s) ago; "
            f"no call before day {self.days + 1} (the conversation's day is day 1).",
            f"{day_number - 1}天前已就该笔债务与此人通话；在第{self.days + 1}天之前不得再致电"
            f"（通话当天为第1天）。",
            local_midnight(local.zone, last + self.days),
        )

    def observe(self, ev: ContactEvent, local: Local) -> None:
        key = (ev.collector_id, ev.debt_id, ev.person_id)
        if ev.kind is _CALL_CONSENT:
            self.consents.give(key, local)
            return
        if (
            ev.outcome is _CONVERSATION
            and ev.channel in self.channels
            and ev.role not in self.excluded_roles
        ):
            self.last[key] = local.day
            self.consents.end(key)

    def prune(self, day: int) -> None:
        stale = [k for k, last in self.last.items() if last + self.days <= day]
        for key in stale:
            del self.last[key]
        self.consents.prune(day)


# --- who may be contacted -----------------------------------------------------------------


class AllowedRolesParams(Params):
    allowed_roles: Annotated[list[Role], SUBSET]
    exempt_purposes: Annotated[list[Purpose], SUBSET]


@register
class AllowedRoles(RuleRuntime):
    """Communication only with the listed roles, except for the exempt purposes."""

    kind = "allowed-roles"
    params_model = AllowedRolesParams

    def __init__(self, rule_id: str, channels: frozenset[Channel], params: Params) -> None:
        super().__init__(rule_id, channels, params)
        assert isinstance(params, AllowedRolesParams)
        self.allowed = frozenset(params.allowed_roles)
        self.exempt = frozenset(params.exempt_purposes)

    def judges(
        self, channel: Channel, role: Role, purpose: Purpose, outcome: Outcome | None
    ) -> bool:
        return role not in self.allowed and purpose not in self.exempt

    def check(self, ev: ContactEvent, local: Local, facts: Facts) -> Violation | None:
        if ev.role in self.allowed or ev.purpose in self.exempt:
            return None
        return self.deny(
            f"a {ev.role} may not be contacted to {ev.purpose}; communication about the debt "
            f"only with: {_names(self.allowed)}"
            + (f" (others only to {_names(self.exempt)})." if self.exempt else "."),
            f"不得为{ev.purpose}联系{ev.role}；仅可就债务与以下人员沟通：{_names(self.allowed)}"
            + (f"（其他人仅限{_names(self.exempt)}）。" if self.exempt else "。"),
        )


class LocationRepeatParams(Params):
    roles: Annotated[list[Role], SUPERSET]
    communication_outcomes: Annotated[list[Outcome], SUPERSET]


@register
class LocationRepeat(RuleRuntime):
    """A third party is communicated with once about a debt, unless they ask for more."""

    kind = "location-repeat"
    params_model = LocationRepeatParams
    gate = "debt"
    observes = frozenset({EventKind.CONTACT})

    def __init__(self, rule_id: str, channels: frozenset[Channel], params: Params) -> None:
        super().__init__(rule_id, channels, params)
        assert isinstance(params, LocationRepeatParams)
        self.roles = frozenset(params.roles)
        self.outcomes = frozenset(params.communication_outcomes)
        self.done: set[Key] = set()

    def judges(
        self, channel: Channel, role: Role, purpose: Purpose, outcome: Outcome | None
    ) -> bool:
        return role in self.roles and (outcome is None or outcome in self.outcomes)

    def observes_event(
        self,
        kind: EventKind,
        channel: Channel | None,
        role: Role | None,
        direction: Direction,
        purpose: Purpose,
        outcome: Outcome | None,
    ) -> bool:
        return (
            kind is _CONTACT
            and role in self.roles
            and outcome in self.outcomes
            and channel in self.channels
        )

    def check(self, ev: ContactEvent, local: Local, facts: Facts) -> Violation | None:
        if (
            not self.done
            or ev.role not in self.roles
            or ev.requested_by_person
            or (ev.outcome is not None and ev.outcome not in self.outcomes)
            or (ev.collector_id, ev.debt_id, ev.person_id) not in self.done
        ):
            return None
        return self.deny(
            f"this {ev.role} has already been communicated with about this debt and did not "
            "ask to be contacted again.",
            f"已就该笔债务与此{ev.role}沟通过一次，对方未要求再次联系。",
        )

    def observe(self, ev: ContactEvent, local: Local) -> None:
        if ev.role in self.roles and ev.outcome in self.outcomes and ev.channel in self.channels:
            self.done.add((ev.collector_id, ev.debt_id, ev.person_id))
            self.marks.add(ev.debt_id)

    def marked(self) -> Iterable[str]:
        return {debt for _, debt, _ in self.done}


class CollectRolesParams(Params):
    roles: Annotated[list[Role], SUBSET]
    contract_roles: Annotated[list[Role], SUBSET]
    purposes: Annotated[list[Purpose], SUPERSET]


@register
class CollectRoles(RuleRuntime):
    """Collection (``purposes``) only from ``roles``, and from ``contract_roles`` when the
    gate knows of a contract reference binding them (fact ``party_has_contract_reference``)."""

    kind = "collect-roles"
    params_model = CollectRolesParams

    def __init__(self, rule_id: str, channels: frozenset[Channel], params: Params) -> None:
        super().__init__(rule_id, channels, params)
        assert isinstance(params, CollectRolesParams)
        self.roles = frozenset(params.roles)
        self.contract_roles = frozenset(params.contract_roles)
        self.purposes = frozenset(params.purposes)

    def judges(
        self, channel: Channel, role: Role, purpose: Purpose, outcome: Outcome | None
    ) -> bool:
        return purpose in self.purposes and role not in self.roles

    def check(self, ev: ContactEvent, local: Local, facts: Facts) -> Violation | None:
        if ev.purpose not in self.purposes or ev.role in self.roles:
            return None
        if ev.role in self.contract_roles:
            if facts.party_has_contract_reference:
                return None
            return self.deny(
                f"collection from a {ev.role} needs a contract reference on file "
                "(fact party_has_contract_reference is not given).",
                f"向{ev.role}催收须有合同依据（未提供party_has_contract_reference）。",
            )
        return self.deny(
            f"collection only from: {_names(self.roles | self.contract_roles)}; "
            f"not from a {ev.role}.",
            f"仅可向以下人员催收：{_names(self.roles | self.contract_roles)}；"
            f"不得向{ev.role}催收。",
        )


class LostContactGateParams(Params):
    roles: Annotated[list[Role], SUPERSET]
    allowed_purposes: Annotated[list[Purpose], SUBSET]
    consecutive_failures: Annotated[StrictInt, Field(ge=1), HIGHER]
    failed_outcomes: Annotated[list[Outcome], SUBSET]
    attempt_channels: Annotated[list[Channel], SUBSET]


@register
class LostContactGate(RuleRuntime):
    """Persons other than the obligors only while the debtor is out of reach, and only
    for ``allowed_purposes``.

    Out of reach: the gate knows the debtor's number is invalid (fact
    ``debtor_number_invalid``), or the last ``consecutive_failures`` outbound attempts to
    the debtor about the debt on ``attempt_channels`` all ended in ``failed_outcomes``
    (per lender and debt; any other outcome, or the debtor getting in touch, resets it).
    """

    kind = "lost-contact-gate"
    params_model = LostContactGateParams
    observes = frozenset({EventKind.CONTACT})

    def __init__(self, rule_id: str, channels: frozenset[Channel], params: Params) -> None:
        super().__init__(rule_id, channels, params)
        assert isinstance(params, LostContactGateParams)
        self.roles = frozenset(params.roles)
        self.purposes = frozenset(params.allowed_purposes)
        self.needed = params.consecutive_failures
        self.failed = frozenset(params.failed_outcomes)
        self.attempt_channels = frozenset(params.attempt_channels)
        self.streak: dict[Key, int] = {}

    def judges(
        self, channel: Channel, role: Role, purpose: Purpose, outcome: Outcome | None
    ) -> bool:
        return role in self.roles

    def observes_event(
        self,
        kind: EventKind,
        channel: Channel | None,
        role: Role | None,
        direction: Direction,
        purpose: Purpose,
        outcome: Outcome | None,
    ) -> bool:
        return (
            kind is _CONTACT
            and role is _DEBTOR
            and (
                direction is _INBOUND or (channel in self.attempt_channels and outcome is not None)
            )
        )

    def check(self, ev: ContactEvent, local: Local, facts: Facts) -> Violation | None:
        if ev.role not in self.roles:
            return None
        if ev.purpose not in self.purposes:
            return self.deny(
                f"a {ev.role} may only be contacted to {_names(self.purposes)}, "
                f"never to {ev.purpose}.",
                f"仅可为{_names(self.purposes)}联系{ev.role}，不得用于{ev.purpose}。",
            )
        failures = self.streak.get((ev.creditor_id or ev.collector_id, ev.debt_id), 0)
        if facts.debtor_number_invalid or failures >= self.needed:
            return None
        return self.deny(
            f"the debtor is not out of reach: {failures} failed attempt(s) in a row "
            f"(needs {self.needed}, or the debtor's number known to be invalid).",
            f"债务人并未失联：连续{failures}次未能联系上（需连续{self.needed}次，"
            "或已知债务人号码无效）。",
        )

    def observe(self, ev: ContactEvent, local: Local) -> None:
        if ev.role is not _DEBTOR:
            return
        key = (ev.creditor_id or ev.collector_id, ev.debt_id)
        if ev.direction is _INBOUND:
            self.streak.pop(key, None)
        elif ev.channel in self.attempt_channels and ev.outcome is not None:
            if ev.outcome in self.failed:
                self.streak[key] = self.streak.get(key, 0) + 1
            else:
                self.streak.pop(key, None)


# --- account events that stop or limit contact --------------------------------------------


class CeaseParams(Params):
    roles: Annotated[list[Role], SUPERSET]
    allowed_purposes: Annotated[list[Purpose], SUBSET]


@register
class Cease(RuleRuntime):
    """After a cease request to the collector about a debt, only ``allowed_purposes``."""

    kind = "cease"
    params_model = CeaseParams
    gate = "debt"
    observes = frozenset({EventKind.CEASE_REQUEST})

    def __init__(self, rule_id: str, channels: frozenset[Channel], params: Params) -> None:
        super().__init__(rule_id, channels, params)
        assert isinstance(params, CeaseParams)
        self.roles = frozenset(params.roles)
        self.allowed = frozenset(params.allowed_purposes)
        self.ceased: set[Key] = set()

    def judges(
        self, channel: Channel, role: Role, purpose: Purpose, outcome: Outcome | None
    ) -> bool:
        return purpose not in self.allowed and role in self.roles

    def check(self, ev: ContactEvent, local: Local, facts: Facts) -> Violation | None:
        if (
            not self.ceased
            or ev.purpose in self.allowed
            or ev.role not in self.roles
            or (ev.collector_id, ev.debt_id) not in self.ceased
        ):
            return None
        return self.deny(
            "the consumer asked the collector to stop communicating about this debt; only "
            f"{_names(self.allowed)} may still be sent.",
            f"消费者已要求停止就该笔债务联系；此后仅可发送：{_names(self.allowed)}。",
        )

    def observe(self, ev: ContactEvent, local: Local) -> None:
        self.ceased.add((ev.collector_id, ev.debt_id))
        self.marks.add(ev.debt_id)

    def marked(self) -> Iterable[str]:
        return {debt for _, debt in self.ceased}


class AttorneyParams(Params):
    allowed_roles: Annotated[list[Role], SUBSET]


@register
class Attorney(RuleRuntime):
    """Once the debtor has an attorney for the debt, contact only ``allowed_roles``, unless
    the gate knows the attorney is unresponsive or agrees to direct contact."""

    kind = "attorney"
    params_model = AttorneyParams
    gate = "debt"
    observes = frozenset({EventKind.ATTORNEY_RETAINED})

    def __init__(self, rule_id: str, channels: frozenset[Channel], params: Params) -> None:
        super().__init__(rule_id, channels, params)
        assert isinstance(params, AttorneyParams)
        self.allowed = frozenset(params.allowed_roles)
        self.represented: set[Key] = set()

    def judges(
        self, channel: Channel, role: Role, purpose: Purpose, outcome: Outcome | None
    ) -> bool:
        return role not in self.allowed

    def check(self, ev: ContactEvent, local: Local, facts: Facts) -> Violation | None:
        if (
            not self.represented
            or ev.role in self.allowed
            or (ev.collector_id, ev.debt_id) not in self.represented
            or facts.attorney_unresponsive
            or facts.attorney_consents_to_direct_contact
        ):
            return None
        return self.deny(
            "the consumer is represented by an attorney for this debt; contact the attorney.",
            "消费者已就该笔债务委托律师；应联系律师。",
        )

    def observe(self, ev: ContactEvent, local: Local) -> None:
        self.represented.add((ev.collector_id, ev.debt_id))
        self.marks.add(ev.debt_id)

    def marked(self) -> Iterable[str]:
        return {debt for _, debt in self.represented}


class _OptOuts:
    __slots__ = ("addresses", "channels", "confirmations", "pairs", "responses")

    def __init__(self) -> None:
        self.channels: set[Channel] = set()
        self.addresses: set[str] = set()
        self.pairs: set[tuple[Channel, str]] = set()
        self.confirmations = 0
        self.responses: dict[Channel | None, int] = {}

    def blocks(self, ev: ContactEvent) -> bool:
        if ev.channel in self.channels:
            return True
        address = ev.address
        return bool(address) and (
            address in self.addresses
            or (ev.channel is not None and (ev.channel, address) in self.pairs)
        )


class MediumOptOutParams(Params):
    once_purposes: Annotated[list[Purpose], SUBSET]


@register
class MediumOptOut(RuleRuntime):
    """No contact through a medium, or a number or address, the person asked the collector
    not to use. Of ``once_purposes``: one ``opt_out_confirmation`` per opt-out, and one
    ``response`` per contact the person starts through that medium."""

    kind = "medium-opt-out"
    params_model = MediumOptOutParams
    gate = "person"
    observes = frozenset({EventKind.MEDIUM_OPT_OUT, EventKind.CONTACT})

    def __init__(self, rule_id: str, channels: frozenset[Channel], params: Params) -> None:
        super().__init__(rule_id, channels, params)
        assert isinstance(params, MediumOptOutParams)
        self.once = frozenset(params.once_purposes)
        self.opted: dict[Key, _OptOuts] = {}

    def marked(self) -> Iterable[str]:
        return {person for _, person in self.opted}

    def _allowance(self, ev: ContactEvent, opt: _OptOuts) -> bool:
        if ev.purpose not in self.once:
            return False
        if ev.purpose is _OPT_OUT_CONFIRMATION:
            return opt.confirmations > 0
        if ev.purpose is _RESPONSE:
            return opt.responses.get(ev.channel, 0) > 0
        return False

    def observes_event(
        self,
        kind: EventKind,
        channel: Channel | None,
        role: Role | None,
        direction: Direction,
        purpose: Purpose,
        outcome: Outcome | None,
    ) -> bool:
        if kind is _MEDIUM_OPT_OUT:
            return True
        return kind is _CONTACT and (direction is _INBOUND or purpose in self.once)

    def check(self, ev: ContactEvent, local: Local, facts: Facts) -> Violation | None:
        if not self.opted:
            return None
        opt = self.opted.get((ev.collector_id, ev.person_id))
        if opt is None or not opt.blocks(ev) or self._allowance(ev, opt):
            return None
        where = f"{ev.channel} to {ev.address}" if ev.address else f"{ev.channel}"
        return self.deny(
            f"the person asked not to be contacted by {where}.",
            f"此人已要求不通过{where}联系。",
        )

    def observe(self, ev: ContactEvent, local: Local) -> None:
        key = (ev.collector_id, ev.person_id)
        if ev.kind is _MEDIUM_OPT_OUT:
            opt = self.opted.setdefault(key, _OptOuts())
            self.marks.add(ev.person_id)
            if ev.channel is not None and ev.address:
                opt.pairs.add((ev.channel, ev.address))
            elif ev.channel is not None:
                opt.channels.add(ev.channel)
            else:
                opt.addresses.add(ev.address)
            opt.confirmations += 1
            return
        if not self.opted:
            return
        found = self.opted.get(key)
        if found is None or not found.blocks(ev):
            return
        if ev.direction is _INBOUND:
            found.responses[ev.channel] = found.responses.get(ev.channel, 0) + 1
        elif self._allowance(ev, found):
            if ev.purpose is _OPT_OUT_CONFIRMATION:
                found.confirmations -= 1
            else:
                found.responses[ev.channel] -= 1


class DisputePauseParams(Params):
    blocked_purposes: Annotated[list[Purpose], SUPERSET]


@register
class DisputePause(RuleRuntime):
    """While a dispute about the debt is open, no contact for ``blocked_purposes``."""

    kind = "dispute-pause"
    params_model = DisputePauseParams
    gate = "debt"
    observes = frozenset({EventKind.DISPUTE_OPENED, EventKind.DISPUTE_RESOLVED})

    def __init__(self, rule_id: str, channels: frozenset[Channel], params: Params) -> None:
        super().__init__(rule_id, channels, params)
        assert isinstance(params, DisputePauseParams)
        self.blocked = frozenset(params.blocked_purposes)
        self.open: set[str] = set()

    def marked(self) -> Iterable[str]:
        return self.open

    def judges(
        self, channel: Channel, role: Role, purpose: Purpose, outcome: Outcome | None
    ) -> bool:
        return purpose in self.blocked

    def check(self, ev: ContactEvent, local: Local, facts: Facts) -> Violation | None:
        if not self.open or ev.purpose not in self.blocked or ev.debt_id not in self.open:
            return None
        return self.deny(
            f"a dispute about this debt is open; no contact to {ev.purpose} until it is resolved.",
            f"该笔债务存在未决争议；解决前不得为{ev.purpose}进行联系。",
        )

    def observe(self, ev: ContactEvent, local: Local) -> None:
        if ev.kind is _DISPUTE_OPENED:
            self.open.add(ev.debt_id)
            self.marks.add(ev.debt_id)
        else:
            self.open.discard(ev.debt_id)


class RefusalParams(Params):
    exempt_roles: Annotated[list[Role], SUBSET]


@register
class Refusal(RuleRuntime):
    """Once a person refused further contact (``contact_refused``), never contact them
    again for that lender, whatever role they are contacted in, except ``exempt_roles``."""

    kind = "refusal"
    params_model = RefusalParams
    gate = "person"
    observes = frozenset({EventKind.CONTACT_REFUSED})

    def __init__(self, rule_id: str, channels: frozenset[Channel], params: Params) -> None:
        super().__init__(rule_id, channels, params)
        assert isinstance(params, RefusalParams)
        self.exempt = frozenset(params.exempt_roles)
        self.refused: set[Key] = set()

    def judges(
        self, channel: Channel, role: Role, purpose: Purpose, outcome: Outcome | None
    ) -> bool:
        return role not in self.exempt

    def check(self, ev: ContactEvent, local: Local, facts: Facts) -> Violation | None:
        if (
            not self.refused
            or ev.role in self.exempt
            or (ev.creditor_id or ev.collector_id, ev.person_id) not in self.refused
        ):
            return None
        return self.deny(
            "this person refused further contact; never contact them again.",
            "此人已明确拒绝联系；不得再与其联系。",
        )

    def observe(self, ev: ContactEvent, local: Local) -> None:
        self.refused.add((ev.creditor_id or ev.collector_id, ev.person_id))
        self.marks.add(ev.person_id)

    def marked(self) -> Iterable[str]:
        return {person for _, person in self.refused}


# --- daily caps (China) ---------------------------------------------------------------------


class DailyConversationCapParams(Params):
    max_per_day: Annotated[Count, LOWER]
    roles: Annotated[list[Role], SUPERSET]
    counted_outcomes: Annotated[list[Outcome], SUPERSET]


@register
class DailyConversationCap(RuleRuntime):
    """At most ``max_per_day`` outbound conversations with a person per local day, counted
    per lender across all its collectors and agencies."""

    kind = "daily-conversation-cap"
    params_model = DailyConversationCapParams
    needs_local_time = True
    observes = frozenset({EventKind.CONTACT})

    def __init__(self, rule_id: str, channels: frozenset[Channel], params: Params) -> None:
        super().__init__(rule_id, channels, params)
        assert isinstance(params, DailyConversationCapParams)
        self.max = params.max_per_day
        self.roles = frozenset(params.roles)
        self.counted = frozenset(params.counted_outcomes)
        self.today: dict[Key, list[int]] = {}

    def judges(
        self, channel: Channel, role: Role, purpose: Purpose, outcome: Outcome | None
    ) -> bool:
        return role in self.roles and (outcome is None or outcome in self.counted)

    def observes_event(
        self,
        kind: EventKind,
        channel: Channel | None,
        role: Role | None,
        direction: Direction,
        purpose: Purpose,
        outcome: Outcome | None,
    ) -> bool:
        return (
            kind is _CONTACT
            and direction is _OUTBOUND
            and outcome in self.counted
            and role in self.roles
            and channel in self.channels
        )

    def check(self, ev: ContactEvent, local: Local, facts: Facts) -> Violation | None:
        if ev.role not in self.roles or (ev.outcome is not None and ev.outcome not in self.counted):
            return None
        entry = self.today.get((ev.creditor_id or ev.collector_id, ev.person_id))
        if entry is None or entry[0] != local.day or entry[1] < self.max:
            return None
        return self.deny(
            f"{entry[1]} conversations with this {ev.role} today, counted across the lender "
            f"and its agencies (at most {self.max} a day).",
            f"今日已与该{ev.role}有效通话{entry[1]}次（含委外机构，每日上限{self.max}次）。",
            local_midnight(local.zone, local.day + 1),
        )

    def observe(self, ev: ContactEvent, local: Local) -> None:
        if (
            ev.direction is _OUTBOUND
            and ev.outcome in self.counted
            and ev.role in self.roles
            and ev.channel in self.channels
        ):
            key = (ev.creditor_id or ev.collector_id, ev.person_id)
            entry = self.today.get(key)
            if entry is None or entry[0] != local.day:
                self.today[key] = [local.day, 1]
            else:
                entry[1] += 1

    def prune(self, day: int) -> None:
        stale = [k for k, entry in self.today.items() if entry[0] < day]
        for key in stale:
            del self.today[key]


class DailyAttemptCapParams(Params):
    max_per_day: Annotated[Count, LOWER]


@register
class DailyAttemptCap(RuleRuntime):
    """At most ``max_per_day`` outbound attempts to one number or address per local day,
    per lender across its agencies, whatever their outcome."""

    kind = "daily-attempt-cap"
    params_model = DailyAttemptCapParams
    needs_local_time = True
    observes = frozenset({EventKind.CONTACT})

    def __init__(self, rule_id: str, channels: frozenset[Channel], params: Params) -> None:
        super().__init__(rule_id, channels, params)
        assert isinstance(params, DailyAttemptCapParams)
        self.max = params.max_per_day
        self.today: dict[Key, list[int]] = {}

    def observes_event(
        self,
        kind: EventKind,
        channel: Channel | None,
        role: Role | None,
        direction: Direction,
        purpose: Purpose,
        outcome: Outcome | None,
    ) -> bool:
        return kind is _CONTACT and direction is _OUTBOUND and channel in self.channels

    def check(self, ev: ContactEvent, local: Local, facts: Facts) -> Violation | None:
        if not ev.address:
            return missing_fact(
                "address",
                f"the number dialled is needed to count attempts ({self.id}).",
                f"需要所拨号码才能计算拨打次数（{self.id}）。",
            )
        entry = self.today.get((ev.creditor_id or ev.collector_id, ev.address))
        if entry is None or entry[0] != local.day or entry[1] < self.max:
            return None
        return self.deny(
            f"{entry[1]} attempts to this number today (at most {self.max} a day).",
            f"今日已拨打该号码{entry[1]}次（每日上限{self.max}次）。",
            local_midnight(local.zone, local.day + 1),
        )

    def observe(self, ev: ContactEvent, local: Local) -> None:
        if ev.direction is _OUTBOUND and ev.channel in self.channels and ev.address:
            key = (ev.creditor_id or ev.collector_id, ev.address)
            entry = self.today.get(key)
            if entry is None or entry[0] != local.day:
                self.today[key] = [local.day, 1]
            else:
                entry[1] += 1

    def prune(self, day: int) -> None:
        stale = [k for k, entry in self.today.items() if entry[0] < day]
        for key in stale:
            del self.today[key]


# --- field visits ---------------------------------------------------------------------------


class MinStaffParams(Params):
    min_staff: Annotated[StrictInt, Field(ge=1), HIGHER]


@register
class MinStaff(RuleRuntime):
    """A contact on the rule's channels (field visits) needs ``min_staff`` collectors."""

    kind = "min-staff"
    params_model = MinStaffParams

    def __init__(self, rule_id: str, channels: frozenset[Channel], params: Params) -> None:
        super().__init__(rule_id, channels, params)
        assert isinstance(params, MinStaffParams)
        self.min = params.min_staff

    def check(self, ev: ContactEvent, local: Local, facts: Facts) -> Violation | None:
        if ev.staff_count is None:
            return missing_fact(
                "staff_count",
                f"the number of collectors on the visit is needed ({self.id}).",
                f"需要外访人数（{self.id}）。",
            )
        if ev.staff_count >= self.min:
            return None
        return self.deny(
            f"a field visit by {ev.staff_count} collector(s); at least {self.min} are required.",
            f"外访人员{ev.staff_count}名；至少需要{self.min}名。",
        )
