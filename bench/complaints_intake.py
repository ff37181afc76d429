"""Benchmark: report intake through the public form, with small evidence files.

    .venv/bin/python bench/complaints_intake.py                 # SQLite, 100/s for 30 s
    .venv/bin/python bench/complaints_intake.py --db postgresql # fairdun_bench_intake

1. Empties the bench database (``/tmp/fairdun_bench_intake.sqlite`` or PostgreSQL
   ``fairdun_bench_intake``) and registers one lender for the reports to name.
2. Starts the app under uvicorn (one process) on that database, with a fresh evidence
   directory and the per-address limit lifted (every request comes from 127.0.0.1; the
   limit itself is tested in tests/complaints).
3. **Open loop** at ``--rate`` submissions a second for ``--seconds``: each is the real
   ``POST /report`` multipart form (pre-session CSRF token, honeypot field, categories, a
   narrative, a 2×2 PNG and a 0.1 s WAV), checked from the content, image metadata
   stripped, encrypted to disk, grouped, audited, committed. Latency is measured from each
   request's planned send time, so a slow server cannot hide its queue.
4. **Nothing lost**: every receipt (tracking code and secret, read from the receipt page)
   is looked up afterwards through ``GET /api/v1/reports/case``, which must answer 200
   with both evidence files.
5. Writes ``bench/results/complaints-intake-<db>-<rate>.json``.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import re
import secrets
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave
import zlib
from pathlib import Path
from typing import Any

from benchkit import RESULTS, bench_keys, fresh_engine, log, machine

SQLITE_URL = "sqlite:////tmp/fairdun_bench_intake.sqlite"
PG_URL = "postgresql+psycopg://postgres@localhost:5432/fairdun_bench_intake"
PORT = 8766
LENDER = "示范城市商业银行"
CODE = re.compile(r'data-testid="receipt-code">([^<]+)<')
SECRET = re.compile(r'data-testid="receipt-secret">([^<]+)<')
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def wav_bytes() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 800)
    return out.getvalue()


PNG, WAV = png_bytes(), wav_bytes()
NARRATIVES = [
    "催收员每天给我打十几个电话，晚上十点以后还在打，编号{n}。",
    "催收员给我单位领导打电话说我欠钱不还，同事都知道了，编号{n}。",
    "对方自称是法院的工作人员，说明天就来抓人，编号{n}。",
    "催收员让我父母替我还钱，每天给他们打电话，编号{n}。",
]


# --- the server --------------------------------------------------------------------------------


def app_factory() -> Any:
    """The app (in each server process), the per-address limit lifted."""
    from fairdun.complaints.config import ComplaintConfig
    from fairdun.config import get_settings
    from fairdun.web.app import create_app

    app = create_app(get_settings())
    app.state.complaints = ComplaintConfig(
        evidence_dir=Path(os.environ["BENCH_EVIDENCE_DIR"]),
        reports_per_hour=10**9,
        reports_per_day=10**9,
    )
    return app


def serve(workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "complaints_intake:app_factory",
        factory=True,
        host="127.0.0.1",
        port=PORT,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


def start_server(
    url: str, evidence: str, env_keys: dict[str, str], workers: int
) -> subprocess.Popen[bytes]:
    here = str(Path(__file__).resolve().parent)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FAIRDUN_")},
        "FAIRDUN_DATABASE_URL": url,
        "FAIRDUN_ENV": "test",
        "BENCH_EVIDENCE_DIR": evidence,
        "PYTHONPATH": here + os.pathsep + os.environ.get("PYTHONPATH", ""),
        **env_keys,
    }
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, __file__, "--serve", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(150):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("the server did not start")


# --- the client --------------------------------------------------------------------------------


def multipart(
    fields: list[tuple[str, str]], files: list[tuple[str, str, str, bytes]]
) -> tuple[bytes, str]:
    boundary = "----fairdun" + secrets.token_hex(8)
    out = io.BytesIO()
    for name, value in fields:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value.encode() + b"\r\n")
    for name, filename, ctype, data in files:
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'.encode()
        )
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


class Reporter:
    """One keep-alive connection with its pre-session cookie and CSRF token."""

    def __init__(self) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        self.conn.request("GET", "/report")
        response = self.conn.getresponse()
        html = response.read().decode()
        cookie = response.getheader("set-cookie") or ""
        self.cookie = cookie.split(";", 1)[0]
        found = CSRF.search(html)
        assert found, "no CSRF token on /report"
        self.csrf = found.group(1)

    def submit(self, n: int) -> tuple[int, str | None, str | None]:
        body, ctype = multipart(
            [
                ("csrf_token", self.csrf),
                ("website", ""),
                ("reporter_kind", "borrower"),
                ("institution", LENDER),
                ("categories", "frequency"),
                ("categories", "hours"),
                ("narrative", NARRATIVES[n % len(NARRATIVES)].format(n=n)),
                ("anonymous", "1"),
            ],
            [
                ("evidence", f"shot-{n}.png", "image/png", PNG),
                ("evidence", f"call-{n}.wav", "audio/wav", WAV),
            ],
        )
        self.conn.request("POST", "/report", body, {"Content-Type": ctype, "Cookie": self.cookie})
        response = self.conn.getresponse()
        html = response.read().decode()
        code, secret = CODE.search(html), SECRET.search(html)
        return (
            response.status,
            code.group(1) if code else None,
            secret.group(1) if secret else None,
        )

    def lookup(self, code: str, secret: str) -> tuple[int, int]:
        self.conn.request(
            "GET",
            "/api/v1/reports/case",
            headers={"X-Tracking-Code": code, "X-Tracking-Secret": secret},
        )
        response = self.conn.getresponse()
        data = response.read()
        evidence = len(json.loads(data).get("evidence", [])) if response.status == 200 else 0
        return response.status, evidence


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def open_loop(rate: float, seconds: float, workers: int) -> tuple[dict[str, Any], list[Any]]:
    total = int(rate * seconds)
    clients = [Reporter() for _ in range(workers)]
    start = time.perf_counter() + 0.5
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    receipts: list[tuple[str, str]] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def work(client: Reporter) -> None:
        while True:
            with lock:
                k = next(counter, None)
            if k is None:
                return
            planned = start + k / rate
            delay = planned - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            status, code, secret = client.submit(k)
            done = time.perf_counter()
            with lock:
                latencies.append(done - planned)
                statuses[status] = statuses.get(status, 0) + 1
                if code and secret:
                    receipts.append((code, secret))

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {
        "rate": rate,
        "submissions": total,
        "seconds": round(elapsed, 1),
        "achieved_per_second": round(total / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1e3, 1),
        "p90_ms": round(percentile(latencies, 0.90) * 1e3, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1e3, 1),
        "max_ms": round(max(latencies) * 1e3, 1),
        "statuses": statuses,
        "receipts": len(receipts),
        "evidence_bytes_per_submission": len(PNG) + len(WAV),
    }, receipts


def check_all(receipts: list[tuple[str, str]]) -> dict[str, Any]:
    client = Reporter()
    found = with_evidence = 0
    t0 = time.perf_counter()
    for code, secret in receipts:
        status, evidence = client.lookup(code, secret)
        found += status == 200
        with_evidence += evidence == 2
    return {
        "looked_up": len(receipts),
        "found": found,
        "with_both_files": with_evidence,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", help="database URL (default: /tmp file, or fairdun_bench_intake)")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=32, help="open-loop client threads")
    parser.add_argument("--server-workers", type=int, default=1, help="uvicorn processes")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    url = args.url or (SQLITE_URL if args.db == "sqlite" else PG_URL)

    from fairdun.identity.principal import SYSTEM
    from fairdun.institutions import service as institutions
    from fairdun.institutions import uscc
    from fairdun.institutions.models import InstitutionKind
    from fairdun.institutions.schemas import InstitutionCreate
    from fairdun.kit.db import session_factory

    env_keys = {
        **bench_keys(),
        "FAIRDUN_SECRET_KEY": secrets.token_urlsafe(48),
    }
    engine = fresh_engine(args.db, url)
    with session_factory(engine)() as session:
        institutions.create(
            session,
            SYSTEM,
            InstitutionCreate(
                name=LENDER,
                credit_code=uscc.make("91110000100000001"),
                kind=InstitutionKind.BANK,
                licence_number="B0001",
            ),
        )
        session.commit()
    info = machine(engine)
    engine.dispose()
    evidence = tempfile.mkdtemp(prefix="fairdun-bench-evidence-")
    proc = start_server(url, evidence, env_keys, args.server_workers)
    try:
        Reporter().submit(-1)  # warm up: templates, the content checker, the name tagger
        log(f"open loop: {args.rate}/s for {args.seconds} s, {args.workers} client threads")
        intake, receipts = open_loop(args.rate, args.seconds, args.workers)
        log(json.dumps(intake))
        lookups = check_all(receipts)
        log(json.dumps(lookups))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        stored = sum(1 for p in Path(evidence).rglob("*") if p.is_file())
        shutil.rmtree(evidence, ignore_errors=True)
    result = {
        "benchmark": "complaints-intake",
        "db": args.db,
        "server_workers": args.server_workers,
        "client_threads": args.workers,
        "machine": info,
        "intake": intake,
        "lookups": lookups,
        "evidence_files_stored": stored,
        "target": {"rate": 100, "p99_ms": 200},
        "met": intake["achieved_per_second"] >= 0.98 * args.rate
        and intake["p99_ms"] < 200
        and lookups["found"] == intake["submissions"]
        and lookups["with_both_files"] == intake["submissions"],
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"complaints-intake-{args.db}-{args.rate:g}.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
