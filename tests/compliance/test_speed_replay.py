"""The fast replay gives exactly the verdicts of the plain one.

The audit replay reads CSV a block at a time with Arrow, caches local times per time zone
and UTC minute, asks each event only the rules that can matter to it (dispatch tables
built from ``RuleRuntime.judges`` / ``observes_event``, gated rules only for marked debts
and persons). Each shortcut is checked here against the plain way on random logs.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fairdun.compliance import packs, replay
from fairdun.compliance.engine import Decision, History, epoch_us
from fairdun.compliance.engine import replay as replay_events
from fairdun.compliance.events import COLUMNS, ContactEvent, parse_record
from fairdun.compliance.rules import RuleRuntime, local_of

ZONES = [
    "America/New_York",
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "America/St_Johns",  # -03:30 with DST
    "Australia/Lord_Howe",  # half-hour DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "Europe/Dublin",  # negative DST in the tz database
    "Asia/Shanghai",
    "Asia/Peking",  # not a zone: a missing fact
    "",
]
KINDS = ["contact"] * 30 + [
    "cease_request",
    "dispute_opened",
    "dispute_resolved",
    "attorney_retained",
    "medium_opt_out",
    "call_consent",
    "contact_refused",
    "contact_agreement",
]
ROLES = ["debtor"] * 8 + [
    "co_obligor",
    "guarantor",
    "spouse",
    "attorney",
    "contact_person",
    "third_party",
    "employer",
    "",
]
CHANNELS = ["call"] * 6 + ["sms", "email", "letter", "visit", "push", "im", ""]
OUTCOMES = ["not_connected", "no_answer", "voicemail", "conversation", "conversation"]
OUTCOMES += ["wrong_party", "delivered", "failed", ""]
PURPOSES = ["collect"] * 5 + ["locate", "required_notice", "response", "opt_out_confirmation", ""]


def random_log(seed: int, n: int) -> str:
    """A CSV log in time order touching every kind, role, channel and odd time zone,
    around the DST changes of March and October/November 2026."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 7, tzinfo=UTC) if seed % 2 else datetime(2026, 10, 24, tzinfo=UTC)
    at = start
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n" if seed % 3 else "\r\n")
    writer.writerow(COLUMNS)
    for i in range(n):
        at += timedelta(seconds=rng.choice([0, 1, 59, 600, 1800, 3600, 5400, 20000]))
        if rng.random() < 0.1:
            at += timedelta(microseconds=rng.randrange(1, 1_000_000))
        kind = rng.choice(KINDS)
        zone = rng.choice(ZONES)
        shown = rng.random()
        if shown < 0.3 and zone and zone != "Asia/Peking":
            text = at.astimezone(ZoneInfo(zone)).isoformat()
        elif shown < 0.5:
            text = at.isoformat().replace("+00:00", "Z")
        else:
            hours, minutes = rng.randint(-11, 13), rng.choice([0, 30, 45])
            text = at.astimezone(timezone(timedelta(hours=hours, minutes=minutes))).isoformat()
        row: dict[str, Any] = {
            "event_id": f"e{i}",
            "occurred_at": text,
            "kind": kind,
            "collector_id": rng.choice(["c1", "c2"]),
            "creditor_id": rng.choice(["", "", "b1"]),
            "debt_id": f"d{rng.randrange(5)}",
            "person_id": f"p{rng.randrange(4)}",
            "role": rng.choice(ROLES),
            "channel": rng.choice(CHANNELS),
            "direction": rng.choice(["", "", "outbound", "inbound"]),
            "address": rng.choice(["", "+1", "+2", "a@b"]),
            "outcome": rng.choice(OUTCOMES),
            "purpose": rng.choice(PURPOSES),
            "timezone": zone,
            "staff_count": rng.choice(["", "1", "2"]),
            "requested_by_person": rng.choice(["", "", "true", "false"]),
            "content": "",
        }
        if kind == "contact_agreement":
            row["content"] = rng.choice(["09:00-18:00", "07:00-23:00", "10:30-11:00"])
        if kind == "medium_opt_out" and not row["channel"] and not row["address"]:
            row["channel"] = "sms"
        writer.writerow([row[c] for c in COLUMNS])
    return out.getvalue()


def plain_events(text: str) -> list[ContactEvent]:
    """The log read row by row through parse_record (no fast path)."""
    return [parse_record(row) for row in csv.DictReader(io.StringIO(text))]


def verdicts(
    pairs: list[tuple[ContactEvent, Decision]],
) -> list[tuple[str, tuple[Any, ...], datetime | None]]:
    return [
        (
            event.event_id,
            tuple(
                (v.rule, v.message, v.message_zh, v.earliest_lawful_at) for v in decision.violations
            ),
            decision.earliest_lawful_at,
        )
        for event, decision in pairs
        if not decision.allowed
    ]


def audit(path: Path, pack: packs.Pack) -> list[tuple[ContactEvent, Decision]]:
    found: list[tuple[ContactEvent, Decision]] = []
    result = replay.audit_log(path, pack, lambda e, d: found.append((e, d)), fmt="csv")
    assert not result.errors
    return found


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 4 KB, so that a small log crosses many block boundaries."""
    monkeypatch.setattr(replay, "_BLOCK", 4096)


@pytest.mark.parametrize("pack_id", ["us-regf", "cn"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_fast_audit_gives_the_verdicts_of_a_plain_replay(
    tmp_path: Path, small_blocks: None, pack_id: str, seed: int
) -> None:
    text = random_log(seed, 3000)
    path = tmp_path / "log.csv"
    path.write_text(text, encoding="utf-8")
    pack = packs.load(pack_id)
    plain = list(replay_events(plain_events(text), pack))
    assert verdicts(audit(path, pack)) == verdicts(plain)
    assert len(verdicts(plain)) > 100
    events = plain_events(text)
    assert list(replay.LogReader(path, "csv")) == events


def test_dispatch_tables_and_gates_skip_only_rules_that_cannot_matter() -> None:
    events = plain_events(random_log(4, 3000))
    for pack_id in ("us-regf", "cn"):
        pack = packs.load(pack_id)
        fast = History(pack)
        slow = History(pack)  # every rule asked about every event
        for rule in slow.rules:
            rule.judges = lambda *args: True  # type: ignore[method-assign]
            rule.observes_event = partial(kind_observed, rule)  # type: ignore[method-assign]
            rule.gate = None  # type: ignore[misc]
        for index, event in enumerate(events):
            assert fast.step(event) == slow.step(event), event
            if index % 500 == 499:  # pruning rebuilds the marks of the gated rules
                fast.prune(event.occurred_at)
                slow.prune(event.occurred_at)


def kind_observed(rule: RuleRuntime, kind: object, *rest: object) -> bool:
    return kind in rule.observes


@pytest.mark.parametrize("zone_name", [z for z in ZONES if z and z != "Asia/Peking"])
def test_cached_local_times_equal_astimezone(zone_name: str) -> None:
    history = History(packs.load("us-regf"))
    zone = ZoneInfo(zone_name)
    rng = random.Random(zone_name)
    moments = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=7 * i) for i in range(80_000)]
    moments += [datetime(1900 + rng.randrange(130), 1, 1, tzinfo=UTC) for _ in range(200)]
    for at in moments:
        at += timedelta(seconds=rng.randrange(60), microseconds=rng.randrange(1_000_000))
        event = ContactEvent("e", at, timezone=zone_name)
        us = epoch_us(at)
        expected = local_of(at, zone, us)
        assert history.local(event) == expected
        zone_found, day, minute = history._minute_of(event, us)
        assert (zone_found, day, minute) == (zone, expected.day, expected.minute)


def test_epoch_us_is_exact() -> None:
    for text in [
        "2026-03-08T01:59:59.999999-05:00",
        "1969-12-31T23:59:59.000001+00:00",
        "2026-01-05T09:00:02+05:45",
        "1900-01-01T00:00:00-00:44:30",
    ]:
        at = datetime.fromisoformat(text)
        assert epoch_us(at) == (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def test_a_bad_row_in_a_later_block_is_named_exactly(tmp_path: Path, small_blocks: None) -> None:
    lines = random_log(5, 2000).splitlines(keepends=True)
    lines[1500] = lines[1500].replace(",contact,", ",kontakt,", 1)
    lines[1700] = lines[1700] + "\n"  # a blank line: counted as a row by the csv module
    lines[1800] = lines[1200]  # out of order
    path = tmp_path / "log.csv"
    path.write_text("".join(lines), encoding="utf-8")
    reader = replay.LogReader(path, "csv")
    read = list(reader)
    plain = plain_events("".join(lines[:1500]))
    assert read == plain
    messages = [str(error) for error in reader.errors]
    assert messages[0].startswith(f"{path}: row 1501, column kind: unknown value 'kontakt'")
    assert any("row 1802, column occurred_at: out of time order" in m for m in messages)


def test_quoted_fields_and_a_bom_read_as_the_csv_module_reads_them(tmp_path: Path) -> None:
    text = random_log(6, 500)
    lines = text.splitlines(keepends=True)
    lines[300] = '"' + lines[300].replace(",", '",', 1)  # "e300",...
    quoted = "\ufeff" + "".join(lines)
    path = tmp_path / "log.csv"
    path.write_text(quoted, encoding="utf-8")
    assert list(replay.LogReader(path, "csv")) == plain_events(quoted.lstrip("\ufeff"))
