"""The compliance engine: is a proposed contact lawful, given the history before it?

``evaluate(proposed, history, pack, facts, now=...)`` is pure: it reads the proposed
event, the events before it (or a :class:`History` already built from them), the pack
and the facts, and returns a :class:`Decision`. It never reads a clock: the time of the
contact is ``now`` if given, else ``proposed.occurred_at``. The online gate and the
offline audit replay (:func:`replay`) run exactly this code.

Conventions:

* **Only outbound contacts are judged.** Account events (a cease request, a dispute ...)
  and inbound contacts (the person calling in) are never violations; they only change
  what is lawful afterwards. An inbound conversation starts Reg F's seven-day wait like
  any other.
* **History is incremental.** A :class:`History` keeps, per rule, only the state the rule
  needs (a rolling list of call days per collector/debt/person, a count per number per
  local day, flags such as "cease requested"), so each event costs O(1) amortised and a
  replay never rescans. Events must be recorded in time order (equal times keep their
  order); :meth:`History.record` refuses an earlier one.
* **Fail closed.** A contact without a channel, a role, a person, a debt or a collector
  is denied with rule ``engine.missing-fact`` naming what is missing, and no other rule
  is consulted. A missing or unknown IANA time zone is denied the same way when a rule
  for the channel needs local time (a letter needs none); those rules are then skipped
  and the others still run. Facts the log does not carry
  (:class:`~fairdun.compliance.events.Facts`) default to the value that denies.
* **Earliest lawful time.** When every reason for a denial passes with time (a calling
  window, a daily cap, a seven-day window or wait), the decision carries the earliest
  instant at which the same contact would be allowed given the same history, found by
  asking the rules again at the later times they name. Otherwise it is None.
* **The verdict never depends on events after the contact.** A replayed contact whose
  outcome is known is judged with it (see ``rules.py``), never with anything later.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast
from zoneinfo import ZoneInfo

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
from fairdun.compliance.packs import Pack
from fairdun.compliance.rules import (
    MISSING_FACT,
    Local,
    RuleRuntime,
    Violation,
    local_of,
    missing_fact,
)

__all__ = [
    "MISSING_FACT",
    "Decision",
    "History",
    "Violation",
    "evaluate",
    "replay",
]


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one event: allowed, or denied with a reason per rule."""

    allowed: bool
    violations: tuple[Violation, ...]
    pack_id: str
    pack_version: str
    earliest_lawful_at: datetime | None = None

    @property
    def rules(self) -> tuple[str, ...]:
        """The ids of the rules that denied, in pack order."""
        return tuple(v.rule for v in self.violations)


Check = Callable[[ContactEvent, Local, Facts], Violation | None]
Observe = Callable[[ContactEvent, Local], None]
# What one combination of (kind, channel, role, direction, purpose, outcome) needs: the
# checks that can deny it, in pack order (None: not judged, or judged as a missing fact),
# the checks that need no local time (used when the zone is unknown), whether a check of
# the channel needs local time, the observers that can change state, and the checks
# again split for the replay's first pass: those always asked, those asked only for a
# marked debt, only for a marked person (see ``RuleRuntime.gate``).
Route = tuple[
    tuple[Check, ...] | None,
    tuple[Check, ...],
    bool,
    tuple[Observe, ...],
    tuple[Check, ...],
    tuple[Check, ...],
    tuple[Check, ...],
]
StepAt = Callable[[ContactEvent, int, Facts | None], Decision]
RouteKey = tuple[EventKind, Channel | None, Role | None, Direction, Purpose, Outcome | None]

_ZONE_CACHE_LIMIT = 4096

# Enum members as module constants: in Python 3.11 ``EventKind.CONTACT`` in a function
# costs a metaclass lookup (about 0.2 µs), which the replay would pay millions of times.
_CONTACT = EventKind.CONTACT
_OUTBOUND = Direction.OUTBOUND
_OFFSET_CACHE_LIMIT = 1 << 16
_MINUTE_CACHE_LIMIT = 1 << 17
_EPOCH_ORDINAL = 719163  # date(1970, 1, 1).toordinal()
_NEEDS = (
    ("channel", "the contact channel is not known.", "联系渠道未知。"),
    ("role", "who the person is in relation to the debt is not known.", "此人与债务的关系未知。"),
    ("person_id", "the person contacted is not identified.", "未标明联系对象。"),
    ("debt_id", "the debt is not identified.", "未标明债务。"),
    ("collector_id", "the collector is not identified.", "未标明催收方。"),
)


def epoch_us(at: datetime) -> int:
    """``at`` (timezone-aware) as whole microseconds since 1970-01-01 UTC, exactly."""
    offset = at.utcoffset()
    if offset is None:
        raise ValueError(f"{at!r} has no UTC offset")
    return (
        (
            (
                (at.toordinal() - _EPOCH_ORDINAL) * 86400
                + at.hour * 3600
                + at.minute * 60
                + at.second
            )
            - offset.days * 86400
            - offset.seconds
        )
        * 1_000_000
        + at.microsecond
        - offset.microseconds
    )


def _missing_zone(name: str) -> Violation:
    if name:
        return missing_fact(
            "timezone",
            f"the person's time zone {name!r} is not a known IANA zone; local hours and days "
            "cannot be checked.",
            f"此人所在时区{name!r}不是已知的IANA时区，无法核对当地时间。",
        )
    return missing_fact(
        "timezone",
        "the person's time zone is not given; local hours and days cannot be checked.",
        "未提供此人所在时区，无法核对当地时间。",
    )


def _zone(name: str) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, KeyError):
        # ZoneInfoNotFoundError is a KeyError; a malformed key is a ValueError.
        return None


def _hour_offset(zone: ZoneInfo, hour: int) -> int | None:
    """The zone's UTC offset in seconds throughout UTC hour ``hour`` (hours since the
    epoch), or None if it changes within the hour or cannot be worked out (the caller
    then converts each instant exactly). Offsets need not be whole hours or minutes."""
    try:
        first = datetime.fromtimestamp(hour * 3600, zone).utcoffset()
        last = datetime.fromtimestamp(hour * 3600 + 3599, zone).utcoffset()
    except (OverflowError, OSError, ValueError):
        return None
    if first is None or first != last or first.microseconds:
        return None
    return first.days * 86400 + first.seconds


_new_local = tuple.__new__


class _Progress:
    """How far a history has got (shared with its ``step_at``)."""

    __slots__ = ("last_at", "recorded")

    def __init__(self) -> None:
        self.last_at: datetime | None = None
        self.recorded = 0


class History:
    """What the rules of one pack know of the events so far.

    Build it once per log (replay) or from the loaded events of a debtor (gate), then
    :meth:`judge` proposed contacts and :meth:`record` what happened.
    """

    def __init__(self, pack: Pack) -> None:
        self.pack = pack
        self.rules: tuple[RuleRuntime, ...] = tuple(rule.runtime() for rule in pack.rules)
        # Debts and persons that a gated rule may deny (RuleRuntime.gate), shared.
        self._marked: dict[str, set[str]] = {"debt": set(), "person": set()}
        for rule in self.rules:
            if rule.gate is not None:
                rule.marks = self._marked[rule.gate]
        self._needs_local: dict[Channel, bool] = {
            channel: any(r.needs_local_time for r in self.rules if channel in r.channels)
            for channel in Channel
        }
        # Dispatch table, filled on first use of each combination of event values.
        self._routes: dict[RouteKey, Route] = {}
        self._zones: dict[str, ZoneInfo | None] = {}
        # (time zone name, UTC hour) -> (zone, offset in seconds or None: convert exactly)
        self._offsets: dict[tuple[str, int], tuple[ZoneInfo | None, int | None]] = {}
        # (time zone name, UTC minute) -> (zone, local day, local minute), for zones whose
        # offset is whole minutes and does not change within the hour.
        self._minutes: dict[tuple[str, int], tuple[ZoneInfo | None, int, int]] = {}
        self._allowed = Decision(True, (), pack.id, pack.effective_version)
        self._progress = _Progress()
        self.step_at: StepAt = self._stepper()
        """:meth:`step` for a reader that already knows the instant: ``us`` must be
        ``epoch_us(event.occurred_at)`` (the audit replay parses it a column at a time).
        Keep the history itself referenced while using it (it holds the history weakly)."""

    @property
    def last_at(self) -> datetime | None:
        """The time of the last event recorded (None before the first)."""
        return self._progress.last_at

    @property
    def recorded(self) -> int:
        """How many events were recorded."""
        return self._progress.recorded

    @classmethod
    def from_events(cls, pack: Pack, events: Iterable[ContactEvent]) -> History:
        history = cls(pack)
        for event in events:
            history.record(event)
        return history

    def _route(self, key: RouteKey) -> Route:
        kind, channel, role, direction, purpose, outcome = key
        observers = tuple(
            r.observe
            for r in self.rules
            if kind in r.observes
            and r.observes_event(kind, channel, role, direction, purpose, outcome)
        )
        checks: tuple[Check, ...] | None = None
        local_free: tuple[Check, ...] = ()
        needs_local = False
        rules: list[RuleRuntime] = []
        if kind is _CONTACT and direction is _OUTBOUND and channel is not None and role is not None:
            rules = [
                r
                for r in self.rules
                if channel in r.channels and r.judges(channel, role, purpose, outcome)
            ]
            checks = tuple(r.check for r in rules)
            local_free = tuple(r.check for r in rules if not r.needs_local_time)
            needs_local = self._needs_local[channel]
        route = (
            checks,
            local_free,
            needs_local,
            observers,
            tuple(r.check for r in rules if r.gate is None),
            tuple(r.check for r in rules if r.gate == "debt"),
            tuple(r.check for r in rules if r.gate == "person"),
        )
        self._routes[key] = route
        return route

    def _zone_of(self, name: str) -> ZoneInfo | None:
        zones = self._zones
        if name in zones:
            return zones[name]
        zone = _zone(name)
        if len(zones) < _ZONE_CACHE_LIMIT:
            zones[name] = zone
        return zone

    def _offset(self, name: str, hour: int) -> tuple[ZoneInfo | None, int | None]:
        zone = self._zone_of(name)
        found = (zone, 0 if zone is None else _hour_offset(zone, hour))
        if len(self._offsets) >= _OFFSET_CACHE_LIMIT:
            self._offsets.clear()
        self._offsets[(name, hour)] = found
        return found

    def _local(self, event: ContactEvent, us: int) -> Local:
        name = event.timezone
        seconds = us // 1_000_000
        hour = seconds // 3600
        found = self._offsets.get((name, hour))
        if found is None:
            found = self._offset(name, hour)
        zone, offset = found
        if offset is None:
            return local_of(event.occurred_at, zone, us)
        seconds += offset
        return _new_local(
            Local,
            (
                event.occurred_at,
                zone,
                seconds // 86400 + _EPOCH_ORDINAL,
                seconds % 86400 // 60,
                us,
            ),
        )

    def _minute_of(self, event: ContactEvent, us: int) -> tuple[ZoneInfo | None, int, int]:
        """(zone, local day, local minute) of the event: cached per UTC minute if it can be."""
        name = event.timezone
        utc_minute = us // 60_000_000
        found = self._offsets.get((name, utc_minute // 60))
        if found is None:
            found = self._offset(name, utc_minute // 60)
        zone, offset = found
        if offset is None or offset % 60:
            local = local_of(event.occurred_at, zone, us)
            return zone, local.day, local.minute
        seconds = utc_minute * 60 + offset
        day_minute = (zone, seconds // 86400 + _EPOCH_ORDINAL, seconds % 86400 // 60)
        if len(self._minutes) >= _MINUTE_CACHE_LIMIT:
            self._minutes.clear()
        self._minutes[(name, utc_minute)] = day_minute
        return day_minute

    def local(self, event: ContactEvent) -> Local:
        """The event's instant in the person's time zone (UTC if unknown)."""
        return self._local(event, epoch_us(event.occurred_at))

    def judge(self, event: ContactEvent, facts: Facts = NO_FACTS) -> Decision:
        """The decision on ``event`` at its ``occurred_at``, given what was recorded."""
        if event.kind is not _CONTACT or event.direction is not _OUTBOUND:
            return self._allowed
        violations = self._violations(event, self.local(event), facts)
        if not violations:
            return self._allowed
        return self._denied(event, facts, violations)

    def _denied(self, event: ContactEvent, facts: Facts, violations: list[Violation]) -> Decision:
        return Decision(
            False,
            tuple(violations),
            self.pack.id,
            self.pack.effective_version,
            self._earliest(event, facts, violations),
        )

    def _violations(self, event: ContactEvent, local: Local, facts: Facts) -> list[Violation]:
        key = (
            event.kind,
            event.channel,
            event.role,
            event.direction,
            event.purpose,
            event.outcome,
        )
        route = self._routes.get(key) or self._route(key)
        return self._judged(event, local, facts, route)

    def _judged(
        self, event: ContactEvent, local: Local, facts: Facts, route: Route
    ) -> list[Violation]:
        checks = route[0]
        if checks is None or not event.person_id or not event.debt_id or not event.collector_id:
            return [
                missing_fact(name, en, zh) for name, en, zh in _NEEDS if not getattr(event, name)
            ]
        found: list[Violation] = []
        if local.zone is None and route[2]:
            found.append(_missing_zone(event.timezone))
            checks = route[1]
        for check in checks:
            violation = check(event, local, facts)
            if violation is not None:
                found.append(violation)
        return found

    def _earliest(
        self, event: ContactEvent, facts: Facts, violations: list[Violation]
    ) -> datetime | None:
        at: datetime | None = None
        current = violations
        for _ in range(16):
            times = [v.earliest_lawful_at for v in current]
            if any(t is None for t in times):
                return None
            candidate = max(t for t in times if t is not None)
            if at is not None and candidate <= at:
                return None
            at = candidate
            later = event._replace(occurred_at=at)
            current = self._violations(later, self.local(later), facts)
            if not current:
                return at
        return None

    def record(self, event: ContactEvent) -> None:
        """Fold an event that happened into the state; events must come in time order."""
        self.step_at(event, epoch_us(event.occurred_at), None)

    def step(self, event: ContactEvent, facts: Facts | None = NO_FACTS) -> Decision:
        """Judge ``event`` against the history (unless ``facts`` is None), then record it.

        One replay step; the local time is worked out once for both halves.
        """
        return self.step_at(event, epoch_us(event.occurred_at), facts)

    def _step_rare(
        self, event: ContactEvent, us: int, facts: Facts | None, route: Route
    ) -> Decision:
        """A step that is not judged (an account event, an inbound contact, or only
        recorded), or a contact without a channel or role (denied as missing facts)."""
        observers = route[3]
        if facts is not None and event.kind is _CONTACT and event.direction is _OUTBOUND:
            local = self._local(event, us)
            decision = self._denied(event, facts, self._judged(event, local, facts, route))
            for observe in observers:
                observe(event, local)
            return decision
        if observers:
            local = self._local(event, us)
            for observe in observers:
                observe(event, local)
        return self._allowed

    def _stepper(self) -> StepAt:
        """:meth:`step_at`, with what it uses bound once: the replay calls it per event.

        It reaches the history through a weak proxy, so that a history is freed as soon
        as it is dropped (no reference cycle for the garbage collector to find).
        """
        me = cast("History", weakref.proxy(self))
        progress = self._progress

        # Looked up through the proxy at each (rare) call: a bound method would hold self.
        def route_of(key: RouteKey) -> Route:
            return me._route(key)

        def denied(event: ContactEvent, facts: Facts, violations: list[Violation]) -> Decision:
            return me._denied(event, facts, violations)

        def judged(
            event: ContactEvent, local: Local, facts: Facts, route: Route
        ) -> list[Violation]:
            return me._judged(event, local, facts, route)

        def rare(event: ContactEvent, us: int, facts: Facts | None, route: Route) -> Decision:
            return me._step_rare(event, us, facts, route)

        def minute_of(event: ContactEvent, us: int) -> tuple[ZoneInfo | None, int, int]:
            return me._minute_of(event, us)

        routes, allowed = self._routes, self._allowed
        marked_debts, marked_persons = self._marked["debt"], self._marked["person"]
        new, local_type = tuple.__new__, Local
        minutes = self._minutes
        last_us: int | None = None

        def step_at(event: ContactEvent, us: int, facts: Facts | None = NO_FACTS) -> Decision:
            nonlocal last_us
            if last_us is not None and us < last_us:
                at, before = event.occurred_at, progress.last_at
                assert before is not None
                raise ValueError(
                    f"event {event.event_id!r} at {at.isoformat()} is earlier than the event "
                    f"before it ({before.isoformat()}): record events in time order"
                )
            last_us = us
            at = event[1]
            progress.last_at = at
            progress.recorded += 1
            # (kind, channel, role, direction, purpose, outcome)
            key = (event[2], event[8], event[7], event[9], event[12], event[11])
            route = routes.get(key) or route_of(key)
            checks = route[0]
            if checks is None or facts is None:
                return rare(event, us, facts, route)
            # The local time: (zone, day, minute) per time zone and UTC minute.
            name = event[13]
            utc_minute = us // 60_000_000
            zone, day, minute = minutes.get((name, utc_minute)) or minute_of(event, us)
            local = new(local_type, (at, zone, day, minute, us))
            if (zone is None and route[2]) or not event[6] or not event[5] or not event[3]:
                violations = judged(event, local, facts, route)
                decision = denied(event, facts, violations) if violations else allowed
            else:
                # First pass: is any rule denying? Skips the gated rules of unmarked debts
                # and persons, and stops at the first denial; a denial (rare) is then
                # judged by every rule in pack order.
                denying = False
                for check in route[4]:
                    if check(event, local, facts) is not None:
                        denying = True
                        break
                if not denying and event[5] in marked_debts:
                    for check in route[5]:
                        if check(event, local, facts) is not None:
                            denying = True
                            break
                if not denying and event[6] in marked_persons:
                    for check in route[6]:
                        if check(event, local, facts) is not None:
                            denying = True
                            break
                decision = (
                    denied(event, facts, judged(event, local, facts, route)) if denying else allowed
                )
            for observe in route[3]:
                observe(event, local)
            return decision

        return step_at

    def prune(self, before: datetime) -> None:
        """Forget state that cannot matter to events at or after ``before`` (minus a day
        of margin for time zones)."""
        day = before.astimezone(UTC).toordinal() - 1
        for rule in self.rules:
            rule.prune(day)
        for gate, marks in self._marked.items():
            marks.clear()
            for rule in self.rules:
                if rule.gate == gate:
                    marks.update(rule.marked())


def evaluate(
    proposed: ContactEvent,
    history: History | Iterable[ContactEvent],
    pack: Pack,
    facts: Facts = NO_FACTS,
    *,
    now: datetime | None = None,
) -> Decision:
    """Whether ``proposed`` is lawful under ``pack``, given the events before it.

    ``history`` is either a :class:`History` of this pack, or the events before the
    proposed one in time order (a History is built from them). ``now`` is the time the
    contact would happen (the gate's clock); without it, ``proposed.occurred_at``.
    """
    if now is not None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        proposed = proposed._replace(occurred_at=now)
    if isinstance(history, History):
        if history.pack is not pack:
            raise ValueError("the history was built for another pack")
        state = history
    else:
        state = History.from_events(pack, history)
    if state.last_at is not None and proposed.occurred_at < state.last_at:
        raise ValueError("the proposed contact is earlier than the last event of its history")
    return state.judge(proposed, facts)


PRUNE_EVERY = 1 << 16


def replay(
    events: Iterable[ContactEvent], pack: Pack, facts: Facts = NO_FACTS
) -> Iterator[tuple[ContactEvent, Decision]]:
    """Judge every event of a log against the events before it, in order.

    Memory is bounded by the state of debts and persons active within the rules' windows
    plus the lasting flags (cease, attorney, opt-outs, refusals, open disputes, third
    parties already reached): the history is pruned every 65,536 events.
    """
    history = History(pack)
    step = history.step
    for count, event in enumerate(events, 1):
        yield event, step(event, facts)
        if not count & (PRUNE_EVERY - 1):
            history.prune(event.occurred_at)
