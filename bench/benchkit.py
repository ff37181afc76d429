"""Helpers shared by the benchmarks: logging, peak memory, a fresh database, the machine."""

from __future__ import annotations

import base64
import os
import platform
import resource
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from fairdun.identity.principal import Principal
from fairdun.kit import crypto, migrate
from fairdun.kit.db import make_engine

SQLITE_URL = "sqlite:////tmp/fairdun_bench.sqlite"
PG_URL = "postgresql+psycopg://postgres@localhost:5432/fairdun_bench"
RESULTS = Path(__file__).parent / "results"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def children_peak_rss_mb() -> float:
    """Largest peak RSS of any child process waited for so far."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


# --------------------------------------------------------------------------- database


def fresh_engine(db: str, url: str) -> Engine:
    """An empty, migrated database. Only ever drops the bench's own database."""
    if db == "sqlite":
        path = Path(make_url(url).database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        engine = make_engine(url)
    else:
        name = make_url(url).database or ""
        if not name.startswith("fairdun_bench"):
            sys.exit(f"refusing to reset database {name!r}: the bench uses fairdun_bench only")
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(engine)
    return engine


def machine(engine: Engine | None = None) -> dict[str, Any]:
    """The CPU, memory, OS, Python and (given an engine) the database of a run, and the
    load average when it started (a busy machine explains slow figures)."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                ram_kb = int(line.split()[1])
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(ram_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    if engine is None:
        return info
    if engine.dialect.name == "sqlite":
        info["database"] = f"SQLite {sqlite3.sqlite_version}"
    else:
        with engine.connect() as conn:
            info["database"] = conn.execute(text("SHOW server_version")).scalar_one()
            info["database"] = f"PostgreSQL {info['database']}"
    return info


def bench_lender(session: Session, name: str, credit_code: str) -> tuple[int, int, Principal]:
    """A bank with product ``cash`` (default rules), through the services: (institution id,
    product id, its administrator)."""
    from fairdun.identity.models import Role
    from fairdun.identity.principal import SYSTEM
    from fairdun.institutions import service as institutions
    from fairdun.institutions.models import InstitutionKind
    from fairdun.loans import service as loans
    from fairdun.loans.schemas import ProductCreate

    inst = institutions.create(
        session,
        SYSTEM,
        institutions.InstitutionCreate(
            name=name,
            credit_code=credit_code,
            kind=InstitutionKind.BANK,
            licence_number=f"L-{credit_code[-6:]}",
        ),
    )
    admin = Principal(role=Role.INSTITUTION_ADMIN, institution_id=inst.id, name="bench")
    product = loans.create_product(session, admin, ProductCreate(code="cash", name="cash"))
    return inst.id, product.id, admin


def bench_keys() -> dict[str, str]:
    """Fresh random data and blind-index keys, configured for this process; the returned
    ``FAIRDUN_*`` variables give a child process (a server, the CLI) the same keys."""
    key = base64.b64encode(os.urandom(32)).decode()
    index_key = base64.b64encode(os.urandom(32)).decode()
    crypto.configure(crypto.KeyRing.from_settings(f"b1:{key}", "b1", index_key))
    return {
        "FAIRDUN_DATA_KEYS": f"b1:{key}",
        "FAIRDUN_ACTIVE_KEY_ID": "b1",
        "FAIRDUN_BLIND_INDEX_KEY": index_key,
    }
