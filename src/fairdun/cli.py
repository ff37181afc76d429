"""The `fairdun` command. Each command is a boundary: it opens the unit of work and commits."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fairdun import __version__
from fairdun.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from fairdun.kit.keys import RotationReport

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
) -> None:
    """Run the web server (migrate first with `fairdun db upgrade`)."""
    import uvicorn

    from fairdun.web.app import create_app

    settings = _settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
        proxy_headers=settings.is_production,
    )


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
    console.print(f"demo portfolio: {booked} loans (state as of the day they were booked)")
    console.print(f"[bold green]fairdun is at {url}[/]  (API docs: {url}api/docs; Ctrl-C stops)")
    if serve_:
        serve(host=None, port=port)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
