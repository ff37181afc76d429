"""``fairdun outbox list``: what the outbox holds (the demo reads one-time codes here)."""

from __future__ import annotations

from typing import Annotated

import typer

outbox_app = typer.Typer(help="Messages waiting to leave (SMS, e-mail).", no_args_is_help=True)


def mask(recipient: str) -> str:
    """Keep the last four characters: enough to tell messages apart on screen."""
    return "*" * max(len(recipient) - 4, 0) + recipient[-4:]


@outbox_app.command("list")
def outbox_list(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Newest messages shown.")] = 20,
    all_: Annotated[
        bool, typer.Option("--all", help="Include sent messages, not only queued ones.")
    ] = False,
) -> None:
    """Print the newest messages, recipients masked, bodies in full."""
    from rich.console import Console
    from rich.table import Table

    from fairdun.cli import _engine_and_keys, _settings
    from fairdun.kit.db import unit_of_work
    from fairdun.outbox import service
    from fairdun.outbox.models import OutboxStatus

    _engine, factory = _engine_and_keys(_settings())
    table = Table(title="outbox")
    for column in ("id", "created_at", "channel", "kind", "recipient", "status", "body"):
        table.add_column(column)
    with unit_of_work(factory) as session:
        status = None if all_ else OutboxStatus.QUEUED
        for m in service.listing(session, status=status, limit=limit):
            table.add_row(
                str(m.id),
                m.created_at.isoformat(timespec="seconds"),
                m.channel,
                m.kind,
                mask(m.recipient),
                m.status,
                m.body,
            )
    Console(width=200).print(table)
