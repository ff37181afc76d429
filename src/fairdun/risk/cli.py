"""``fairdun risk train|score|report|activate`` and ``fairdun lists apply``.

Exit codes: 0 done, 1 the work ran but refused something (a bundle failed its checks), 2 bad
input (a file, a column, a date), with a message that names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import polars as pl

    from fairdun.config import Settings
    from fairdun.risk.bundle import Bundle
    from fairdun.risk.dataset import Dataset

risk_app = typer.Typer(help="Risk models: train, score, report.", no_args_is_help=True)
lists_app = typer.Typer(
    help="Black, grey and white lists; limit and rate rules.", no_args_is_help=True
)

_AsOf = Annotated[
    str | None,
    typer.Option("--as-of", metavar="DATE", help="yyyy-mm-dd (default: today, UTC)."),
]
_Csv = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="A CSV file with a target column (instead of the ledger).",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
]


def _safe(stem: str) -> str:
    """A file name as a bundle name: letters, digits, ``_.-`` only (it names a directory)."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.")[:60] or "model"


def _split_names(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _fail(message: str, code: int = 2) -> typer.Exit:
    from fairdun.cli import err

    err.print(f"[bold red]{message}[/]")
    return typer.Exit(code)


def _save(settings: Settings, bundle: Bundle) -> Path:
    from fairdun.risk.service import model_dir

    root = model_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    target = root / bundle.model_id
    bundle.save(target)
    return target


def _write_report(
    settings: Settings,
    bundle: Bundle,
    test: Dataset,
    title: str,
    others: tuple[Bundle, ...] = (),
    protected: pl.DataFrame | None = None,
) -> Path:
    from fairdun.risk.service import save_report

    return save_report(settings, bundle, test, title=title, others=others, protected=protected)


def _metrics_table(title: str, rows: list[tuple[str, dict[str, float]]]) -> None:
    from rich.table import Table

    from fairdun.cli import console

    table = Table(title=title)
    for column in ("model", "AUC", "KS", "Gini", "rows"):
        table.add_column(column)
    for name, m in rows:
        table.add_row(
            name,
            f"{m.get('auc', float('nan')):.4f}",
            f"{m.get('ks', float('nan')):.4f}",
            f"{m.get('gini', float('nan')):.4f}",
            str(int(m.get("rows", 0))),
        )
    console.print(table)


def _test_metrics(bundle: Bundle, test: Dataset) -> dict[str, float]:
    from fairdun.risk import metrics

    y = test.frame[test.target].to_numpy()
    p = bundle.predict_proba(test.frame)
    auc = float(metrics.auc(y, p))
    return {"auc": auc, "ks": float(metrics.ks(y, p)), "gini": 2 * auc - 1, "rows": float(len(y))}


@risk_app.command("train")
def train(
    data: _Csv = None,
    target: Annotated[str | None, typer.Option(help="Target column of --data (1 = bad).")] = None,
    bad_label: Annotated[
        str | None, typer.Option(help="Level of a text target that means bad.")
    ] = None,
    exclude: Annotated[str, typer.Option(help="Columns that are not features.")] = "",
    protected: Annotated[
        str, typer.Option(help="Protected attributes: never features, used for fairness only.")
    ] = "",
    as_of: _AsOf = None,
    snapshots: Annotated[int, typer.Option(min=1, max=36, help="Monthly ledger snapshots.")] = 6,
    seed: Annotated[int, typer.Option(help="Seed of the split and the models.")] = 7,
    activate: Annotated[bool, typer.Option(help="Make the scorecard the model in use.")] = False,
) -> None:
    """Train the scorecard and its LightGBM challenger, from the ledger (default: the
    early-warning target, 30+ days past due within 30 days) or from a CSV with a target.
    Saves both bundles, writes the evaluation report, prints test AUC/KS/Gini."""
    import numpy as np

    from fairdun.cli import _as_of_date, _engine_and_keys, _settings, console
    from fairdun.kit.errors import DomainError
    from fairdun.risk import service
    from fairdun.risk.bundle import BundleError
    from fairdun.risk.challenger import train_challenger
    from fairdun.risk.dataset import RiskInputError, from_frame, load_csv
    from fairdun.risk.scorecard import train_scorecard

    settings = _settings()
    protected_cols = _split_names(protected)
    try:
        if data is not None:
            if not target:
                raise _fail("--target: name the target column of --data")
            ds = load_csv(
                data,
                target,
                exclude=_split_names(exclude),
                protected=protected_cols,
                bad_label=bad_label,
            )
            rng = np.random.default_rng(seed)
            y = ds.frame[ds.target].to_numpy()
            test_mask = np.zeros(len(y), dtype=bool)
            for label in (0, 1):  # stratified 70/30
                idx = np.flatnonzero(y == label)
                test_mask[rng.choice(idx, size=round(len(idx) * 0.3), replace=False)] = True
            frame = ds.frame
            train_ds = from_frame(
                frame.filter(~test_mask),
                ds.target,
                features=ds.features,
                categorical=ds.categorical,
                protected=protected_cols,
            )
            test_ds = from_frame(
                frame.filter(test_mask),
                ds.target,
                features=ds.features,
                categorical=ds.categorical,
                protected=protected_cols,
            )
            champion = train_scorecard(train_ds, seed=seed, name=f"{_safe(data.stem)}-scorecard")
            challenger = train_challenger(train_ds, seed=seed, name=f"{_safe(data.stem)}-lightgbm")
            prot = test_ds.frame.select(protected_cols) if protected_cols else None
            split = f"stratified 70/30, seed {seed}"
        else:
            engine, _factory = _engine_and_keys(settings)
            day = _as_of_date(as_of)
            result = service.train_from_ledger(engine, as_of=day, snapshots=snapshots, seed=seed)
            champion, challenger, test_ds = result.champion, result.challenger, result.test
            prot = None
            split = (
                f"ledger snapshots {result.snapshots[0]}..{result.snapshots[-1]}, "
                f"30% of borrowers held out, seed {seed}"
            )
    except (RiskInputError, DomainError, BundleError) as exc:
        raise _fail(f"not trained: {exc}") from None
    paths = [_save(settings, champion), _save(settings, challenger)]
    report = _write_report(
        settings,
        champion,
        test_ds,
        title=f"{champion.model_id} ({split})",
        others=(challenger,),
        protected=prot,
    )
    _metrics_table(
        f"held-out test ({split})",
        [
            (champion.model_id, _test_metrics(champion, test_ds)),
            (challenger.model_id, _test_metrics(challenger, test_ds)),
        ],
    )
    for path in paths:
        console.print(f"saved {path}")
    console.print(f"report {report}")
    if activate:
        service.activate(settings, paths[0])
        console.print(f"active model: {champion.model_id}")


@risk_app.command("activate")
def activate_cmd(
    bundle: Annotated[Path, typer.Argument(help="A bundle directory in the model directory.")],
) -> None:
    """Make a saved bundle the model that scores the portfolio (it is hash-checked first)."""
    from fairdun.cli import _settings, console
    from fairdun.kit.errors import DomainError
    from fairdun.risk import service
    from fairdun.risk.bundle import BundleError

    settings = _settings()
    try:
        loaded = service.activate(settings, bundle)
    except BundleError as exc:
        raise _fail(f"refused: {exc}", 1) from None
    except DomainError as exc:
        raise _fail(str(exc)) from None
    console.print(f"active model: {loaded.model_id} (sha256 {loaded.sha256})")


@risk_app.command("score")
def score(
    as_of: _AsOf = None,
    data: _Csv = None,
    bundle: Annotated[
        Path | None, typer.Option(help="Bundle directory (default: the active model).")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="CSV to write scores of --data to.")] = None,
    lang: Annotated[str, typer.Option(help="Language of the reasons: zh or en.")] = "zh",
) -> None:
    """Score the portfolio as of a date into the database (the watchlist reads it), or
    score a CSV file into another CSV with the reason codes in words."""
    import polars as pl

    from fairdun.cli import _as_of_date, _engine_and_keys, _settings, console
    from fairdun.kit.db import unit_of_work
    from fairdun.risk import service
    from fairdun.risk.bundle import Bundle, BundleError
    from fairdun.risk.dataset import RiskInputError
    from fairdun.risk.reasons import reason_text, top_reasons

    if lang not in ("zh", "en"):
        raise _fail("--lang: zh or en")
    settings = _settings()
    try:
        model = Bundle.load(bundle) if bundle is not None else service.active_bundle(settings)
    except (BundleError, service.NoActiveModel) as exc:
        raise _fail(f"refused: {exc}", 1) from None
    if data is not None:
        if output is None:
            raise _fail("--output: name the CSV to write the scores to")
        try:
            frame = pl.read_csv(data, infer_schema_length=10_000)
            p = model.predict_proba(frame)
            points = model.points(frame)
            reasons = top_reasons(model, frame, k=service.REASONS_PER_SCORE)
        except (RiskInputError, pl.exceptions.PolarsError) as exc:
            raise _fail(f"not scored: {data}: {exc}") from None
        out = pl.DataFrame(
            {
                "row": list(range(1, frame.height + 1)),
                "probability": p,
                "score": points if points is not None else [None] * frame.height,
                "reasons": [" | ".join(reason_text(r, lang) for r in rs) for rs in reasons],
            }
        )
        out.write_csv(output)
        console.print(f"scored {frame.height} rows with {model.model_id} into {output}")
        return
    day = _as_of_date(as_of)
    _engine, factory = _engine_and_keys(settings)
    with unit_of_work(factory) as session:
        run = service.score_portfolio(
            session, model, day, actor="cli", loss_given_default=settings.risk_loss_given_default
        )
    console.print(f"scored {run.scored} loans as of {run.as_of} with {run.model_id}")


@risk_app.command("report")
def report(
    data: _Csv = None,
    target: Annotated[str | None, typer.Option(help="Target column of --data.")] = None,
    bad_label: Annotated[str | None, typer.Option()] = None,
    protected: Annotated[str, typer.Option(help="Protected attributes of --data.")] = "",
    bundle: Annotated[
        Path | None, typer.Option(help="Bundle directory (default: the active model).")
    ] = None,
    as_of: _AsOf = None,
    output: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("risk-report.html"),
) -> None:
    """Write the evaluation report of a bundle (AUC, KS, Gini, calibration, score
    distribution, lift and gains, bins with WOE and IV, disparate impact) on labelled data:
    a CSV, or the ledger's latest 30-day outcome window."""
    from fairdun.cli import _as_of_date, _engine_and_keys, _settings, console
    from fairdun.risk import features, service
    from fairdun.risk.bundle import Bundle, BundleError
    from fairdun.risk.dataset import RiskInputError, from_frame, load_csv
    from fairdun.risk.report import render_report

    settings = _settings()
    try:
        model = Bundle.load(bundle) if bundle is not None else service.active_bundle(settings)
    except (BundleError, service.NoActiveModel) as exc:
        raise _fail(f"refused: {exc}", 1) from None
    protected_cols = _split_names(protected)
    try:
        if data is not None:
            if not target:
                raise _fail("--target: name the target column of --data")
            ds = load_csv(data, target, protected=protected_cols, bad_label=bad_label)
            prot = ds.frame.select(protected_cols) if protected_cols else None
            title = f"{model.model_id} on {data.name}"
        else:
            engine, _ = _engine_and_keys(settings)
            day = _as_of_date(as_of)
            snap = service.ledger_snapshots(day, count=1)
            frame = features.training_frame(engine, snap, horizon_days=service.HORIZON_DAYS)
            ds = from_frame(
                frame.select([*service.MODEL_FEATURES, service.TARGET]),
                service.TARGET,
                features=service.MODEL_FEATURES,
            )
            prot = None
            title = f"{model.model_id} on the ledger, snapshot {snap[0]} (+30 days)"
        html = render_report(model, ds, title=title, protected=prot)
    except RiskInputError as exc:
        raise _fail(f"no report: {exc}") from None
    output.write_text(html, encoding="utf-8")
    console.print(f"wrote {output}")


@lists_app.command("apply")
def lists_apply(
    as_of: _AsOf = None,
    rules: Annotated[
        str | None, typer.Option(help="Rule set id or YAML path (default FAIRDUN_RISK_RULES).")
    ] = None,
) -> None:
    """Put borrowers on lists by the rule set's list rules, then decide every credit line's
    limit and rate by its adjustment rules. Idempotent for a day and a rule set version."""
    from sqlalchemy import select

    from fairdun.cli import _as_of_date, _engine_and_keys, _settings, console
    from fairdun.institutions.models import Institution, InstitutionKind
    from fairdun.kit.db import unit_of_work
    from fairdun.risk import limits, service

    settings = _settings()
    day = _as_of_date(as_of)
    caps = service.caps_of(settings)
    try:
        rule_set = limits.load_rules(rules or settings.risk_rules, caps=caps)
    except limits.RuleSetError as exc:
        raise _fail(f"rule set refused: {exc}") from None
    _engine, factory = _engine_and_keys(settings)
    with unit_of_work(factory) as session:
        lenders = [
            i.id
            for i in session.scalars(select(Institution).order_by(Institution.id))
            if InstitutionKind(i.kind).is_lender
        ]
        runs = service.run_lists(
            session, actor="cli", as_of=day, rules=rule_set, caps=caps, institution_ids=lenders
        )
    for run in runs:
        done = run.summary
        console.print(
            f"institution {run.institution_id}, {run.rules_id} as of {run.as_of}: "
            f"{run.borrowers} borrowers; {len(done.lists.added)} list entries added "
            f"({done.lists.already_listed} already listed, {done.lists.suppressed} held back by "
            f"a revocation); {len(done.adjustments.decisions)} limit/rate decisions "
            f"({done.adjustments.changed} changed, {done.adjustments.already_decided} already "
            f"decided today, {done.adjustments.capped} brought down to the cap)"
        )
