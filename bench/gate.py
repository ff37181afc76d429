"""Benchmark: the contact gate over HTTP, and the rule engine alone, side by side.

    .venv/bin/python bench/gate.py --db sqlite
    .venv/bin/python bench/gate.py --db postgresql

1. Empties the gate's bench database (``/tmp/fairdun_bench_gate.sqlite`` or PostgreSQL
   ``fairdun_bench_gate``), books ``--loans`` loans through the services, gives each
   debtor a phone number whose time zone puts it in the middle of the day while the
   benchmark runs (so the time window lets calls through and the caps decide), and issues
   a collector's API token.
2. Starts ``fairdun serve`` (one uvicorn process) on that database.
3. **Open loop** at ``--rate`` requests a second for ``--seconds``: each request has a
   planned send time; latency is measured from that planned time to the response, so a
   slow server cannot hide its queue (no coordinated omission). Every request is
   ``POST /api/v1/contacts/authorize`` for a call to a random loan's debtor: decided,
   stored, audited, reserved when allowed.
4. **Closed loop**: ``--threads`` clients back to back for ``--seconds``: the most
   decisions a second this server gives.
5. **The engine alone**: ``History.judge`` in process, with the same pack and a history of
   calls like the server's, per decision.
6. Writes ``bench/results/gate-<db>.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from benchkit import RESULTS, bench_keys, bench_lender, fresh_engine, log, machine
from sqlalchemy import Engine

from fairdun.compliance import packs
from fairdun.compliance.engine import History
from fairdun.compliance.events import Channel, ContactEvent, EventKind, Outcome, Role
from fairdun.contacts import service as contacts
from fairdun.contacts.schemas import PointCreate
from fairdun.identity import service as identity
from fairdun.identity.models import Role as UserRole
from fairdun.identity.principal import SYSTEM
from fairdun.identity.schemas import ApiTokenCreate
from fairdun.institutions import uscc
from fairdun.kit.db import session_factory
from fairdun.loans import service as loans
from fairdun.loans.apr import default_caps
from fairdun.loans.schemas import BorrowerCreate, LoanCreate

SQLITE_URL = "sqlite:////tmp/fairdun_bench_gate.sqlite"
PG_URL = "postgresql+psycopg://postgres@localhost:5432/fairdun_bench_gate"
PORT = 8765


def midday_zone(now: datetime) -> str:
    """An IANA zone where it is about 13:00 now (Etc/GMT+N is N hours west of UTC)."""
    west = (now.hour - 13) % 24
    if west > 12:
        west -= 24
    return "Etc/GMT" if west == 0 else f"Etc/GMT{'+' if west > 0 else '-'}{abs(west)}"


def seed(engine: Engine, n_loans: int, zone: str) -> tuple[str, list[tuple[int, int, int]]]:
    """The lender, its loans and debtors' numbers; returns the token and (loan, party,
    point) of every loan."""
    factory = session_factory(engine)
    caps = loans.CapPolicy(default_caps()[:2], default_caps()[0])
    targets: list[tuple[int, int, int]] = []
    with factory() as session:
        inst_id, product_id, admin = bench_lender(
            session, "Gate Bench Bank", uscc.make("91110000100000002")
        )
        now = datetime.now(UTC)
        for i in range(n_loans):
            borrower = loans.create_borrower(
                session, admin, BorrowerCreate(external_id=f"GB{i}", name="Bench Borrower")
            )
            loan = loans.create_loan(
                session,
                admin,
                LoanCreate(
                    external_id=f"GL{i}",
                    borrower_id=borrower.id,
                    product_id=product_id,
                    principal=1_200_000,
                    annual_rate="0.18",
                    term_months=12,
                    start_date=date(2026, 1, 15),
                    method="equal_instalment",
                ),
                today=now.date(),
                caps=caps,
            )
            party = contacts.ensure_debtor_party(session, loan)
            point = contacts.add_point(
                session,
                admin,
                party.id,
                PointCreate(
                    kind="phone",
                    value=f"+86 139 {i:08d}",
                    source="borrower_provided",
                    timezone=zone,
                ),
                now,
            )
            targets.append((loan.id, party.id, point.id))
        _, secret = identity.issue_api_token(
            session,
            SYSTEM,
            ApiTokenCreate(name="dialer", role=UserRole.COLLECTOR, institution_id=inst_id),
        )
        session.commit()
    return secret, targets


def start_server(url: str, env_keys: dict[str, str], workers: int) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FAIRDUN_")},
        "FAIRDUN_DATABASE_URL": url,
        "FAIRDUN_LOG_LEVEL": "warning",
        **env_keys,
    }
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "fairdun", "serve", "--port", str(PORT), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("the server did not start")


class Client:
    """One keep-alive connection."""

    def __init__(self, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def authorize(self, target: tuple[int, int, int]) -> tuple[int, bool]:
        loan_id, party_id, point_id = target
        body = json.dumps(
            {"loan_id": loan_id, "party_id": party_id, "point_id": point_id, "channel": "call"}
        )
        self.conn.request("POST", "/api/v1/contacts/authorize", body, self.headers)
        response = self.conn.getresponse()
        data = response.read()
        allowed = response.status == 200 and json.loads(data).get("allowed") is True
        return response.status, allowed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def open_loop(
    token: str, targets: list[tuple[int, int, int]], rate: float, seconds: float, workers: int
) -> dict[str, Any]:
    total = int(rate * seconds)
    start = time.perf_counter() + 0.5
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    allowed = 0
    lock = threading.Lock()
    counter = iter(range(total))
    rng = random.Random(1)  # noqa: S311 - a reproducible load, not a secret
    chosen = [rng.choice(targets) for _ in range(total)]

    def work() -> None:
        nonlocal allowed
        client = Client(token)
        while True:
            with lock:
                k = next(counter, None)
            if k is None:
                return
            planned = start + k / rate
            delay = planned - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            status, ok = client.authorize(chosen[k])
            done = time.perf_counter()
            with lock:
                latencies.append(done - planned)
                statuses[status] = statuses.get(status, 0) + 1
                allowed += ok

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {
        "rate": rate,
        "requests": total,
        "seconds": round(elapsed, 1),
        "achieved_per_second": round(total / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1e3, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1e3, 1),
        "max_ms": round(max(latencies) * 1e3, 1),
        "statuses": statuses,
        "allowed": allowed,
    }


def closed_loop(
    token: str, targets: list[tuple[int, int, int]], threads_n: int, seconds: float
) -> dict[str, Any]:
    stop = time.perf_counter() + seconds
    counts = [0] * threads_n
    latencies: list[float] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        client = Client(token)
        rng = random.Random(i)  # noqa: S311 - a reproducible load, not a secret
        mine: list[float] = []
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            client.authorize(rng.choice(targets))
            mine.append(time.perf_counter() - t0)
            counts[i] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(threads_n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return {
        "threads": threads_n,
        "decisions": sum(counts),
        "per_second": round(sum(counts) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1e3, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1e3, 1),
    }


def engine_alone(decisions: int) -> dict[str, Any]:
    """``History.judge`` on a call to a debtor who had a few calls already, as the gate
    judges it, without the database or HTTP."""
    pack = packs.load("cn")
    now = datetime.now(UTC).replace(microsecond=0)
    zone = midday_zone(now)
    history = History(pack)
    for k in range(4):
        history.record(
            ContactEvent(
                event_id=f"e{k}",
                occurred_at=now - timedelta(hours=4 - k),
                kind=EventKind.CONTACT,
                collector_id="lender",
                creditor_id="lender",
                debt_id="debt",
                person_id="person",
                role=Role.DEBTOR,
                channel=Channel.CALL,
                address="+8613900000000",
                outcome=Outcome.NO_ANSWER,
                timezone=zone,
            )
        )
    proposed = ContactEvent(
        event_id="p",
        occurred_at=now,
        kind=EventKind.CONTACT,
        collector_id="lender",
        creditor_id="lender",
        debt_id="debt",
        person_id="person",
        role=Role.DEBTOR,
        channel=Channel.CALL,
        address="+8613900000000",
        timezone=zone,
    )
    t0 = time.perf_counter()
    for _ in range(decisions):
        decision = history.judge(proposed)
    elapsed = time.perf_counter() - t0
    return {
        "decisions": decisions,
        "us_per_decision": round(elapsed / decisions * 1e6, 2),
        "allowed": decision.allowed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", help="database URL (default: /tmp file, or fairdun_bench_gate)")
    parser.add_argument("--loans", type=int, default=2_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=32, help="open-loop client threads")
    parser.add_argument("--threads", type=int, default=8, help="closed-loop client threads")
    parser.add_argument("--server-workers", type=int, default=1, help="fairdun serve --workers")
    args = parser.parse_args()
    url = args.url or (SQLITE_URL if args.db == "sqlite" else PG_URL)

    env_keys = bench_keys()
    engine = fresh_engine(args.db, url)
    zone = midday_zone(datetime.now(UTC))
    log(f"seeding {args.loans:,} loans; debtors' numbers in {zone} (about 13:00 there now)")
    token, targets = seed(engine, args.loans, zone)
    server = start_server(url, env_keys, args.server_workers)
    try:
        log(f"open loop: {args.rate:g} requests/s for {args.seconds:g} s")
        opened = open_loop(token, targets, args.rate, args.seconds, args.workers)
        log(f"open loop: {opened}")
        log(f"closed loop: {args.threads} threads for {args.seconds:g} s")
        closed = closed_loop(token, targets, args.threads, args.seconds)
        log(f"closed loop: {closed}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    alone = engine_alone(100_000)
    log(f"engine alone: {alone}")
    result = {
        "db": args.db,
        "loans": args.loans,
        "server_workers": args.server_workers,
        "open_loop": opened,
        "closed_loop": closed,
        "engine_alone": alone,
        "load_average": os.getloadavg(),
        "machine": machine(engine),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"gate-{args.db}-{args.server_workers}w.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"results in {out}")
    engine.dispose()


if __name__ == "__main__":
    main()
