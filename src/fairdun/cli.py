"""The `fairdun` command. Each command is a boundary: it opens the unit of work and commits."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from fairdun import __version__
from fairdun.complaints.cli import complaints_app
from fairdun.compliance.cli import audit_check, policy_app
from fairdun.config import ConfigError, Settings, load_settings
from fairdun.content.cli import content_app
from fairdun.loans.import_columns import Kind
from fairdun.outbox.cli import outbox_app, worker
from fairdun.risk.cli import lists_app, risk_app

if TYPE_CHECKING:
    from datetime import date

    from sqlalchemy.orm import Session

    from fairdun.kit.keys import RotationReport
    from fairdun.loans.importer import ImportOutcome

app = typer.Typer(
    help="fairdun: lawful and humane handling of overdue consumer loans.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys for personal data.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
users_app = typer.Typer(help="Users.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
app.add_typer(policy_app, name="policy")
audit_app.command("check")(audit_check)
import_app = typer.Typer(
    help="Import borrowers, loans and payments from CSV or Parquet files, all or nothing "
    "(columns and samples: examples/README.md).",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")
app.add_typer(outbox_app, name="outbox")
app.add_typer(content_app, name="content")
app.add_typer(complaints_app, name="complaints")
app.add_typer(risk_app, name="risk")
app.add_typer(lists_app, name="lists")
app.command("worker")(worker)

console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        err.print(f"[bold red]configuration error:[/] {exc}")
        raise typer.Exit(2) from None


def _engine_and_keys(settings: Settings):  # type: ignore[no-untyped-def]
    from fairdun.kit import crypto
    from fairdun.kit.db import make_engine, session_factory

    try:
        crypto.configure(
            crypto.KeyRing.from_settings(
                settings.data_keys, settings.active_key_id, settings.blind_index_key
            )
        )
    except crypto.CryptoKeyError as exc:
        err.print(f"[bold red]key error:[/] {exc}")
        raise typer.Exit(2) from None
    engine = make_engine(settings.database_url)
    return engine, session_factory(engine)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _print_version(value: bool) -> None:
    if value:
        console.print(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """fairdun: lawful and humane handling of overdue consumer loans."""


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply the Alembic migrations to the configured database."""
    from fairdun.kit import migrate

    settings = _settings()
    engine, _ = _engine_and_keys(settings)
    before = migrate.current_revision(engine)
    migrate.upgrade(engine, revision)
    after = migrate.current_revision(engine)
    console.print(
        f"database {engine.url.render_as_string(hide_password=True)}: "
        f"{before or 'empty'} -> {after}"
    )


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision and the newest one known."""
    from fairdun.kit import migrate

    engine, _ = _engine_and_keys(_settings())
    console.print(
        f"current: {migrate.current_revision(engine) or 'empty'}; head: {migrate.head_revision()}"
    )


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new random 256-bit key (data keys, blind index key, secret key)."""
    from fairdun.kit.crypto import generate_key

    console.print(generate_key())


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt all personal data under FAIRDUN_ACTIVE_KEY_ID.

    Add the new key to FAIRDUN_DATA_KEYS, make it active, run this, then retire the old key.
    """
    from fairdun.kit import keys
    from fairdun.kit.crypto import CryptoKeyError
    from fairdun.kit.db import unit_of_work

    settings = _settings()
    _, factory = _engine_and_keys(settings)
    try:
        with unit_of_work(factory) as session:
            total = keys.count_values(session)
            with _progress() as progress:
                task = progress.add_task("re-encrypting", total=total)
                report = keys.rotate(session, progress=lambda n: progress.advance(task, n))
            _audit_rotation(session, settings, report)
    except CryptoKeyError as exc:
        err.print(f"[bold red]key error, nothing re-encrypted:[/] {exc}")
        raise typer.Exit(2) from None
    console.print(
        f"scanned {report.scanned} values, "
        f"re-encrypted {report.rotated} under key {settings.active_key_id!r}"
    )


def _audit_rotation(session: Session, settings: Settings, report: RotationReport) -> None:
    from fairdun.audit import service as audit

    audit.record(
        session,
        actor="cli",
        action="keys.rotated",
        details={
            "active_key_id": settings.active_key_id,
            "scanned": report.scanned,
            "rotated": report.rotated,
            "by_column": report.by_column,
        },
    )


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the hash chain; exit 1 and name the first broken record if any."""
    from collections.abc import Iterator

    from fairdun.audit import repository
    from fairdun.audit.chain import Entry, verify
    from fairdun.kit.db import unit_of_work

    settings = _settings()
    _, factory = _engine_and_keys(settings)
    with unit_of_work(factory) as session:
        total = repository.count(session)
        with _progress() as progress:
            task = progress.add_task("verifying", total=total)

            def entries() -> Iterator[Entry]:
                for entry in repository.iter_entries(session):
                    progress.advance(task)
                    yield entry

            result = verify(entries())
        head = repository.head_hash(session)
    if result.ok:
        # Keep the head hash somewhere outside this database (a report, a ticket): a chain
        # cut short at its end can only be detected against an earlier head kept elsewhere.
        console.print(f"audit chain intact: {result.checked} records verified; head {head}")
        return
    err.print(f"[bold red]audit chain broken at record {result.broken_id}:[/] {result.problem}")
    raise typer.Exit(1)


@users_app.command("create-admin")
def create_admin(
    username: Annotated[str, typer.Argument(help="Log-in name of the platform administrator.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "Platform administrator",
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
) -> None:
    """Create the first platform administrator (production bootstrap)."""
    from pydantic import ValidationError

    from fairdun.identity import service
    from fairdun.identity.models import Role
    from fairdun.identity.principal import SYSTEM
    from fairdun.identity.schemas import UserCreate
    from fairdun.kit.db import unit_of_work
    from fairdun.kit.errors import DomainError

    _, factory = _engine_and_keys(_settings())
    try:
        with unit_of_work(factory) as session:
            service.create_user(
                session,
                SYSTEM,
                UserCreate(
                    username=username,
                    display_name=name,
                    role=Role.PLATFORM_ADMIN,
                    password=password,
                ),
            )
    except (ValidationError, DomainError) as exc:
        err.print(f"[bold red]not created:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(f"platform administrator {username!r} created")


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (FAIRDUN_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (FAIRDUN_PORT).")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes. One process uses one core; several share the port, "
            "each with its own database pool (SQLite allows one writer at a time).",
        ),
    ] = 1,
) -> None:
    """Run the web server (migrate first with `fairdun db upgrade`)."""
    import uvicorn

    from fairdun.web.app import create_app

    settings = _settings()
    common: dict[str, Any] = {
        "host": host or settings.host,
        "port": port or settings.port,
        "log_level": settings.log_level,
        "proxy_headers": settings.is_production,
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **common)
    else:
        # Each process builds its app from the same FAIRDUN_* environment.
        uvicorn.run("fairdun.web.app:create_app", factory=True, workers=workers, **common)


@app.command("demo")
def demo(
    port: Annotated[int | None, typer.Option(help="Port (default FAIRDUN_PORT, 8000).")] = None,
    serve_: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the web server after seeding.")
    ] = True,
    loans: Annotated[
        int, typer.Option(min=0, help="Loans in the demo portfolio (first run only).")
    ] = 5000,
) -> None:
    """Create or reuse the embedded database, load demo data, and serve the platform."""
    from fairdun.demo import seed
    from fairdun.kit import migrate
    from fairdun.kit.clock import utcnow
    from fairdun.kit.db import unit_of_work
    from fairdun.loans.batch import recompute_as_of
    from fairdun.loans.service import CapPolicy

    settings = _settings()
    if settings.is_production:
        err.print("[bold red]refusing:[/] demo data is never loaded in production")
        raise typer.Exit(2)
    engine, factory = _engine_and_keys(settings)
    reused = migrate.current_revision(engine) is not None
    migrate.upgrade(engine)
    with unit_of_work(factory) as session:
        fresh = not seed.is_seeded(session)
        logins = seed.seed(session)
    today = utcnow().date()
    with unit_of_work(factory) as session:
        if loans and not seed.portfolio_seeded(session):
            caps = CapPolicy.from_ids(
                settings.rate_caps, settings.collectable_cap, settings.one_year_lpr
            )
            with _progress() as progress:
                task = progress.add_task(f"booking {loans} demo loans", total=loans)
                seed.seed_portfolio(
                    session,
                    as_of=today,
                    caps=caps,
                    n_loans=loans,
                    progress=lambda n: progress.advance(task, n),
                )
            seed.link_demo_borrower(session)
        booked = seed.portfolio_seeded(session)
        if booked:
            # A database reused on a later day: move every open loan to today (set-based).
            recompute_as_of(session, today)
    if booked:
        from fairdun.risk.demo import seed_risk

        with console.status("risk control: model, scores, lists and limits"):
            risk = seed_risk(engine, factory, settings, today)
        if risk.model_id:
            how = "trained on the demo ledger" if risk.trained else "reused"
            console.print(
                f"risk model {risk.model_id} ({how}): {risk.scored} loans scored today, "
                f"{risk.decisions} limit/rate decisions"
            )
        else:
            console.print(
                f"risk model: none ({risk.problem}); {risk.decisions} limit/rate decisions"
            )
    url = f"http://{settings.host}:{port or settings.port}/"
    console.print(
        f"database: {engine.url.render_as_string(hide_password=True)} "
        f"({'reused' if reused and not fresh else 'created'})"
    )
    table = Table(title=f"demo logins (password for all: {seed.DEMO_PASSWORD})")
    for column in ("username", "role", "institution"):
        table.add_column(column)
    for login in logins:
        table.add_row(login.username, login.role.value, login.institution)
    console.print(table)
    console.print(f"demo portfolio: {booked} loans, state as of {today}")
    console.print(f"[bold green]fairdun is at {url}[/]  (API docs: {url}api/docs; Ctrl-C stops)")
    if serve_:
        serve(host=None, port=port)


# --- import ------------------------------------------------------------------------------

_ImportPath = Annotated[
    Path,
    typer.Argument(
        help="A .csv (UTF-8) or .parquet file.", exists=True, dir_okay=False, readable=True
    ),
]
_Institution = Annotated[
    str,
    typer.Option(
        "--institution",
        metavar="CREDIT_CODE",
        help="Unified social credit code of the lender the file belongs to.",
    ),
]
_AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="DATE",
        help="yyyy-mm-dd: no loan may start and no payment be dated after it; loan states "
        "are computed as of it. Default: today (UTC).",
    ),
]
_ReportDir = Annotated[
    Path | None,
    typer.Option(
        "--report-dir",
        file_okay=False,
        help="Folder for the error report <file>.errors.csv (default: beside the file).",
    ),
]


@import_app.command("borrowers")
def import_borrowers(
    path: _ImportPath,
    institution: _Institution,
    as_of: _AsOf = None,
    report_dir: _ReportDir = None,
) -> None:
    """Import borrowers; existing external ids are updated. Exit 1 with a report if any row
    is bad (then nothing is imported)."""
    _import([(Kind.BORROWERS, path)], institution, as_of, report_dir)


@import_app.command("loans")
def import_loans(
    path: _ImportPath,
    institution: _Institution,
    as_of: _AsOf = None,
    report_dir: _ReportDir = None,
) -> None:
    """Import loans with their schedules; borrowers and products must exist. Exit 1 with a
    report if any row is bad (then nothing is imported)."""
    _import([(Kind.LOANS, path)], institution, as_of, report_dir)


@import_app.command("payments")
def import_payments(
    path: _ImportPath,
    institution: _Institution,
    as_of: _AsOf = None,
    report_dir: _ReportDir = None,
) -> None:
    """Import payments and recompute each loan they touch once. Exit 1 with a report if
    any row is bad (then nothing is imported)."""
    _import([(Kind.PAYMENTS, path)], institution, as_of, report_dir)


@import_app.command("book")
def import_book(
    institution: _Institution,
    borrowers: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Borrowers file.")
    ] = None,
    loans: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Loans file.")
    ] = None,
    payments: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Payments file.")
    ] = None,
    as_of: _AsOf = None,
    report_dir: _ReportDir = None,
) -> None:
    """Import several files in one transaction: all are checked before any is written,
    and loans may refer to borrowers (payments to loans) of the same import."""
    files = [
        (kind, path)
        for kind, path in (
            (Kind.BORROWERS, borrowers),
            (Kind.LOANS, loans),
            (Kind.PAYMENTS, payments),
        )
        if path is not None
    ]
    if not files:
        err.print("[bold red]nothing to import:[/] give --borrowers, --loans or --payments")
        raise typer.Exit(2)
    _import(files, institution, as_of, report_dir)


@import_app.command("convert")
def import_convert(
    kind: Annotated[Kind, typer.Argument(help="What the file holds.")],
    source: Annotated[
        Path, typer.Argument(help="The CSV file.", exists=True, dir_okay=False, readable=True)
    ],
    dest: Annotated[
        Path | None,
        typer.Argument(help="The Parquet file to write (default: SOURCE with .parquet)."),
    ] = None,
) -> None:
    """Write a CSV import file as Parquet with the documented column types (this is how
    examples/*.parquet are made from examples/*.csv)."""
    from fairdun.loans import importer

    target = dest or source.with_suffix(".parquet")
    try:
        rows = importer.csv_to_parquet(kind, source, target)
    except importer.ConvertError as exc:
        err.print(f"[bold red]not converted:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(f"wrote {rows} {kind.value} rows to {target}")


def _as_of_date(value: str | None) -> date:
    import re
    from datetime import date

    from fairdun.kit.clock import utcnow

    if value is None:
        return utcnow().date()
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        err.print(f"[bold red]--as-of:[/] {value!r} is not a date written yyyy-mm-dd")
        raise typer.Exit(2) from None


class _ImportBar:
    """fairdun.loans.importer.ImportProgress on a Rich progress bar: one line per stage."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def begin(self, label: str, total: int | None) -> None:
        self._task = self._progress.add_task(label, total=total)

    def advance(self, rows: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, rows)


def _import(
    files: list[tuple[Kind, Path]], institution: str, as_of: str | None, report_dir: Path | None
) -> None:
    from fairdun.kit.db import unit_of_work
    from fairdun.kit.errors import Invalid
    from fairdun.loans import importer
    from fairdun.loans.service import CapPolicy

    day = _as_of_date(as_of)
    settings = _settings()
    _, factory = _engine_and_keys(settings)
    caps = CapPolicy.from_ids(settings.rate_caps, settings.collectable_cap, settings.one_year_lpr)
    sources = [importer.Source(kind, path) for kind, path in files]
    institution_id: int | None = None
    try:
        with unit_of_work(factory) as session:
            institution_id = importer.resolve_lender(session, institution)
            with _progress() as progress:
                outcome = importer.import_files(
                    session,
                    sources,
                    institution_id=institution_id,
                    as_of=day,
                    caps=caps,
                    actor="cli",
                    progress=_ImportBar(progress),
                    report_dir=report_dir,
                )
            # Committed on leaving the block, accepted or not: a rejected import has
            # written nothing but its import.rejected audit records.
    except Invalid as exc:
        err.print(f"[bold red]not imported:[/] {exc.message}")
        raise typer.Exit(2) from None
    except importer.ImportAborted as exc:
        # Everything written was rolled back; the rejection is recorded on its own.
        assert institution_id is not None
        with unit_of_work(factory) as session:
            importer.record_aborted(
                session, sources, institution_id=institution_id, as_of=day, actor="cli", error=exc
            )
        err.print(f"[bold red]not imported, nothing written:[/] {exc}")
        raise typer.Exit(1) from None
    _print_outcome(outcome)
    if not outcome.accepted:
        raise typer.Exit(1)


def _print_outcome(outcome: ImportOutcome) -> None:
    if not outcome.accepted:
        err.print(f"[bold red]rejected, nothing imported:[/] {outcome.errors} errors")
        for f in outcome.files:
            if f.errors:
                err.print(f"{f.file}: {f.errors} errors, report: {f.report}", soft_wrap=True)
                for e in f.first_errors[:10]:
                    err.print(
                        f"  row {e.row}, column {e.column or '-'}: {e.reason}", soft_wrap=True
                    )
                if f.errors > 10:
                    err.print(f"  ... and {f.errors - 10} more in the report")
        return
    table = Table(title=f"imported (as of {outcome.as_of.isoformat()})")
    for column in ("kind", "file", "rows", "inserted", "updated", "skipped"):
        table.add_column(column)
    for f in outcome.files:
        table.add_row(
            f.kind.value, f.file, str(f.rows), str(f.inserted), str(f.updated), str(f.skipped)
        )
    console.print(table)
    for f in outcome.files:
        if f.cap_flagged:
            console.print(f"{f.file}: {f.cap_flagged} loans cost more than a legal cap (flagged)")
    if outcome.recomputed:
        console.print(f"loans recomputed: {outcome.recomputed}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
