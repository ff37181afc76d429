"""``fairdun content check``: findings for one message or a whole JSON Lines export.

Exit codes: 0 when nothing was found, 1 when there are findings, 2 when the input is bad
(nothing is written then: a JSON Lines file is checked whole before any line is judged),
3 when the checker cannot run (its model artefact is missing or fails its hash check).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer

content_app = typer.Typer(
    help="The message content checker: unlawful collection language.", no_args_is_help=True
)


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"


class LangOption(StrEnum):
    ZH = "zh"
    EN = "en"


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@content_app.command("check")
def content_check(
    text: Annotated[str | None, typer.Argument(help="The message text.")] = None,
    lang: Annotated[
        LangOption | None, typer.Option("--lang", help="zh or en (default: detected).")
    ] = None,
    recipient_role: Annotated[
        str, typer.Option("--recipient-role", help="Who receives it (debtor, contact_person…).")
    ] = "debtor",
    channel: Annotated[str, typer.Option(help="sms, email, call, letter…")] = "sms",
    jurisdiction: Annotated[str, typer.Option(help="cn or us.")] = "cn",
    fmt: Annotated[Format, typer.Option("--format", help="text or json.")] = Format.TEXT,
    input_path: Annotated[
        Path | None,
        typer.Option(
            "--input",
            dir_okay=False,
            help='JSON Lines, one {"id", "text", "lang", "recipient_role"} per line.',
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", dir_okay=False, help="JSON Lines out (default stdout)."),
    ] = None,
    model: Annotated[
        bool, typer.Option("--model/--no-model", help="Add the statistical layer.")
    ] = True,
) -> None:
    """Print the findings for TEXT, or for every message of --input as JSON Lines."""
    from fairdun.content.checker import check, make_context
    from fairdun.content.types import ContentInputError, ContentUnavailable

    if (text is None) == (input_path is None):
        _fail("give either TEXT or --input FILE")
    if input_path is not None:
        _check_file(input_path, output, channel, jurisdiction, model)
        return
    assert text is not None
    try:
        ctx = make_context(
            lang=lang.value if lang else None,
            recipient_role=recipient_role,
            channel=channel,
            jurisdiction=jurisdiction,
            text=text,
        )
        findings = check(text, ctx, model=model)
    except ContentInputError as exc:
        _fail(str(exc))
        return
    except ContentUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(3) from None
    if fmt is Format.JSON:
        typer.echo(json.dumps({"findings": [f.as_json() for f in findings]}, ensure_ascii=False))
    elif not findings:
        typer.echo("no findings")
    else:
        for f in findings:
            where = f"[{f.start}:{f.end}] “{f.span}”" if f.span else "(missing)"
            typer.echo(f"{f.category}  {f.rule}  {where}\n    {f.explanation}")
    if findings:
        raise typer.Exit(1)


_FIELDS = {"id", "text", "lang", "recipient_role", "channel", "jurisdiction", "facts"}


def _messages(path: Path, channel: str, jurisdiction: str) -> Iterator[tuple[Any, str, Any]]:
    """(id, text, context) per line; ContentInputError names the line that is bad."""
    from fairdun.content.checker import make_context, validate_text
    from fairdun.content.types import ContentInputError

    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ContentInputError(f"{path}: {exc.strerror}") from None
    seen: set[str] = set()
    with handle:
        for number, raw in enumerate(handle, 1):
            where = f"{path}:{number}"
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise ContentInputError(f"{where}: not valid UTF-8 (byte {exc.start})") from None
            except json.JSONDecodeError as exc:
                raise ContentInputError(f"{where}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ContentInputError(f"{where}: each line must be a JSON object")
            unknown = sorted(set(row) - _FIELDS)
            if unknown:
                raise ContentInputError(f"{where}: unknown field {unknown[0]!r}")
            if "id" not in row or not isinstance(row["id"], str | int):
                raise ContentInputError(f"{where}: 'id' is missing or not a string")
            key = str(row["id"])
            if key in seen:
                raise ContentInputError(f"{where}: id {key!r} appears twice")
            seen.add(key)
            raw_text = row.get("text")
            if not isinstance(raw_text, str):
                raise ContentInputError(f"{where} (id {key!r}): 'text' is missing or not a string")
            try:
                text = validate_text(raw_text)
                ctx = make_context(
                    lang=row.get("lang"),
                    recipient_role=row.get("recipient_role") or "debtor",
                    channel=row.get("channel") or channel,
                    jurisdiction=row.get("jurisdiction") or jurisdiction,
                    facts=row.get("facts"),
                    text=text,
                )
            except ContentInputError as exc:
                raise ContentInputError(f"{where} (id {key!r}): {exc}") from None
            yield row["id"], text, ctx


def _check_file(
    path: Path, output: Path | None, channel: str, jurisdiction: str, model: bool
) -> None:
    from fairdun.content.checker import check
    from fairdun.content.types import ContentInputError, ContentUnavailable

    try:
        count = sum(1 for _ in _messages(path, channel, jurisdiction))  # whole file first
    except ContentInputError as exc:
        _fail(str(exc))
        return
    out: IO[str] = output.open("w", encoding="utf-8") if output else sys.stdout
    flagged = 0
    try:
        for key, text, ctx in _messages(path, channel, jurisdiction):
            try:
                findings = check(text, ctx, model=model)
            except ContentUnavailable as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(3) from None
            flagged += bool(findings)
            line = {"id": key, "findings": [f.as_json() for f in findings]}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    finally:
        if output:
            out.close()
    typer.echo(f"{count} messages checked, {flagged} with findings", err=True)
    if flagged:
        raise typer.Exit(1)
