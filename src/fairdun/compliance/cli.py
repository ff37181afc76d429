"""The ``fairdun policy`` commands and ``fairdun audit check``.

Exit codes: ``policy validate`` 0 when the pack (and its golden cases) are good, 1 when
not; ``audit check`` 0 when the log replays clean, 1 when it has violations, 2 when the
input (log, pack or overlay) is bad. Heavy imports happen inside the commands so that
``--help`` stays fast.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

policy_app = typer.Typer(
    help="Policy packs: the contact rules as versioned, tested data.", no_args_is_help=True
)

_Overlay = Annotated[
    list[Path] | None,
    typer.Option(
        "--overlay",
        exists=True,
        dir_okay=False,
        help="An institution's stricter overrides (repeatable, applied in order).",
    ),
]


def _echo_err(message: str) -> None:
    typer.echo(message, err=True)


@policy_app.command("validate")
def policy_validate(
    path: Annotated[Path, typer.Argument(help="The pack file (YAML).", dir_okay=False)],
    overlay: _Overlay = None,
    golden: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Golden cases to run (default: golden/<pack id>.yaml beside the pack, if any).",
        ),
    ] = None,
) -> None:
    """Check a pack and its overlays; run its golden cases. Exit 1 naming every problem."""
    from fairdun.compliance import golden as golden_cases
    from fairdun.compliance.packs import PackError, load

    try:
        pack = load(path, overlay or [])
    except PackError as exc:
        for problem in exc.problems:
            _echo_err(f"error: {problem}")
        raise typer.Exit(1) from None
    typer.echo(
        f"pack {pack.id} {pack.effective_version} ({pack.jurisdiction}): {len(pack.rules)} rules OK"
    )
    cases_file = golden or path.parent / "golden" / f"{pack.id}.yaml"
    if not cases_file.is_file():
        typer.echo("no golden cases found")
        return
    try:
        pack_id, cases = golden_cases.load_cases(cases_file)
    except PackError as exc:
        for problem in exc.problems:
            _echo_err(f"error: {problem}")
        raise typer.Exit(1) from None
    if pack_id != pack.id:
        _echo_err(f"error: {cases_file}: golden cases are for pack {pack_id!r}, not {pack.id!r}")
        raise typer.Exit(1)
    failed = 0
    for case in cases:
        for difference in golden_cases.run_case(case, pack):
            failed += 1
            _echo_err(f"golden case failed: {cases_file}:{case.line}: {case.name}: {difference}")
    if failed:
        raise typer.Exit(1)
    typer.echo(f"{len(cases)} golden cases pass ({cases_file})")


@policy_app.command("show")
def policy_show(
    pack_ref: Annotated[
        str, typer.Argument(metavar="PACK", help="A shipped pack id (us-regf, cn) or a pack file.")
    ],
    overlay: _Overlay = None,
) -> None:
    """Print a pack's rules: id, kind, channels, parameters and legal sources."""
    from fairdun.compliance.packs import PackError, load
    from fairdun.compliance.rules import directions

    try:
        pack = load(pack_ref, overlay or [])
    except PackError as exc:
        for problem in exc.problems:
            _echo_err(f"error: {problem}")
        raise typer.Exit(2) from None
    typer.echo(f"{pack.id} {pack.effective_version} — {pack.title_en} / {pack.title_zh}")
    typer.echo(f"jurisdiction: {pack.jurisdiction}; source: {pack.source}")
    for rule in pack.rules:
        typer.echo("")
        typer.echo(f"{rule.id}  [{rule.kind}]")
        typer.echo(f"  {rule.title_en}")
        typer.echo(f"  {rule.title_zh}")
        typer.echo(f"  channels: {', '.join(c.value for c in rule.channels)}")
        ways = directions(type(rule.params))
        for name, value in rule.params.model_dump(mode="json").items():
            shown = ", ".join(str(v) for v in value) if isinstance(value, list) else value
            typer.echo(f"  {name} = {shown}   (stricter: {ways[name]})")
        for citation in rule.citations:
            note = f" — {citation.note}" if citation.note else ""
            typer.echo(
                f"  source: {citation.source}, {citation.section} (grade {citation.grade}){note}"
            )


class ReportFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    CSV = "csv"
    HTML = "html"


class InputFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


TIMELINE_EVENTS = 200


def audit_check(
    log: Annotated[
        Path,
        typer.Argument(
            help="The contact log: .csv with a header, or .jsonl (one JSON object a line).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    pack_ref: Annotated[
        str,
        typer.Option(
            "--pack", metavar="PACK", help="A shipped pack id (us-regf, cn) or a pack file."
        ),
    ],
    overlay: _Overlay = None,
    report_format: Annotated[
        ReportFormat, typer.Option("--format", help="How to print the violations.")
    ] = ReportFormat.TEXT,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", dir_okay=False, help="Write the report here (default: stdout)."
        ),
    ] = None,
    input_format: Annotated[
        InputFormat | None,
        typer.Option("--input-format", help="Log format, when the file name does not say."),
    ] = None,
) -> None:
    """Replay a contact log through a policy pack and print every violation.

    Exit 0 when the log replays clean, 1 when it has violations, 2 when the log, pack or
    overlay is bad (each bad row named by file, row, column and reason; no report then).
    The log must be in time order.
    """
    from datetime import UTC, datetime

    from fairdun.compliance import report
    from fairdun.compliance.packs import PackError, load
    from fairdun.compliance.replay import audit_log, detect_format, events_of_debts

    try:
        pack = load(pack_ref, overlay or [])
    except PackError as exc:
        for problem in exc.problems:
            _echo_err(f"error: {problem}")
        raise typer.Exit(2) from None
    fmt = input_format.value if input_format is not None else detect_format(log)
    if fmt is None:
        _echo_err(f"error: {log}: cannot tell the format from the name; give --input-format")
        raise typer.Exit(2)
    # The report is spooled and only released once the whole log has been read, so bad
    # input never leaves a partial report behind.
    with tempfile.SpooledTemporaryFile(
        max_size=8 << 20, mode="w+", encoding="utf-8", newline=""
    ) as spool:
        html: report.HtmlReport | None = None
        writer: report.TextWriter | report.JsonWriter | report.CsvWriter | None = None
        if report_format is ReportFormat.HTML:
            html = report.HtmlReport(pack, log.name)
            sink = html.add
        elif report_format is ReportFormat.JSON:
            writer = report.JsonWriter(spool, pack)
            sink = writer.add
        elif report_format is ReportFormat.CSV:
            writer = report.CsvWriter(spool)
            sink = writer.add
        else:
            writer = report.TextWriter(spool)
            sink = writer.add
        result = audit_log(log, pack, sink, fmt=fmt)
        if result.errors:
            for error in result.errors:
                _echo_err(f"error: {error}")
            _echo_err(f"{log}: bad input, no report written")
            raise typer.Exit(2)
        if html is not None:
            timelines = events_of_debts(
                log,
                fmt,
                set(html.debts),
                TIMELINE_EVENTS,
            )
            ordered = {debt: timelines[debt] for debt in html.debts}
            spool.write(html.render(result, ordered, TIMELINE_EVENTS, datetime.now(UTC)))
        elif writer is not None:
            writer.finish(result)
        spool.seek(0)
        if output is None:
            shutil.copyfileobj(spool, sys.stdout)
            sys.stdout.flush()
        else:
            with output.open("w", encoding="utf-8", newline="") as handle:
                shutil.copyfileobj(spool, handle)
    summary = (
        f"{result.events} events, {result.violations} violations "
        f"({pack.id} {pack.effective_version})"
    )
    if output is not None or report_format is not ReportFormat.TEXT:
        _echo_err(summary)
    if result.violations:
        raise typer.Exit(1)
