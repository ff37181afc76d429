"""The pure engine: evaluate(), History, fail-closed behaviour, earliest lawful time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fairdun.compliance import packs
from fairdun.compliance.engine import MISSING_FACT, History, evaluate, replay
from fairdun.compliance.events import Channel, Direction, EventKind, Facts, Outcome, Role
from tests.compliance.factories import account, contact

US = packs.load("us-regf")
CN = packs.load("cn")


def test_a_lawful_call_is_allowed_and_names_the_pack() -> None:
    decision = evaluate(contact("2026-02-02T10:00:00-05:00"), [], US)
    assert decision.allowed
    assert decision.violations == ()
    assert (decision.pack_id, decision.pack_version) == ("us-regf", "2026.1")
    assert decision.earliest_lawful_at is None


def test_the_clock_is_a_parameter() -> None:
    proposed = contact("2026-02-02T10:00:00-05:00")
    late = datetime(2026, 2, 3, 3, 0, tzinfo=UTC)  # 22:00 in New York
    decision = evaluate(proposed, [], US, now=late)
    assert decision.rules == ("us-regf.time-window",)
    assert decision.earliest_lawful_at == datetime(2026, 2, 3, 13, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(proposed, [], US, now=datetime(2026, 2, 3, 3, 0))


def test_reasons_are_in_english_and_chinese() -> None:
    decision = evaluate(contact("2026-02-02T22:00:00-05:00", role=Role.THIRD_PARTY), [], US)
    assert decision.rules == ("us-regf.time-window", "us-regf.third-party")
    window, third = decision.violations
    assert "22:00 local time (America/New_York)" in window.message
    assert "08:00–21:00" in window.message
    assert "不在" in window.message_zh
    assert "third_party" in third.message and "third_party" in third.message_zh
    assert decision.earliest_lawful_at is None  # waiting does not cure a third-party contact


def test_history_as_events_or_as_state_gives_the_same_decision() -> None:
    events = [
        contact(f"2026-02-0{d}T10:00:00-05:00", f"e{d}", outcome=Outcome.NO_ANSWER)
        for d in range(2, 9)
    ]
    proposed = contact("2026-02-08T16:00:00-05:00", "p")
    from_list = evaluate(proposed, events, US)
    from_state = evaluate(proposed, History.from_events(US, events), US)
    assert from_list == from_state
    assert from_list.rules == ("us-regf.call-7in7",)


def test_history_must_be_in_time_order_and_built_for_the_pack() -> None:
    history = History(US)
    history.record(contact("2026-02-02T10:00:00-05:00", "e2"))
    with pytest.raises(ValueError, match="time order"):
        history.record(contact("2026-02-02T09:00:00-05:00", "e1"))
    with pytest.raises(ValueError, match="another pack"):
        evaluate(contact("2026-02-02T11:00:00-05:00"), history, CN)
    with pytest.raises(ValueError, match="earlier than the last event"):
        evaluate(contact("2026-02-02T09:30:00-05:00"), history, US)


def test_missing_facts_are_denials_that_name_them() -> None:
    decision = evaluate(
        contact("2026-02-02T10:00:00-05:00", role=None, channel=None, person_id=""), [], US
    )
    assert not decision.allowed
    assert decision.rules == (MISSING_FACT,) * 3
    named = " ".join(v.message for v in decision.violations)
    assert "channel missing" in named and "role missing" in named and "person_id missing" in named


def test_an_unknown_zone_is_named_and_waiting_does_not_help() -> None:
    decision = evaluate(contact("2026-02-02T10:00:00-05:00", timezone="Mars/Olympus"), [], US)
    assert decision.rules == (MISSING_FACT,)
    assert "'Mars/Olympus' is not a known IANA zone" in decision.violations[0].message
    assert decision.earliest_lawful_at is None


def test_account_events_and_inbound_contacts_are_never_violations() -> None:
    cease = account(EventKind.CEASE_REQUEST, "2026-02-02T23:00:00-05:00")
    inbound = contact("2026-02-02T23:30:00-05:00", direction=Direction.INBOUND, role=None)
    assert evaluate(cease, [], US).allowed
    assert evaluate(inbound, [cease], US).allowed


def test_facts_default_to_denying() -> None:
    assert Facts() == Facts(
        party_has_contract_reference=False,
        debtor_number_invalid=False,
        attorney_unresponsive=False,
        attorney_consents_to_direct_contact=False,
    )
    guarantor = contact("2026-02-02T10:00:00+08:00", role=Role.GUARANTOR, timezone="Asia/Shanghai")
    assert evaluate(guarantor, [], CN).rules == ("cn.debtor-only",)
    assert evaluate(guarantor, [], CN, Facts(party_has_contract_reference=True)).allowed


def test_earliest_time_combines_rules_until_all_are_satisfied() -> None:
    # Three conversations today: the cap lifts at local midnight, the window at 08:00.
    history = [
        contact(
            f"2026-02-02T{h}:00:00+08:00",
            f"e{h}",
            timezone="Asia/Shanghai",
            address=f"+86138000000{h}",
            outcome=Outcome.CONVERSATION,
        )
        for h in (13, 14, 15)
    ]
    proposed = contact("2026-02-02T21:30:00+08:00", "p", timezone="Asia/Shanghai")
    decision = evaluate(proposed, history, CN)
    assert decision.rules == ("cn.voice-conversations-daily",)
    assert decision.earliest_lawful_at == datetime(2026, 2, 3, 0, 0, tzinfo=UTC)
    assert evaluate(proposed, history, CN, now=decision.earliest_lawful_at).allowed


def test_replay_judges_each_event_against_the_events_before_it() -> None:
    events = [
        contact("2026-02-02T10:00:00-05:00", "e1", outcome=Outcome.CONVERSATION),
        contact("2026-02-03T10:00:00-05:00", "e2", outcome=Outcome.NO_ANSWER),
        account(EventKind.CEASE_REQUEST, "2026-02-10T10:00:00-05:00", "e3"),
        contact("2026-02-11T10:00:00-05:00", "e4", channel=Channel.LETTER, timezone=""),
    ]
    verdicts = {event.event_id: decision.rules for event, decision in replay(events, US)}
    assert verdicts == {
        "e1": (),
        "e2": ("us-regf.call-after-conversation",),
        "e3": (),
        "e4": ("us-regf.cease",),
    }


def test_pruning_keeps_what_still_matters() -> None:
    history = History(US)
    history.record(account(EventKind.CEASE_REQUEST, "2026-01-01T10:00:00-05:00"))
    for day in range(2, 9):
        history.record(
            contact(f"2026-01-0{day}T10:00:00-05:00", debt_id="d2", outcome=Outcome.NO_ANSWER)
        )
    history.prune(datetime(2026, 1, 8, 20, tzinfo=UTC))
    # Still within the 7-day window of the calls, and the cease request never expires.
    assert evaluate(contact("2026-01-08T15:00:00-05:00", debt_id="d2"), history, US).rules == (
        "us-regf.call-7in7",
    )
    assert evaluate(contact("2026-03-01T10:00:00-05:00"), history, US).rules == ("us-regf.cease",)
    history.prune(datetime(2026, 3, 1, 12, tzinfo=UTC))
    assert evaluate(contact("2026-03-01T11:00:00-05:00", debt_id="d2"), history, US).allowed
