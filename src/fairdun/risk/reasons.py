"""Reason codes: the factors that weighed most against a borrower, in plain words.

:func:`top_reasons` takes a bundle's :meth:`~fairdun.risk.bundle.Bundle.adverse` matrix
(scorecard: the points a feature lost against its best bin; LightGBM: its SHAP contribution
to the log-odds of bad) and keeps, for each row, the factors that pushed toward *bad*
(positive impact only), largest first, ties in the bundle's feature order. A row with no
adverse factor gets an empty list.

:func:`reason_text` turns a :class:`Reason` into a sentence in Chinese or English from
``reasons.yaml``: factual words about the account, suitable for a notice to the borrower,
with the borrower's own figure where the file gives a template for it. A feature without
an entry gets a clear generic sentence naming it.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import yaml

if TYPE_CHECKING:
    from fairdun.risk.bundle import Bundle

REASONS_PATH = Path(__file__).with_name("reasons.yaml")
LANGS = ("zh", "en")
MIN_IMPACT = 1e-9


@dataclass(frozen=True)
class Reason:
    """One adverse factor of one row: the feature, its reason code, the row's value and
    how much it pushed toward bad (points lost, or log-odds for LightGBM)."""

    feature: str
    code: str
    value: float | str | None
    impact: float


@dataclass(frozen=True)
class _Entry:
    code: str
    text: Mapping[str, str]
    with_value: Mapping[str, str]
    value_min: float | None


@dataclass(frozen=True)
class ReasonBook:
    entries: Mapping[str, _Entry]
    fallback: _Entry


class ReasonFileError(ValueError):
    """``reasons.yaml`` is malformed."""


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}


def _entry(name: str, raw: Any, *, fallback: bool = False) -> _Entry:
    if not isinstance(raw, dict):
        raise ReasonFileError(f"reasons.yaml: {name} must be a mapping")
    code = raw.get("code")
    if not isinstance(code, str) or not code:
        raise ReasonFileError(f"reasons.yaml: {name} has no code")
    allowed = {"feature"} if fallback else set()
    text: dict[str, str] = {}
    with_value: dict[str, str] = {}
    for lang in LANGS:
        phrase = raw.get(lang)
        if not isinstance(phrase, str) or not phrase.strip():
            raise ReasonFileError(f"reasons.yaml: {name} has no {lang} words")
        if _fields(phrase) - allowed:
            raise ReasonFileError(f"reasons.yaml: {name}.{lang} uses unknown fields")
        text[lang] = phrase
        templ = raw.get(f"{lang}_value")
        if templ is not None:
            if not isinstance(templ, str) or _fields(templ) != {"value"}:
                raise ReasonFileError(f"reasons.yaml: {name}.{lang}_value must use {{value}}")
            try:
                templ.format(value=1.5)
            except (ValueError, TypeError) as exc:
                raise ReasonFileError(f"reasons.yaml: {name}.{lang}_value: {exc}") from None
            with_value[lang] = templ
    vmin = raw.get("value_min")
    if vmin is not None and not isinstance(vmin, int | float):
        raise ReasonFileError(f"reasons.yaml: {name}.value_min must be a number")
    return _Entry(code, text, with_value, None if vmin is None else float(vmin))


def load_reason_book(path: Path = REASONS_PATH) -> ReasonBook:
    """Read and check a reasons file (codes unique, both languages, valid templates)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ReasonFileError(f"{path}: not a version 1 reasons file")
    features = data.get("features")
    if not isinstance(features, dict):
        raise ReasonFileError(f"{path}: no features")
    entries = {str(k): _entry(str(k), v) for k, v in features.items()}
    fallback = _entry("fallback", data.get("fallback"), fallback=True)
    codes = [e.code for e in entries.values()] + [fallback.code]
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    if dupes:
        raise ReasonFileError(f"{path}: reason codes used twice: {dupes}")
    return ReasonBook(entries, fallback)


@lru_cache(maxsize=1)
def reason_book() -> ReasonBook:
    """The shipped reasons file, read once."""
    return load_reason_book()


def reason_code(feature: str) -> str:
    book = reason_book()
    entry = book.entries.get(feature)
    return entry.code if entry is not None else book.fallback.code


def reason_text(reason: Reason, lang: str = "en") -> str:
    """The reason in plain words, in ``lang`` (``zh`` or ``en``)."""
    if lang not in LANGS:
        raise ValueError(f"reason texts exist in {', '.join(LANGS)}, not {lang!r}")
    book = reason_book()
    entry = book.entries.get(reason.feature)
    if entry is None:
        return book.fallback.text[lang].format(feature=reason.feature)
    value = reason.value
    templ = entry.with_value.get(lang)
    if (
        templ is not None
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (entry.value_min is None or value >= entry.value_min)
    ):
        return templ.format(value=float(value))
    return entry.text[lang]


def _value(v: Any) -> float | str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int | float):
        return None if math.isnan(float(v)) else float(v)
    return str(v)


def top_reasons(bundle: Bundle, frame: pl.DataFrame, k: int = 4) -> list[list[Reason]]:
    """For each row of ``frame``, up to ``k`` factors that pushed it toward bad, the
    largest first (see the module docstring)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    impact = bundle.adverse(frame)
    order = np.argsort(-impact, axis=1, kind="stable")[:, :k]
    codes = [reason_code(f) for f in bundle.features]
    columns = {f: frame[f].to_list() for f in bundle.features}
    out: list[list[Reason]] = []
    for i in range(impact.shape[0]):
        row: list[Reason] = []
        for j in order[i]:
            size = float(impact[i, j])
            if size <= MIN_IMPACT:
                break
            name = bundle.features[j]
            row.append(Reason(name, codes[j], _value(columns[name][i]), size))
        out.append(row)
    return out
