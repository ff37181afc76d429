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

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fairdun.compliance.events import (
    NO_FACTS,
    Channel,
    ContactEvent,
    Direction,
    EventKind,
    Facts,
)
from fairdun.compliance.packs import Pack
from fairdun.compliance.rules import MISSING_FACT, Local, RuleRuntime, Violation, missing_fact

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

_ZONE_CACHE_LIMIT = 4096
_NEEDS = (
    ("channel", "the contact channel is not known.", "联系渠道未知。"),
    ("role", "who the person is in relation to the debt is not known.", "此人与债务的关系未知。"),
    ("person_id", "the person contacted is not identified.", "未标明联系对象。"),
    ("debt_id", "the debt is not identified.", "未标明债务。"),
    ("collector_id", "the collector is not identified.", "未标明催收方。"),
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


class History:
    """What the rules of one pack know of the events so far.

    Build it once per log (replay) or from the loaded events of a debtor (gate), then
    :meth:`judge` proposed contacts and :meth:`record` what happened.
    """

    def __init__(self, pack: Pack) -> None:
        self.pack = pack
        self.rules: tuple[RuleRuntime, ...] = tuple(rule.runtime() for rule in pack.rules)
        # Bound methods, looked up once: the replay calls them millions of times.
        self._checks: dict[Channel, tuple[Check, ...]] = {}
        self._local_checks: dict[Channel, tuple[Check, ...]] = {}
        self._needs_local: dict[Channel, bool] = {}
        for channel in Channel:
            rules = [r for r in self.rules if channel in r.channels]
            self._checks[channel] = tuple(r.check for r in rules)
            self._local_checks[channel] = tuple(r.check for r in rules if not r.needs_local_time)
            self._needs_local[channel] = any(r.needs_local_time for r in rules)
        self._observers: dict[EventKind, tuple[Observe, ...]] = {
            kind: tuple(r.observe for r in self.rules if kind in r.observes) for kind in EventKind
        }
        self._zones: dict[str, ZoneInfo | None] = {}
        self._allowed = Decision(True, (), pack.id, pack.effective_version)
        self.last_at: datetime | None = None
        self.recorded = 0

    @classmethod
    def from_events(cls, pack: Pack, events: Iterable[ContactEvent]) -> History:
        history = cls(pack)
        for event in events:
            history.record(event)
        return history

    def local(self, event: ContactEvent) -> Local:
        """The event's instant in the person's time zone (UTC if unknown)."""
        name = event.timezone
        zones = self._zones
        if name in zones:
            zone = zones[name]
        else:
            zone = _zone(name)
            if len(zones) < _ZONE_CACHE_LIMIT:
                zones[name] = zone
        return Local(event.occurred_at, zone)

    def judge(self, event: ContactEvent, facts: Facts = NO_FACTS) -> Decision:
        """The decision on ``event`` at its ``occurred_at``, given what was recorded."""
        if event.kind is not EventKind.CONTACT or event.direction is not Direction.OUTBOUND:
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
        channel = event.channel
        if (
            channel is None
            or event.role is None
            or not event.person_id
            or not event.debt_id
            or not event.collector_id
        ):
            return [
                missing_fact(name, en, zh) for name, en, zh in _NEEDS if not getattr(event, name)
            ]
        found: list[Violation] = []
        if local.zone is None and self._needs_local[channel]:
            found.append(_missing_zone(event.timezone))
            checks = self._local_checks[channel]
        else:
            checks = self._checks[channel]
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
        self.step(event, None)

    def step(self, event: ContactEvent, facts: Facts | None = NO_FACTS) -> Decision:
        """Judge ``event`` against the history (unless ``facts`` is None), then record it.

        One replay step; the local time is worked out once for both halves.
        """
        at = event.occurred_at
        last = self.last_at
        if last is not None and at < last:
            raise ValueError(
                f"event {event.event_id!r} at {at.isoformat()} is earlier than the event "
                f"before it ({last.isoformat()}): record events in time order"
            )
        self.last_at = at
        self.recorded += 1
        kind = event.kind
        decision = self._allowed
        local: Local | None = None
        if kind is EventKind.CONTACT:
            local = self.local(event)
            if facts is not None and event.direction is Direction.OUTBOUND:
                violations = self._violations(event, local, facts)
                if violations:
                    decision = self._denied(event, facts, violations)
        observers = self._observers[kind]
        if observers:
            if local is None:
                local = self.local(event)
            for observe in observers:
                observe(event, local)
        return decision

    def prune(self, before: datetime) -> None:
        """Forget state that cannot matter to events at or after ``before`` (minus a day
        of margin for time zones)."""
        day = before.astimezone(UTC).toordinal() - 1
        for rule in self.rules:
            rule.prune(day)


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
