"""``fairdun complaints due`` and ``fairdun complaints remind``: the deadline job.

``remind`` is meant to run from the scheduler (cron, a systemd timer) a few times a day;
each run is its own unit of work, and a reminder already sent is never sent again.
"""

from __future__ import annotations

from typing import Annotated

import typer

complaints_app = typer.Typer(help="Complaint deadlines and reminders.", no_args_is_help=True)


@complaints_app.command("due")
def due(
    days: Annotated[int, typer.Option(min=0, max=60, help="Also list cases due within.")] = 3,
) -> None:
    """List the cases waiting for an institution's answer that are overdue or due soon."""
    from datetime import timedelta

    from rich.console import Console
    from rich.table import Table

    from fairdun.cli import _engine_and_keys, _settings
    from fairdun.complaints import service
    from fairdun.complaints.transitions import LEGAL_ZONE
    from fairdun.kit.clock import utcnow
    from fairdun.kit.db import unit_of_work

    _engine, factory = _engine_and_keys(_settings())
    table = Table(title="complaints due")
    for column in ("complaint", "institution", "due by (Beijing)", "state"):
        table.add_column(column)
    with unit_of_work(factory) as session:
        for d in service.due_cases(session, utcnow(), timedelta(days=days)):
            last_day = (d.due_at.astimezone(LEGAL_ZONE) - timedelta(seconds=1)).date()
            table.add_row(str(d.complaint_id), str(d.institution_id), str(last_day), d.state)
    Console(width=120).print(table)


@complaints_app.command("remind")
def remind() -> None:
    """Queue the reminders that are due (e-mail to each institution's complaint staff)."""
    from fairdun.cli import _engine_and_keys, _settings
    from fairdun.complaints import service
    from fairdun.kit.clock import utcnow
    from fairdun.kit.db import unit_of_work

    _engine, factory = _engine_and_keys(_settings())
    with unit_of_work(factory) as session:
        sent = service.send_reminders(session, utcnow())
    typer.echo(f"{sent} reminder(s) queued")
