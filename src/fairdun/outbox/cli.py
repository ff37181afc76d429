"""``fairdun outbox list``: what the outbox holds (the demo reads one-time codes here)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fairdun.outbox.adapters import mask

if TYPE_CHECKING:
    from fairdun.outbox.adapters import Adapter
    from fairdun.outbox.models import OutboxChannel

outbox_app = typer.Typer(help="Messages waiting to leave (SMS, e-mail).", no_args_is_help=True)


__all__ = ["mask", "outbox_app", "worker"]


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


def build_adapters(
    choices: list[str],
    *,
    outbox_file: Path,
    smtp_host: str | None = None,
    smtp_port: int = 587,
    smtp_sender: str | None = None,
    smtp_user: str | None = None,
    smtp_password: str | None = None,
    smtp_starttls: bool = True,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> dict[OutboxChannel, Adapter]:
    """Every channel gets the file adapter unless ``channel=kind`` says otherwise."""
    from fairdun.outbox.adapters import OutboxFileAdapter, SmtpAdapter, WebhookAdapter
    from fairdun.outbox.models import OutboxChannel

    file_adapter = OutboxFileAdapter(outbox_file)
    adapters: dict[OutboxChannel, Adapter] = {c: file_adapter for c in OutboxChannel}
    for choice in choices:
        for item in choice.split(","):
            channel_name, _, kind = item.strip().partition("=")
            try:
                channel = OutboxChannel(channel_name.strip())
            except ValueError:
                raise typer.BadParameter(f"unknown channel {channel_name!r}") from None
            kind = kind.strip()
            if kind == "file":
                adapters[channel] = file_adapter
            elif kind == "smtp" and channel is OutboxChannel.EMAIL:
                if not smtp_host or not smtp_sender:
                    raise typer.BadParameter("email=smtp needs --smtp-host and --smtp-from")
                adapters[channel] = SmtpAdapter(
                    host=smtp_host,
                    port=smtp_port,
                    sender=smtp_sender,
                    username=smtp_user,
                    password=smtp_password,
                    starttls=smtp_starttls,
                )
            elif kind == "webhook" and channel is OutboxChannel.SMS:
                if not webhook_url or not webhook_secret:
                    raise typer.BadParameter("sms=webhook needs --webhook-url and --webhook-secret")
                adapters[channel] = WebhookAdapter(url=webhook_url, secret=webhook_secret)
            else:
                raise typer.BadParameter(
                    f"{item!r}: use sms=webhook|file, email=smtp|file, voice=file, letter=file"
                )
    return adapters


def worker(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    batch: Annotated[int, typer.Option(min=1, max=1000, help="Messages claimed per pass.")] = 50,
    poll: Annotated[float, typer.Option(min=0.1, help="Seconds to wait when idle.")] = 2.0,
    channel_adapter: Annotated[
        list[str] | None,
        typer.Option(
            "--channel-adapter",
            help="channel=adapter, repeatable: sms=webhook|file, email=smtp|file.",
        ),
    ] = None,
    outbox_file: Annotated[
        Path | None, typer.Option(help="Where the file adapter writes (FAIRDUN_OUTBOX_FILE).")
    ] = None,
    smtp_host: Annotated[str | None, typer.Option(help="FAIRDUN_SMTP_HOST")] = None,
    smtp_port: Annotated[int | None, typer.Option(help="FAIRDUN_SMTP_PORT")] = None,
    smtp_from: Annotated[str | None, typer.Option(help="FAIRDUN_SMTP_FROM")] = None,
    smtp_user: Annotated[str | None, typer.Option(help="FAIRDUN_SMTP_USER")] = None,
    smtp_starttls: Annotated[
        bool | None,
        typer.Option("--smtp-starttls/--no-smtp-starttls", help="FAIRDUN_SMTP_STARTTLS"),
    ] = None,
    webhook_url: Annotated[str | None, typer.Option(help="FAIRDUN_SMS_WEBHOOK_URL")] = None,
) -> None:
    """Deliver queued messages: claim, send, record. Several workers may run at once."""
    import logging
    import signal
    import threading

    from fairdun.cli import _engine_and_keys, _settings
    from fairdun.kit.clock import utcnow
    from fairdun.outbox.dispatcher import Dispatcher

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # Options override the settings; secrets come only from the settings (never argv).
    settings = _settings()
    adapters = build_adapters(
        channel_adapter or [],
        outbox_file=outbox_file or Path(settings.outbox_file),
        smtp_host=smtp_host or settings.smtp_host or None,
        smtp_port=smtp_port or settings.smtp_port,
        smtp_sender=smtp_from or settings.smtp_from or None,
        smtp_user=smtp_user or settings.smtp_user or None,
        smtp_password=settings.smtp_password or None,
        smtp_starttls=settings.smtp_starttls if smtp_starttls is None else smtp_starttls,
        webhook_url=webhook_url or settings.sms_webhook_url or None,
        webhook_secret=settings.sms_webhook_secret or None,
    )
    _engine, factory = _engine_and_keys(settings)
    dispatcher = Dispatcher(factory=factory, adapters=adapters, clock=utcnow)
    typer.echo(f"worker {dispatcher.worker_id}")
    if once:
        report = dispatcher.run_once(batch)
    else:
        stop = threading.Event()
        # Stop between messages, never in the middle of one.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        report = dispatcher.run(batch=batch, poll=poll, stop=stop)
    typer.echo(
        f"claimed {report.claimed}, sent {report.sent}, retried {report.retried}, "
        f"failed {report.failed}, uncertain {report.uncertain + report.uncertain_expired}"
    )
