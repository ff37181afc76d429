"""Benchmark: audit replay of a contact log, incremental engine against the naive way.

    .venv/bin/python bench/replay.py --events 1000000
    .venv/bin/python bench/replay.py --events 10000000 --pack us-regf

1. Streams a synthetic contact log to a CSV file (never held in memory): a pool of
   ``--debts`` active debts (a debt is worked for about 40 days, then replaced by a new
   one), each called about once a local business day by one of 20 agencies for one of 5
   lenders, with the outcomes of a real dialer (busy, unanswered, voicemail, wrong party,
   conversations), texts while the seven-day wait after a conversation runs, a few
   third-party location calls, and rare account events (consent, cease, dispute, opt-out).
   About 1% of events break a rule on purpose (a call at 21:30, a call the day after a
   conversation, a text after an opt-out ...). Rows are written per simulated day in time
   order, with the person's local UTC offset, as a dialer export would be.
2. Times ``fairdun audit check LOG --pack PACK --format json`` in a child process (the
   real command: parse, judge, write the report), with its peak RSS, and the replay alone
   in this process (``replay.audit_log`` with a counting sink). Both in wall time and in
   CPU time (user + system of that process): other processes on the machine slow the
   wall time, much less the CPU time. The load average is recorded before each.
3. Times the naive way on ``--sample`` events after the first million (or half the log):
   for each event, rebuild the
   state from every earlier event of the same debt (what a gate that reloads and rescans
   the debtor's history for each contact does), then judge it; extrapolated per event.
4. Writes the figures and the machine to ``bench/results/replay-<events>.json``.

The machine matters: Python runs the replay on one core, and the figures drop when
another benchmark shares the machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fairdun.compliance import packs
from fairdun.compliance.engine import Decision, History
from fairdun.compliance.events import COLUMNS, ContactEvent
from fairdun.compliance.replay import LogReader, audit_log

RESULTS = Path(__file__).parent / "results"
ZONES = {
    "us-regf": ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"],
    "cn": ["Asia/Shanghai", "Asia/Urumqi"],
}
START = date(2026, 1, 5)
OUTCOMES = (
    ("not_connected", 0.20),
    ("no_answer", 0.38),
    ("voicemail", 0.15),
    ("conversation", 0.17),
    ("wrong_party", 0.10),
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Debt:
    debt_id: str
    person_id: str
    zone: str
    address: str
    collector: str
    creditor: str
    ends: int
    next_call: int = 0
    opted_out_sms: bool = False
    ceased: bool = False
    disputed: bool = False
    third_parties: list[str] = field(default_factory=list)


def _outcome(rng: random.Random) -> str:
    x = rng.random()
    for name, p in OUTCOMES:
        if x < p:
            return name
        x -= p
    return "no_answer"


def generate(path: Path, n_events: int, n_debts: int, pack_id: str, seed: int) -> int:
    """Write ``n_events`` rows (about) to ``path``; return the number written."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    zones = {name: ZoneInfo(name) for name in ZONES[pack_id]}
    zone_names = list(zones)
    serial = 0
    events = 0

    def new_debt(day: int) -> Debt:
        nonlocal serial
        serial += 1
        return Debt(
            debt_id=f"d{serial}",
            person_id=f"p{serial}",
            zone=rng.choice(zone_names),
            address=f"+1555{serial:07d}",
            collector=f"agency-{rng.randrange(20)}",
            creditor=f"bank-{rng.randrange(5)}",
            ends=day + rng.randrange(30, 50),
        )

    pool = [new_debt(0) for _ in range(n_debts)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        day = 0
        while events < n_events:
            today = START + timedelta(days=day)
            rows: list[tuple[datetime, list[object]]] = []

            def add(
                debt: Debt,
                hour: float,
                kind: str,
                today: date = today,
                rows: list[tuple[datetime, list[object]]] = rows,
                **values: object,
            ) -> None:
                wall = datetime.combine(today, datetime.min.time(), tzinfo=zones[debt.zone])
                at = wall + timedelta(hours=hour)
                row = {
                    "event_id": "",
                    "occurred_at": at.isoformat(timespec="seconds"),
                    "kind": kind,
                    "collector_id": debt.collector,
                    "creditor_id": debt.creditor,
                    "debt_id": debt.debt_id,
                    "person_id": debt.person_id,
                    "role": "debtor",
                    "channel": "",
                    "direction": "",
                    "address": "",
                    "outcome": "",
                    "purpose": "",
                    "timezone": debt.zone,
                    "staff_count": "",
                    "requested_by_person": "",
                    "content": "",
                }
                row.update(values)
                rows.append((at.astimezone(UTC), [row[c] for c in COLUMNS]))

            for index, debt in enumerate(pool):
                if day >= debt.ends:
                    debt = pool[index] = new_debt(day)
                hour = rng.uniform(9.0, 19.5)
                if rng.random() < 0.002:
                    hour = 21.5  # outside the window: a violation
                x = rng.random()
                if debt.ceased or debt.disputed:
                    if debt.disputed and rng.random() < 0.2:
                        add(debt, hour, "dispute_resolved", role="", timezone="")
                        debt.disputed = False
                    elif rng.random() < 0.01:
                        add(
                            debt,
                            hour,
                            "contact",
                            channel="call",
                            address=debt.address,
                            outcome=_outcome(rng),
                        )  # a violation
                    continue
                if x < 0.0005:
                    add(debt, hour, "cease_request", channel="letter", direction="inbound")
                    debt.ceased = True
                elif x < 0.001:
                    add(debt, hour, "dispute_opened", role="", timezone="")
                    debt.disputed = True
                elif x < 0.0015:
                    add(debt, hour, "medium_opt_out", channel="sms")
                    debt.opted_out_sms = True
                elif x < 0.0025:
                    add(debt, hour, "call_consent")
                elif x < 0.012:
                    third = f"t{debt.debt_id}-{len(debt.third_parties)}"
                    debt.third_parties.append(third)
                    add(
                        debt,
                        hour,
                        "contact",
                        person_id=third,
                        role="third_party",
                        channel="call",
                        address=f"+1666{serial:07d}",
                        purpose="locate",
                        outcome=rng.choice(("no_answer", "conversation")),
                    )
                elif day < debt.next_call and rng.random() > 0.02:
                    if not debt.opted_out_sms or rng.random() < 0.01:
                        add(
                            debt,
                            hour,
                            "contact",
                            channel="sms",
                            address=debt.address,
                            outcome="delivered",
                        )
                else:
                    outcome = _outcome(rng)
                    add(
                        debt, hour, "contact", channel="call", address=debt.address, outcome=outcome
                    )
                    if outcome == "conversation":
                        debt.next_call = day + 7
                    if rng.random() < 0.05:
                        add(
                            debt,
                            min(hour + 0.5, 20.5),
                            "contact",
                            channel="sms",
                            address=debt.address,
                            outcome="delivered",
                        )
            rows.sort(key=lambda item: item[0])
            for _, values in rows:
                events += 1
                values[0] = f"e{events}"
                writer.writerow(values)
            day += 1
    return events


def naive(path: Path, pack: packs.Pack, sample: int, skip: int) -> dict[str, float]:
    """Judge ``sample`` events, after the first ``skip``, by rebuilding the debt's state
    from all its earlier events each time; the earlier events are kept in memory."""
    earlier: dict[str, list[ContactEvent]] = defaultdict(list)
    judged = 0
    scanned = 0
    seconds = 0.0
    for position, event in enumerate(LogReader(path, "csv")):
        if judged >= sample:
            break
        before = earlier[event.debt_id]
        if position >= skip:
            started = time.perf_counter()
            History.from_events(pack, before).judge(event)
            seconds += time.perf_counter() - started
            scanned += len(before)
            judged += 1
        before.append(event)
    return {
        "events": judged,
        "after_events": skip,
        "seconds": round(seconds, 3),
        "events_per_second": round(judged / seconds),
        "mean_history_rescanned": round(scanned / max(judged, 1), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--debts", type=int, default=50_000, help="active debts at any time")
    parser.add_argument("--pack", default="us-regf", choices=sorted(ZONES))
    parser.add_argument("--sample", type=int, default=100_000, help="events judged the naive way")
    parser.add_argument("--log", type=Path, default=None, help="where to write the log")
    parser.add_argument("--keep", action="store_true", help="keep the generated log")
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument(
        "--reuse", action="store_true", help="replay the log at --log if it exists (no new log)"
    )
    args = parser.parse_args()

    log_path = args.log or Path(tempfile.gettempdir()) / f"fairdun_replay_{args.events}.csv"
    pack = packs.load(args.pack)
    if args.reuse and log_path.exists():
        with log_path.open("rb") as handle:
            written = sum(1 for _ in handle) - 1
        generate_seconds = 0.0
        log(f"reusing {log_path}: {written} events")
    else:
        log(f"writing {args.events} events to {log_path}")
        started = time.perf_counter()
        written = generate(log_path, args.events, args.debts, args.pack, args.seed)
        generate_seconds = time.perf_counter() - started
    size_mb = log_path.stat().st_size / 1e6
    log(f"wrote {written} events ({size_mb:.0f} MB) in {generate_seconds:.0f} s")

    load_before_cli = os.getloadavg()
    log(f"fairdun audit check (child process), load average {load_before_cli}")
    report = Path(tempfile.gettempdir()) / f"fairdun_replay_{args.events}.report.json"
    command = [
        sys.executable,
        "-m",
        "fairdun",
        "audit",
        "check",
        str(log_path),
        "--pack",
        args.pack,
        "--format",
        "json",
        "--output",
        str(report),
    ]
    started = time.perf_counter()
    child = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    cli_seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cli_rss_mb = children.ru_maxrss / 1024
    cli_cpu = children.ru_utime + children.ru_stime
    if child.returncode not in (0, 1):
        sys.exit(f"audit check failed ({child.returncode}): {child.stderr}")
    summary = json.loads(report.read_text(encoding="utf-8"))
    log(
        f"  {child.stderr.strip()} in {cli_seconds:.1f} s ({cli_cpu:.1f} s CPU), "
        f"peak RSS {cli_rss_mb:.0f} MB"
    )

    load_before_replay = os.getloadavg()
    log(f"replay in process (counting sink), load average {load_before_replay}")
    denied: list[int] = [0]

    def count(event: ContactEvent, decision: Decision) -> None:
        denied[0] += 1

    started = time.perf_counter()
    cpu_started = time.process_time()
    result = audit_log(log_path, pack, count, fmt="csv")
    replay_seconds = time.perf_counter() - started
    replay_cpu = time.process_time() - cpu_started
    log(f"  {result.events} events in {replay_seconds:.1f} s ({replay_cpu:.1f} s CPU)")
    replay_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert result.events == written
    assert not result.errors
    assert result.violations == len(summary["violations"])

    skip = min(written // 2, 1_000_000)
    log(f"naive replay of {args.sample} events after the first {skip}")
    slow = naive(log_path, pack, min(args.sample, written - skip), skip)
    naive_total = written / slow["events_per_second"]

    figures = {
        "events": written,
        "pack": f"{pack.id} {pack.effective_version}",
        "active_debts": args.debts,
        "log_mb": round(size_mb, 1),
        "violations": result.violations,
        "events_with_violations": result.denied_events,
        "by_rule": dict(result.by_rule.most_common()),
        "generate_seconds": round(generate_seconds, 1),
        "audit_check_cli": {
            "seconds": round(cli_seconds, 2),
            "events_per_second": round(written / cli_seconds),
            "cpu_seconds": round(cli_cpu, 2),
            "events_per_cpu_second": round(written / cli_cpu),
            "peak_rss_mb": round(cli_rss_mb, 1),
            "load_average_before": load_before_cli,
        },
        "replay_in_process": {
            "seconds": round(replay_seconds, 2),
            "events_per_second": round(written / replay_seconds),
            "cpu_seconds": round(replay_cpu, 2),
            "events_per_cpu_second": round(written / replay_cpu),
            "load_average_before": load_before_replay,
            # Peak of this process so far: generating the log, then the replay.
            "peak_rss_mb_before_naive": round(replay_rss_mb, 1),
        },
        "naive_rescan_per_debt": {
            **slow,
            "extrapolated_seconds_for_all_events": round(naive_total, 1),
            "note": "grows with the history per debt; it also holds every event read in memory",
        },
        "speedup_vs_naive": round(naive_total / replay_seconds, 1),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "load_average_at_end": os.getloadavg(),
        },
        "command": " ".join(["bench/replay.py", *sys.argv[1:]]),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"replay-{args.events}.json"
    out.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    log(f"results in {out}")
    report.unlink(missing_ok=True)
    if not args.keep:
        log_path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
