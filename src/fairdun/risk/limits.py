"""Limit and rate adjustment rules: a versioned YAML rule set, loaded strictly, decided
purely, applied with a trace.

A rule set has two ordered parts (the format is in ``docs/risk-lists.md``):

* ``list_rules`` put a borrower on the black, grey or white list (source ``rule`` or
  ``model``) with a reason and an expiry;
* ``adjustments`` change a credit line: raise or lower the limit, freeze or unfreeze it, set
  or move the rate. The first rule whose conditions all hold decides.

**The legal caps.** :func:`load_rules` is given the configured caps
(:func:`configured_caps`); all of them apply and the lowest binds. It refuses any rule that
could set a rate above it: ``set_rate`` above the cap, a ``rate_delta`` that raises without
a ``max_rate`` or with one above the cap, a ``min_rate`` above the cap. :func:`decide` checks
the rule again against the caps it is given (a rule set loaded under an older, higher cap is
refused there) and raises :class:`RateAboveCap` if a result would still be above the cap.
One case is not the rule's doing: a line found *already* above the cap. Any decision on it
brings the rate down to the cap (in the borrower's favour), and says so.

Loading is that of the policy packs (:mod:`fairdun.compliance.packs`): safe YAML without
duplicate keys, a closed pydantic schema, then semantic checks; every problem is reported
with ``file:line:column`` in a :class:`RuleSetError`.
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from fairdun.audit import service as audit
from fairdun.compliance.packs import (
    PackError,
    Path_,
    Problem,
    _Document,
    _read_yaml,
    _schema_problems,
)
from fairdun.config import Settings, get_settings
from fairdun.kit.errors import NotFound
from fairdun.loans.apr import RateCap, default_caps
from fairdun.loans.models import Borrower, Loan
from fairdun.risk import lists
from fairdun.risk.features import FEATURES
from fairdun.risk.models import (
    CreditDecision,
    CreditLine,
    ListEntry,
    ListKind,
    ListSource,
    ListStatus,
)

__all__ = [
    "FEATURE_NAMES",
    "POLICY_DIR",
    "Action",
    "ActionKind",
    "AdjustmentRule",
    "AdjustmentsSummary",
    "ApplySummary",
    "BorrowerInput",
    "Condition",
    "Decision",
    "Facts",
    "LineState",
    "ListRule",
    "ListsSummary",
    "Op",
    "RateAboveCap",
    "RuleSet",
    "RuleSetError",
    "apply",
    "apply_adjustments",
    "apply_lists",
    "builtin_rule_set_ids",
    "configured_caps",
    "decide",
    "list_reason",
    "load_rules",
    "matching_list_rules",
    "parse_rules",
]

POLICY_DIR = Path(__file__).parent / "policy"

# The borrower history features a rule may name: the columns of the feature row
# (``fairdun.risk.features.borrower_features``). A deployment with other features passes
# its own names to the loader (``features=``).
FEATURE_NAMES: tuple[str, ...] = FEATURES


class _Type(StrEnum):
    NUMBER = "number"
    LIST = "list"
    BOOL = "bool"


# Fields every borrower has (some may be missing: no score, no credit line).
_BUILTIN: dict[str, _Type] = {
    "score": _Type.NUMBER,  # scorecard points
    "probability": _Type.NUMBER,  # the model's probability of its target, 0..1
    "list": _Type.LIST,  # black, grey, white or none
    "limit": _Type.NUMBER,  # the credit limit, minor units
    "rate": _Type.NUMBER,  # the annual rate, a fraction
    "frozen": _Type.BOOL,
    "days_since_change": _Type.NUMBER,  # since a decision last changed the limit or rate
    "charged_off": _Type.NUMBER,  # the borrower's loans charged off by the day, from the ledger
}
_LIST_VALUES = ("black", "grey", "white", "none")
_MONEY_FIELDS = frozenset({"limit"})
_RATE_FIELDS = frozenset({"rate"})


class Op(StrEnum):
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "=="
    NE = "!="
    IN = "in"


_ORDER_OPS = frozenset({Op.LT, Op.LE, Op.GT, Op.GE})
_OPS_BY_TYPE: dict[_Type, frozenset[Op]] = {
    _Type.NUMBER: frozenset(Op),
    _Type.LIST: frozenset({Op.EQ, Op.NE, Op.IN}),
    _Type.BOOL: frozenset({Op.EQ, Op.NE}),
}

Scalar = Decimal | str | bool


class ActionKind(StrEnum):
    RAISE_LIMIT = "raise_limit"
    LOWER_LIMIT = "lower_limit"
    FREEZE_LIMIT = "freeze_limit"
    UNFREEZE_LIMIT = "unfreeze_limit"
    SET_RATE = "set_rate"
    RATE_DELTA = "rate_delta"
    NO_CHANGE = "no_change"


_BARE_ACTIONS = frozenset(
    {ActionKind.FREEZE_LIMIT, ActionKind.UNFREEZE_LIMIT, ActionKind.NO_CHANGE}
)
_RATE_ACTIONS = frozenset({ActionKind.SET_RATE, ActionKind.RATE_DELTA})

# Placeholders an explanation may use besides the fields, by action.
_ACTION_VARS = ("old_limit", "new_limit", "old_rate", "new_rate")
_ACTION_PARAMS: dict[ActionKind, tuple[str, ...]] = {
    ActionKind.RAISE_LIMIT: ("percent", "max_limit"),
    ActionKind.LOWER_LIMIT: ("percent", "min_limit"),
    ActionKind.FREEZE_LIMIT: (),
    ActionKind.UNFREEZE_LIMIT: (),
    ActionKind.SET_RATE: (),
    ActionKind.RATE_DELTA: ("delta", "max_rate", "min_rate"),
    ActionKind.NO_CHANGE: (),
}
_MONEY_VARS = frozenset({"old_limit", "new_limit", "max_limit", "min_limit", "limit"})
_RATE_VARS = frozenset({"old_rate", "new_rate", "delta", "max_rate", "min_rate", "rate"})
MISSING = "—"


# --- errors --------------------------------------------------------------------------------


class RuleSetError(PackError):
    """A rule set that cannot be used; ``problems`` lists each with file and line."""


class RateAboveCap(Exception):
    """A decision would put a rate above a legal cap. The loader refuses such rules, so
    this means a rule set checked against other caps, or a bug: nothing is written."""


# --- the loaded rule set -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: Op
    value: Scalar | tuple[Scalar, ...]
    if_missing: bool = False  # the result when the borrower has no value for the field

    def holds(self, actual: Scalar | None) -> bool:
        if actual is None:
            return self.if_missing
        value = self.value
        if self.op is Op.IN:
            assert isinstance(value, tuple)
            return actual in value
        if self.op is Op.EQ:
            return actual == value
        if self.op is Op.NE:
            return actual != value
        assert isinstance(actual, Decimal)
        assert isinstance(value, Decimal)
        if self.op is Op.LT:
            return actual < value
        if self.op is Op.LE:
            return actual <= value
        if self.op is Op.GT:
            return actual > value
        return actual >= value


@dataclass(frozen=True, slots=True)
class ListRule:
    id: str
    kind: ListKind
    source: ListSource
    when: tuple[Condition, ...]
    expiry_days: int
    reason_zh: str
    reason_en: str


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    percent: Decimal | None = None
    max_limit: int | None = None
    min_limit: int | None = None
    rate: Decimal | None = None  # set_rate
    delta: Decimal | None = None
    max_rate: Decimal | None = None
    min_rate: Decimal | None = None

    @property
    def sets_rate(self) -> bool:
        return self.kind in _RATE_ACTIONS

    def rate_bounds(self) -> tuple[tuple[str, Decimal | None], ...]:
        """Each rate this action can put a line at, by name: ``set_rate`` its value; a
        ``rate_delta`` that raises its ``max_rate`` (None: unbounded); a ``min_rate`` the
        floor a cut can lift a low rate to. A cut without a floor only lowers a rate."""
        if self.kind is ActionKind.SET_RATE:
            return (("set_rate", self.rate),)
        if self.kind is ActionKind.RATE_DELTA:
            assert self.delta is not None
            if self.delta > 0:
                return (("max_rate", self.max_rate),)
            if self.min_rate is not None:
                return (("min_rate", self.min_rate),)
        return ()


@dataclass(frozen=True, slots=True)
class AdjustmentRule:
    id: str
    when: tuple[Condition, ...]
    action: Action
    explanation_zh: str
    explanation_en: str


@dataclass(frozen=True, slots=True)
class RuleSet:
    id: str
    version: str
    jurisdiction: str
    title_zh: str
    title_en: str
    list_rules: tuple[ListRule, ...]
    adjustments: tuple[AdjustmentRule, ...]
    source: str
    caps: tuple[RateCap, ...]  # the caps it was checked against when loaded
    features: tuple[str, ...]  # the features its rules name, recorded with each decision

    @property
    def key(self) -> str:
        """``id@version``, as decisions and list entries record it."""
        return f"{self.id}@{self.version}"

    @property
    def rule_set_id(self) -> str:
        """The same as :attr:`key`."""
        return self.key

    @property
    def binding_cap(self) -> RateCap | None:
        return _lowest(self.caps)

    def rule(self, rule_id: str) -> ListRule | AdjustmentRule:
        rules: tuple[ListRule | AdjustmentRule, ...] = (*self.list_rules, *self.adjustments)
        for rule in rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


def _lowest(caps: Iterable[RateCap]) -> RateCap | None:
    lowest: RateCap | None = None
    for cap in caps:
        if lowest is None or cap.annual_rate < lowest.annual_rate:
            lowest = cap
    return lowest


def configured_caps(settings: Settings | None = None) -> tuple[RateCap, ...]:
    """The legal caps configured for the ledger (``rate_caps`` and ``collectable_cap``, at
    the configured one-year LPR): what rule sets are loaded against."""
    settings = settings or get_settings()
    known = {cap.id: cap for cap in default_caps(settings.one_year_lpr)}
    wanted = [c.strip() for c in settings.rate_caps.split(",") if c.strip()]
    wanted.append(settings.collectable_cap)
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise ValueError(f"unknown rate cap id(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return tuple(known[c] for c in dict.fromkeys(wanted))


# --- schema --------------------------------------------------------------------------------


def _not_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("a number is needed, not true/false")
    return value


_Number = Annotated[Decimal, BeforeValidator(_not_bool), Field(allow_inf_nan=False)]
_Id = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=60)]
_RuleId = Annotated[
    StrictStr, Field(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9][a-z0-9.-]*$", max_length=100)
]
_Text = Annotated[StrictStr, Field(min_length=1)]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Bilingual(_Closed):
    zh: _Text
    en: _Text


class _ConditionSpec(_Closed):
    field: _Text
    op: _Text
    value: Any
    if_missing: StrictBool = False


class _ListRuleSpec(_Closed):
    id: _RuleId
    kind: Literal["black", "grey", "white"] = Field(alias="list")
    source: Literal["rule", "model"] = "rule"
    when: Annotated[list[_ConditionSpec], Field(min_length=1)]
    expiry_days: Annotated[StrictInt, Field(ge=1, le=3650)]
    reason: _Bilingual


class _AdjustmentSpec(_Closed):
    id: _RuleId
    when: list[_ConditionSpec] = Field(default_factory=list)
    action: Any
    explanation: _Bilingual


class _RuleSetSpec(_Closed):
    id: _Id
    version: _Text
    jurisdiction: _Text
    title: _Bilingual
    description: StrictStr = ""
    list_rules: list[_ListRuleSpec] = Field(default_factory=list)
    adjustments: list[_AdjustmentSpec] = Field(default_factory=list)


class _RaiseSpec(_Closed):
    percent: _Number
    max_limit: Annotated[StrictInt, Field(gt=0)]


class _LowerSpec(_Closed):
    percent: _Number
    min_limit: Annotated[StrictInt, Field(ge=0)] | None = None


class _SetRateSpec(_Closed):
    value: _Number


class _DeltaSpec(_Closed):
    delta: _Number
    max_rate: _Number | None = None
    min_rate: _Number | None = None


# --- loading -------------------------------------------------------------------------------


def builtin_rule_set_ids() -> list[str]:
    return sorted(p.stem for p in POLICY_DIR.glob("*.yaml"))


def _resolve(ref: str | Path) -> tuple[Path, str | None]:
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path, None
    builtin = POLICY_DIR / f"{ref}.yaml"
    if builtin.is_file():
        return builtin, str(ref)
    known = ", ".join(builtin_rule_set_ids())
    raise RuleSetError(
        [Problem(str(ref), None, None, "", f"no such rule set file or id (shipped: {known})")]
    )


def load_rules(
    ref: str | Path,
    *,
    caps: Sequence[RateCap],
    features: Collection[str] = FEATURE_NAMES,
) -> RuleSet:
    """Load a rule set (a path, or the id of one shipped in ``risk/policy``) and check it
    against ``caps``: raises :class:`RuleSetError` naming file, line and problem."""
    path, wanted_id = _resolve(ref)
    doc = _read_yaml(path)
    rule_set = _build(doc, caps, features)
    if wanted_id is not None and rule_set.id != wanted_id:
        raise RuleSetError([doc.problem(("id",), f"file {path.name} says id {rule_set.id!r}")])
    return rule_set


def parse_rules(
    text: str,
    *,
    caps: Sequence[RateCap],
    features: Collection[str] = FEATURE_NAMES,
    source: str = "<rules>",
) -> RuleSet:
    """Load a rule set from its text (an upload, a test); ``source`` names it in errors."""
    return _build(_read_yaml(source, text), caps, features)


class _Checker:
    """Semantic checks of one rule set, collecting problems with their positions."""

    def __init__(self, doc: _Document, caps: Sequence[RateCap], features: Collection[str]) -> None:
        self.doc = doc
        self.problems: list[Problem] = []
        self.fields: dict[str, _Type] = {**{name: _Type.NUMBER for name in features}, **_BUILTIN}
        self.cap = _lowest(caps)
        self.used_features: dict[str, None] = {}
        self.builtin = frozenset(_BUILTIN)

    def problem(self, path: Path_, message: str, label: str) -> None:
        self.problems.append(self.doc.problem(path, message, label))

    # conditions

    def conditions(
        self, specs: Sequence[_ConditionSpec], at: Path_, label: str
    ) -> tuple[Condition, ...]:
        out: list[Condition] = []
        for index, spec in enumerate(specs):
            condition = self.condition(spec, (*at, index), label)
            if condition is not None:
                out.append(condition)
        return tuple(out)

    def condition(self, spec: _ConditionSpec, at: Path_, label: str) -> Condition | None:
        kind = self.fields.get(spec.field)
        if kind is None:
            known = ", ".join(sorted(self.fields))
            self.problem((*at, "field"), f"unknown field {spec.field!r}; known: {known}", label)
            if spec.op not in set(Op):
                self.problem((*at, "op"), f"unknown op {spec.op!r}", label)
            return None
        if spec.field not in self.builtin:
            self.used_features[spec.field] = None
        try:
            op = Op(spec.op)
        except ValueError:
            known = " ".join(o.value for o in Op)
            self.problem((*at, "op"), f"unknown op {spec.op!r}; known: {known}", label)
            return None
        if op not in _OPS_BY_TYPE[kind]:
            allowed = " ".join(o.value for o in Op if o in _OPS_BY_TYPE[kind])
            self.problem(
                (*at, "op"), f"{spec.field} is a {kind}: it takes {allowed}, not {op}", label
            )
            return None
        if op is Op.IN:
            if not isinstance(spec.value, list) or not spec.value:
                self.problem((*at, "value"), "'in' needs a non-empty list of values", label)
                return None
            items = [
                self.scalar(spec.field, kind, item, (*at, "value", i), label)
                for i, item in enumerate(spec.value)
            ]
            if any(item is None for item in items):
                return None
            return Condition(
                spec.field, op, tuple(i for i in items if i is not None), spec.if_missing
            )
        value = self.scalar(spec.field, kind, spec.value, (*at, "value"), label)
        if value is None:
            return None
        return Condition(spec.field, op, value, spec.if_missing)

    def scalar(self, name: str, kind: _Type, value: object, at: Path_, label: str) -> Scalar | None:
        if kind is _Type.LIST:
            if value not in _LIST_VALUES:
                self.problem(
                    at, f"{name} is one of {', '.join(_LIST_VALUES)} (got {value!r})", label
                )
                return None
            assert isinstance(value, str)
            return value
        if kind is _Type.BOOL:
            if not isinstance(value, bool):
                self.problem(at, f"{name} is true or false (got {value!r})", label)
                return None
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(at, f"{name} is compared with a number (got {value!r})", label)
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.problem(at, f"{name}: {value!r} is not a finite number", label)
            return None
        number = Decimal(str(value))
        if name == "probability" and not Decimal(0) <= number <= Decimal(1):
            self.problem(at, f"a probability is between 0 and 1 (got {value!r})", label)
            return None
        return number

    # actions

    def action(self, raw: object, at: Path_, label: str) -> Action | None:
        names = ", ".join(k.value for k in ActionKind)
        if isinstance(raw, str):
            try:
                kind = ActionKind(raw)
            except ValueError:
                self.problem(at, f"unknown action {raw!r}; known: {names}", label)
                return None
            if kind not in _BARE_ACTIONS:
                self.problem(at, f"{kind} needs parameters: {{{kind}: {{...}}}}", label)
                return None
            return Action(kind)
        if not isinstance(raw, dict) or len(raw) != 1:
            self.problem(at, f"an action is one of {names}, as a word or {{action: params}}", label)
            return None
        ((name, params),) = raw.items()
        try:
            kind = ActionKind(name)
        except ValueError:
            self.problem((*at, name), f"unknown action {name!r}; known: {names}", label)
            return None
        where: Path_ = (*at, name)
        if kind in _BARE_ACTIONS:
            if params not in (None, True, {}):
                self.problem(where, f"{kind} takes no parameters", label)
                return None
            return Action(kind)
        try:
            if kind is ActionKind.RAISE_LIMIT:
                up = _RaiseSpec.model_validate(params)
                if not Decimal(0) < up.percent <= Decimal(100):
                    self.problem((*where, "percent"), _percent_message(up.percent), label)
                    return None
                return Action(kind, percent=up.percent, max_limit=up.max_limit)
            if kind is ActionKind.LOWER_LIMIT:
                down = _LowerSpec.model_validate(params)
                if not Decimal(0) < down.percent <= Decimal(100):
                    self.problem((*where, "percent"), _percent_message(down.percent), label)
                    return None
                return Action(kind, percent=down.percent, min_limit=down.min_limit)
            if kind is ActionKind.SET_RATE:
                value = _SetRateSpec.model_validate(
                    params if isinstance(params, dict) else {"value": params}
                ).value
                if value < 0:
                    self.problem(where, f"a rate is not negative (got {value})", label)
                    return None
                return Action(kind, rate=value)
            delta = _DeltaSpec.model_validate(params)
        except ValidationError as exc:
            self.problems.extend(_schema_problems(self.doc, exc, where, label))
            return None
        return self.rate_delta(delta, where, label)

    def rate_delta(self, spec: _DeltaSpec, at: Path_, label: str) -> Action | None:
        ok = True
        if spec.delta == 0 or abs(spec.delta) > 1:
            self.problem(
                (*at, "delta"), f"delta is a non-zero fraction, -1..1 (got {spec.delta})", label
            )
            ok = False
        if spec.delta > 0 and spec.min_rate is not None:
            self.problem((*at, "min_rate"), "min_rate bounds a cut (delta < 0)", label)
            ok = False
        if spec.delta < 0 and spec.max_rate is not None:
            self.problem((*at, "max_rate"), "max_rate bounds a raise (delta > 0)", label)
            ok = False
        for name, value in (("max_rate", spec.max_rate), ("min_rate", spec.min_rate)):
            if value is not None and value < 0:
                self.problem((*at, name), f"a rate is not negative (got {value})", label)
                ok = False
        if not ok:
            return None
        return Action(
            ActionKind.RATE_DELTA,
            delta=spec.delta,
            max_rate=spec.max_rate,
            min_rate=spec.min_rate,
        )

    def caps(self, action: Action, at: Path_, label: str) -> None:
        """Refuse an action that could put a rate above the lowest cap."""
        for name, bound in action.rate_bounds():
            where: Path_ = (
                (*at, action.kind.value)
                if name == "set_rate"
                else (
                    *at,
                    action.kind.value,
                    name,
                )
            )
            if self.cap is None:
                self.problem(
                    where,
                    f"{action.kind} changes a rate, but no legal rate cap is configured to "
                    "check it against; refused",
                    label,
                )
            elif bound is None:
                self.problem(
                    where,
                    f"rate_delta raises the rate by {_pct(action.delta)} with no max_rate: it "
                    f"could go above the cap {self.cap.id} ({_pct(self.cap.annual_rate)} a "
                    "year); add max_rate at or under the cap; refused",
                    label,
                )
            elif bound > self.cap.annual_rate:
                self.problem(
                    where,
                    f"{name} {_pct(bound)} is above the legal cap {self.cap.id} "
                    f"({_pct(self.cap.annual_rate)} a year, {self.cap.label}); refused",
                    label,
                )

    # templates

    def template(self, text: str, at: Path_, label: str, extra: Iterable[str]) -> None:
        allowed = {*self.fields, *extra}
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            self.problem(at, f"bad template ({exc}); write a literal brace as {{{{ or }}}}", label)
            return
        sample: dict[str, object] = {}
        for _literal, name, spec, conversion in parsed:
            if name is None:
                continue
            if name not in allowed:
                self.problem(
                    at,
                    f"unknown placeholder {{{name}}}; a template may use the fields and "
                    f"{', '.join(sorted(extra))}",
                    label,
                )
                return
            if conversion is not None or (spec and "{" in spec):
                self.problem(at, f"placeholder {{{name}}}: no conversions or nested fields", label)
                return
            sample[name] = _sample(name, self.fields.get(name))
        try:
            text.format_map(sample)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            self.problem(at, f"bad placeholder format: {exc}", label)


def _percent_message(value: Decimal) -> str:
    return f"percent is more than 0 and at most 100 (got {value})"


def _sample(name: str, kind: _Type | None) -> object:
    if name in _MONEY_VARS or name in _RATE_VARS:
        return "1"
    if kind is _Type.LIST:
        return "white"
    if kind is _Type.BOOL:
        return True
    if name == "probability":
        return 0.5
    return 1


def _build(doc: _Document, caps: Sequence[RateCap], features: Collection[str]) -> RuleSet:
    if doc.problems:
        raise RuleSetError(doc.problems)
    try:
        spec = _RuleSetSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise RuleSetError(_schema_problems(doc, exc)) from None
    check = _Checker(doc, caps, features)
    seen: set[str] = set()
    if not spec.list_rules and not spec.adjustments:
        check.problem((), "a rule set has list_rules, adjustments or both", "")

    def check_id(rule_id: str, at: Path_, label: str) -> None:
        if rule_id in seen:
            check.problem((*at, "id"), "duplicate rule id", label)
        seen.add(rule_id)
        if not rule_id.startswith(f"{spec.id}."):
            check.problem((*at, "id"), f"rule ids start with the rule set id {spec.id!r}.", label)

    list_rules: list[ListRule] = []
    for index, raw in enumerate(spec.list_rules):
        at: Path_ = ("list_rules", index)
        label = f"rule {raw.id}"
        check_id(raw.id, at, label)
        when = check.conditions(raw.when, (*at, "when"), label)
        for lang in ("zh", "en"):
            check.template(
                getattr(raw.reason, lang), (*at, "reason", lang), label, ("expiry_days",)
            )
        list_rules.append(
            ListRule(
                id=raw.id,
                kind=ListKind(raw.kind),
                source=ListSource(raw.source),
                when=when,
                expiry_days=raw.expiry_days,
                reason_zh=raw.reason.zh,
                reason_en=raw.reason.en,
            )
        )

    adjustments: list[AdjustmentRule] = []
    catch_all: str | None = None
    for index, raw_adj in enumerate(spec.adjustments):
        at = ("adjustments", index)
        label = f"rule {raw_adj.id}"
        check_id(raw_adj.id, at, label)
        if catch_all is not None:
            check.problem(
                at,
                f"can never fire: {catch_all} before it has no conditions and matches all",
                label,
            )
        if not raw_adj.when:
            catch_all = raw_adj.id
        when = check.conditions(raw_adj.when, (*at, "when"), label)
        action = check.action(raw_adj.action, (*at, "action"), label)
        if action is None:
            continue
        check.caps(action, (*at, "action"), label)
        extra = (*_ACTION_VARS, *_ACTION_PARAMS[action.kind])
        for lang in ("zh", "en"):
            check.template(
                getattr(raw_adj.explanation, lang), (*at, "explanation", lang), label, extra
            )
        adjustments.append(
            AdjustmentRule(
                id=raw_adj.id,
                when=when,
                action=action,
                explanation_zh=raw_adj.explanation.zh,
                explanation_en=raw_adj.explanation.en,
            )
        )
    if check.problems:
        raise RuleSetError(check.problems)
    return RuleSet(
        id=spec.id,
        version=spec.version,
        jurisdiction=spec.jurisdiction,
        title_zh=spec.title.zh,
        title_en=spec.title.en,
        list_rules=tuple(list_rules),
        adjustments=tuple(adjustments),
        source=doc.file,
        caps=tuple(caps),
        features=tuple(check.used_features),
    )


# --- deciding (pure) -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineState:
    """A credit line as a rule sees it."""

    credit_limit: int  # minor units
    annual_rate: Decimal
    frozen: bool = False


@dataclass(frozen=True, slots=True)
class BorrowerInput:
    """What the rules see of one borrower. No ``credit_limit`` (or no ``annual_rate``):
    no credit line. ``features`` is the borrower's feature row (names as the loader was
    given them, :data:`FEATURE_NAMES` by default; other keys are ignored; None or NaN is
    missing)."""

    borrower_id: int | None = None
    credit_limit: int | None = None  # minor units
    annual_rate: Decimal | None = None
    frozen: bool = False
    list_kind: ListKind | None = None
    score: int | None = None
    probability: float | None = None
    features: Mapping[str, object] = field(default_factory=dict)
    days_since_change: int | None = None
    charged_off: int | None = None

    @property
    def line(self) -> LineState | None:
        if self.credit_limit is None or self.annual_rate is None:
            return None
        return LineState(self.credit_limit, self.annual_rate, self.frozen)

    def with_list(self, kind: ListKind | None) -> BorrowerInput:
        return replace(self, list_kind=kind)


class Facts(Protocol):
    """The borrower-specific facts the caller supplies to the apply functions; the credit
    line, the list and ``days_since_change`` come from the database. A
    :class:`BorrowerInput` is one."""

    @property
    def score(self) -> int | None: ...

    @property
    def probability(self) -> float | None: ...

    @property
    def features(self) -> Mapping[str, object]: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """What the adjustment rules decided for one credit line, and why."""

    rules: str  # rule set id@version
    rule_id: str  # "" when no rule matched
    action: ActionKind
    old_limit: int
    new_limit: int
    old_rate: Decimal
    new_rate: Decimal
    old_frozen: bool
    new_frozen: bool
    explanation_zh: str
    explanation_en: str
    inputs: dict[str, object]  # JSON-ready: what the rules saw
    cap_applied: str | None = None  # id of the cap a line above it was brought down to

    @property
    def changed(self) -> bool:
        return (
            self.old_limit != self.new_limit
            or self.old_rate != self.new_rate
            or self.old_frozen != self.new_frozen
        )


def _number(name: str, value: object) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    # numpy scalars and the like: anything that converts to float exactly enough.
    try:
        as_float = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"feature {name!r} is not a number: {value!r}") from None
    return Decimal(repr(as_float)) if math.isfinite(as_float) else None


def _observed(borrower: BorrowerInput, features: Iterable[str]) -> dict[str, Scalar | None]:
    """The value of every field a rule can name, normalised for comparison."""
    line = borrower.line
    values: dict[str, Scalar | None] = {
        "score": _number("score", borrower.score),
        "probability": _number("probability", borrower.probability),
        "list": borrower.list_kind.value if borrower.list_kind is not None else "none",
        "limit": Decimal(line.credit_limit) if line else None,
        "rate": line.annual_rate if line else None,
        "frozen": line.frozen if line else None,
        "days_since_change": _number("days_since_change", borrower.days_since_change),
        "charged_off": _number("charged_off", borrower.charged_off),
    }
    for name in features:
        values[name] = _number(name, borrower.features.get(name))
    return values


def _matches(conditions: Iterable[Condition], observed: Mapping[str, Scalar | None]) -> bool:
    return all(c.holds(observed.get(c.field)) for c in conditions)


def _json_value(value: Scalar | None) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def _inputs(observed: Mapping[str, Scalar | None]) -> dict[str, object]:
    return {name: _json_value(value) for name, value in observed.items()}


def _money(minor: int) -> str:
    return f"{Decimal(minor).scaleb(-2):,.2f}"


def _pct(rate: Decimal | None) -> str:
    if rate is None:
        return MISSING
    text = format((rate * 100).quantize(Decimal("0.01")).normalize(), "f")
    return f"{text}%"


class _Template(string.Formatter):
    """Missing values print as a dash; a format that does not fit prints the plain value."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        if value is None:
            return MISSING
        try:
            return super().format_field(value, format_spec)
        except (ValueError, TypeError):
            return str(value)


_TEMPLATE = _Template()


def _display(borrower: BorrowerInput, observed: Mapping[str, Scalar | None]) -> dict[str, object]:
    """Values for templates: as given (so format specs work), money and rates readable."""
    shown: dict[str, object] = {}
    for name, value in observed.items():
        if value is None:
            shown[name] = None
        elif name in _MONEY_FIELDS:
            assert isinstance(value, Decimal)
            shown[name] = _money(int(value))
        elif name in _RATE_FIELDS:
            assert isinstance(value, Decimal)
            shown[name] = _pct(value)
        else:
            shown[name] = value
    shown["score"] = borrower.score
    shown["probability"] = borrower.probability
    for name, raw in borrower.features.items():
        if name in shown and shown[name] is not None:
            shown[name] = raw
    return shown


def _render(text: str, values: Mapping[str, object]) -> str:
    return _TEMPLATE.vformat(text, (), dict(values))


def matching_list_rules(rule_set: RuleSet, borrower: BorrowerInput) -> list[ListRule]:
    """The list rules that match the borrower, in the rule set's order."""
    observed = _observed(borrower, rule_set.features)
    return [rule for rule in rule_set.list_rules if _matches(rule.when, observed)]


def list_reason(rule: ListRule, borrower: BorrowerInput, rule_set: RuleSet) -> tuple[str, str]:
    """A list rule's reason for this borrower, (zh, en)."""
    observed = _observed(borrower, rule_set.features)
    values = {**_display(borrower, observed), "expiry_days": rule.expiry_days}
    return _render(rule.reason_zh, values), _render(rule.reason_en, values)


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def decide(
    rule_set: RuleSet, borrower: BorrowerInput, caps: Sequence[RateCap] | None = None
) -> Decision:
    """The first adjustment rule that matches decides; without one, nothing changes.

    ``caps`` default to those the rule set was loaded against. Raises
    :class:`RateAboveCap` if the rule could set a rate above the lowest of ``caps``."""
    line = borrower.line
    if line is None:
        raise ValueError("a decision needs the borrower's credit line")
    cap = _lowest(rule_set.caps if caps is None else caps)
    observed = _observed(borrower, rule_set.features)
    rule = next((r for r in rule_set.adjustments if _matches(r.when, observed)), None)
    action = rule.action if rule is not None else Action(ActionKind.NO_CHANGE)

    # Defence in depth: the rule's own bounds against the caps of today.
    for name, bound in action.rate_bounds():
        if cap is None:
            raise RateAboveCap(f"rule {rule.id if rule else ''}: no rate cap to check it against")
        if bound is None or bound > cap.annual_rate:
            raise RateAboveCap(
                f"rule {rule.id if rule else ''}: {name} {_pct(bound)} could exceed the cap "
                f"{cap.id} ({_pct(cap.annual_rate)}); reload the rule set against today's caps"
            )

    old_limit, old_rate, old_frozen = line.credit_limit, line.annual_rate, line.frozen
    new_limit, new_rate, new_frozen = old_limit, old_rate, old_frozen
    kind = action.kind
    if kind is ActionKind.RAISE_LIMIT:
        assert action.percent is not None
        assert action.max_limit is not None
        raised = _floor(Decimal(old_limit) * (100 + action.percent) / 100)
        new_limit = max(old_limit, min(action.max_limit, raised))
    elif kind is ActionKind.LOWER_LIMIT:
        assert action.percent is not None
        lowered = _floor(Decimal(old_limit) * (100 - action.percent) / 100)
        new_limit = min(old_limit, max(action.min_limit or 0, lowered))
    elif kind is ActionKind.FREEZE_LIMIT:
        new_frozen = True
    elif kind is ActionKind.UNFREEZE_LIMIT:
        new_frozen = False
    elif kind is ActionKind.SET_RATE:
        assert action.rate is not None
        new_rate = action.rate
    elif kind is ActionKind.RATE_DELTA:
        assert action.delta is not None
        moved = old_rate + action.delta
        if action.delta > 0:
            assert action.max_rate is not None
            new_rate = max(old_rate, min(moved, action.max_rate))
        else:
            new_rate = min(old_rate, max(moved, action.min_rate or Decimal(0)))
    if new_rate == old_rate:
        new_rate = old_rate  # the same value keeps the same digits

    cap_applied: str | None = None
    if cap is not None and new_rate > cap.annual_rate:
        if old_rate <= cap.annual_rate:  # pragma: no cover - the bounds above prevent it
            raise RateAboveCap(
                f"rule {rule.id if rule else ''} would set {_pct(new_rate)}, above the cap "
                f"{cap.id} ({_pct(cap.annual_rate)})"
            )
        # The line was already above the cap: never leave it there.
        new_rate = cap.annual_rate
        cap_applied = cap.id
    if cap is not None and new_rate > cap.annual_rate:  # pragma: no cover - by construction
        raise RateAboveCap(f"{_pct(new_rate)} is above the cap {cap.id}")

    values = {
        **_display(borrower, observed),
        "old_limit": _money(old_limit),
        "new_limit": _money(new_limit),
        "old_rate": _pct(old_rate),
        "new_rate": _pct(new_rate),
        "percent": format(action.percent.normalize(), "f") if action.percent is not None else None,
        "max_limit": _money(action.max_limit) if action.max_limit is not None else None,
        "min_limit": _money(action.min_limit) if action.min_limit is not None else None,
        "delta": _pct(action.delta) if action.delta is not None else None,
        "max_rate": _pct(action.max_rate) if action.max_rate is not None else None,
        "min_rate": _pct(action.min_rate) if action.min_rate is not None else None,
    }
    if rule is not None:
        zh = _render(rule.explanation_zh, values)
        en = _render(rule.explanation_en, values)
    else:
        zh, en = "没有适用的规则：额度和利率不变", "No rule applied: limit and rate unchanged"
    if cap_applied is not None and cap is not None:
        zh += f"；原利率 {_pct(old_rate)} 高于法定上限 {_pct(cap.annual_rate)}，已降至上限"
        en += (
            f"; the rate of {_pct(old_rate)} was above the legal cap of "
            f"{_pct(cap.annual_rate)} ({cap.id}) and is brought down to it"
        )
    return Decision(
        rules=rule_set.key,
        rule_id=rule.id if rule is not None else "",
        action=kind,
        old_limit=old_limit,
        new_limit=new_limit,
        old_rate=old_rate,
        new_rate=new_rate,
        old_frozen=old_frozen,
        new_frozen=new_frozen,
        explanation_zh=zh,
        explanation_en=en,
        inputs=_inputs(observed),
        cap_applied=cap_applied,
    )


# --- applying (the service) ----------------------------------------------------------------


@dataclass
class ListsSummary:
    rules: str
    as_of: date
    borrowers: int = 0  # borrowers looked at
    added: list[int] = field(default_factory=list)  # ids of the entries added
    already_listed: int = 0  # the first matching rule's entry was already active
    suppressed: int = 0  # a matching rule's entry had been revoked in its period


@dataclass
class AdjustmentsSummary:
    rules: str
    as_of: date
    decisions: list[int] = field(default_factory=list)  # ids of the decisions written
    changed: int = 0
    unchanged: int = 0
    already_decided: int = 0  # lines decided earlier for this day by this rule set version
    no_line: int = 0  # borrowers in the inputs without a credit line
    without_facts: int = 0  # lines decided without the borrower's facts (list and line only)
    capped: int = 0  # lines found above the cap and brought down to it


@dataclass
class ApplySummary:
    lists: ListsSummary
    adjustments: AdjustmentsSummary

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (dates as ISO text), for the CLI and the API."""
        return {
            "lists": _plain(asdict(self.lists)),
            "adjustments": _plain(asdict(self.adjustments)),
        }


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in data.items()}


_CHUNK = 500


def _check_borrowers(session: Session, institution_id: int, ids: Iterable[int]) -> None:
    """Refuse, before anything is written, any borrower not of ``institution_id``."""
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found = set(
            session.scalars(
                select(Borrower.id).where(
                    Borrower.institution_id == institution_id, Borrower.id.in_(chunk)
                )
            )
        )
        missing = [b for b in chunk if b not in found]
        if missing:
            raise NotFound(f"no such borrower: {missing[0]}")


def _lines(session: Session, institution_id: int, *, lock: bool = False) -> dict[int, CreditLine]:
    stmt = select(CreditLine).where(CreditLine.institution_id == institution_id)
    if lock:
        stmt = stmt.with_for_update()
    return {line.borrower_id: line for line in session.scalars(stmt.order_by(CreditLine.id))}


def _changed_clause() -> Any:
    return or_(
        CreditDecision.old_limit != CreditDecision.new_limit,
        CreditDecision.old_rate != CreditDecision.new_rate,
    )


def _days_since_change(session: Session, institution_id: int, as_of: date) -> dict[int, int]:
    rows = session.execute(
        select(CreditDecision.borrower_id, func.max(CreditDecision.as_of))
        .where(
            CreditDecision.institution_id == institution_id,
            CreditDecision.as_of <= as_of,
            _changed_clause(),
        )
        .group_by(CreditDecision.borrower_id)
    )
    return {borrower_id: (as_of - last).days for borrower_id, last in rows}


def _charged_off(session: Session, institution_id: int, as_of: date) -> dict[int, int]:
    """Per borrower, how many of their loans were charged off on or before ``as_of``."""
    rows = session.execute(
        select(Loan.borrower_id, func.count())
        .where(
            Loan.institution_id == institution_id,
            Loan.charged_off_date.is_not(None),
            Loan.charged_off_date <= as_of,
        )
        .group_by(Loan.borrower_id)
    )
    return {borrower_id: int(count) for borrower_id, count in rows}


def _input(
    borrower_id: int,
    facts: Facts | None,
    line: CreditLine | None,
    kind: ListKind | None,
    days: int | None,
    charged_off: int,
) -> BorrowerInput:
    return BorrowerInput(
        borrower_id=borrower_id,
        credit_limit=line.credit_limit if line is not None else None,
        annual_rate=line.annual_rate if line is not None else None,
        frozen=bool(line.frozen) if line is not None else False,
        list_kind=kind,
        score=facts.score if facts is not None else None,
        probability=facts.probability if facts is not None else None,
        features=facts.features if facts is not None else {},
        days_since_change=days,
        charged_off=charged_off,
    )


def _ranges(ids: Sequence[int]) -> list[list[int]]:
    """Ids as [first, last] runs: a run of a thousand decisions is one pair."""
    runs: list[list[int]] = []
    for value in sorted(ids):
        if runs and value == runs[-1][1] + 1:
            runs[-1][1] = value
        else:
            runs.append([value, value])
    return runs


def _used(rules: Iterable[Condition], observed: Mapping[str, Scalar | None]) -> dict[str, object]:
    return {c.field: _json_value(observed.get(c.field)) for c in rules}


def _write_decision(
    session: Session,
    actor: str,
    institution_id: int,
    as_of: date,
    line: CreditLine,
    borrower: BorrowerInput,
    decision: Decision,
) -> CreditDecision:
    explanation = {
        "en": decision.explanation_en,
        "zh": decision.explanation_zh,
        "inputs": decision.inputs,
        "frozen": {"old": decision.old_frozen, "new": decision.new_frozen},
        "cap_applied": decision.cap_applied,
    }
    row = CreditDecision(
        institution_id=institution_id,
        borrower_id=line.borrower_id,
        as_of=as_of,
        rules_id=decision.rules,
        rule_id=decision.rule_id,
        action=decision.action.value,
        old_limit=decision.old_limit,
        new_limit=decision.new_limit,
        old_rate=decision.old_rate,
        new_rate=decision.new_rate,
        score=borrower.score,
        list_kind=borrower.list_kind.value if borrower.list_kind else "",
        explanation=json.dumps(explanation, ensure_ascii=False, sort_keys=True),
        created_by=actor,
    )
    session.add(row)
    session.flush()
    return row


def apply_lists(
    session: Session,
    *,
    actor: str,
    institution_id: int,
    as_of: date,
    rule_set: RuleSet,
    inputs: Mapping[int, Facts],
) -> ListsSummary:
    """Put the borrowers of ``inputs`` on lists by the rule set's list rules, as of
    ``as_of``. Per borrower, the first matching rule adds an ACTIVE entry (effective
    ``as_of``, expiring ``expiry_days`` later), unless:

    * that rule's entry is already active and not expired: nothing (a rerun adds nothing);
    * an entry of that rule was revoked (an upheld appeal, by hand) and its period has not
      ended: that rule is skipped for the borrower and the next matching rule is tried.

    Each entry is audited as ``risk.list.added`` with the inputs its rule used, and the run
    as ``risk.lists.applied``. A run that adds nothing writes nothing."""
    summary = ListsSummary(rules=rule_set.key, as_of=as_of, borrowers=len(inputs))
    if not rule_set.list_rules or not inputs:
        return summary
    _check_borrowers(session, institution_id, inputs)
    kinds = lists.effective_kinds(session, institution_id, as_of)
    lines = _lines(session, institution_id)
    days = _days_since_change(session, institution_id, as_of)
    charged_off = _charged_off(session, institution_id, as_of)
    rule_ids = [rule.id for rule in rule_set.list_rules]
    active: set[tuple[int, str, str]] = set()
    revoked: set[tuple[int, str, str]] = set()
    for borrower_id, kind, rule_id, status in session.execute(
        select(ListEntry.borrower_id, ListEntry.kind, ListEntry.rule_id, ListEntry.status).where(
            ListEntry.institution_id == institution_id,
            ListEntry.source.in_([ListSource.RULE, ListSource.MODEL]),
            ListEntry.rule_id.in_(rule_ids),
            ListEntry.status.in_([ListStatus.ACTIVE, ListStatus.REVOKED]),
            or_(ListEntry.expiry_date.is_(None), ListEntry.expiry_date > as_of),
        )
    ):
        key = (borrower_id, str(kind), rule_id)
        (active if status == ListStatus.ACTIVE else revoked).add(key)

    for borrower_id in sorted(inputs):
        borrower = _input(
            borrower_id,
            inputs[borrower_id],
            lines.get(borrower_id),
            kinds.get(borrower_id),
            days.get(borrower_id),
            charged_off.get(borrower_id, 0),
        )
        observed = _observed(borrower, rule_set.features)
        for rule in rule_set.list_rules:
            if not _matches(rule.when, observed):
                continue
            key = (borrower_id, rule.kind.value, rule.id)
            if key in active:
                summary.already_listed += 1
                break
            if key in revoked:
                summary.suppressed += 1
                continue
            zh, en = list_reason(rule, borrower, rule_set)
            reason = f"{zh} / {en}"
            if len(reason) > lists.REASON_MAX:
                reason = reason[: lists.REASON_MAX - 1] + "…"
            entry = lists.add_entry(
                session,
                actor=actor,
                institution_id=institution_id,
                borrower_id=borrower_id,
                kind=rule.kind,
                source=rule.source,
                reason=reason,
                effective_date=as_of,
                expiry_date=as_of + timedelta(days=rule.expiry_days),
                rule_id=rule.id,
                audit_details={"rules": rule_set.key, "inputs": _used(rule.when, observed)},
            )
            active.add(key)
            summary.added.append(entry.id)
            break
    if summary.added:
        audit.record(
            session,
            actor=actor,
            action="risk.lists.applied",
            target=f"institution:{institution_id}",
            institution_id=institution_id,
            details={
                "rules": rule_set.key,
                "as_of": as_of.isoformat(),
                "borrowers": summary.borrowers,
                "added": len(summary.added),
                "entry_ids": _ranges(summary.added),
                "already_listed": summary.already_listed,
                "suppressed": summary.suppressed,
            },
        )
    return summary


def apply_adjustments(
    session: Session,
    *,
    actor: str,
    institution_id: int,
    as_of: date,
    rule_set: RuleSet,
    inputs: Mapping[int, Facts],
    caps: Sequence[RateCap] | None = None,
) -> AdjustmentsSummary:
    """Decide every credit line of the institution by the adjustment rules, as of
    ``as_of``, with the borrower's list on that day and the facts in ``inputs`` (a line
    without facts is decided on its list and line alone).

    Writes one :class:`CreditDecision` per line, changed or not, and updates the changed
    lines. Audit: one ``risk.credit.adjusted`` record per changed line, and one
    ``risk.credit.adjustments_applied`` record per run listing every decision id (so an
    unchanged decision is traceable too). A line already decided for ``as_of`` by this rule
    set version is skipped: a rerun writes nothing. ``caps`` default to those the rule set
    was loaded against. Every line is decided before anything is written, so
    :class:`RateAboveCap` (or any refusal) leaves the session as it was."""
    summary = AdjustmentsSummary(rules=rule_set.key, as_of=as_of)
    _check_borrowers(session, institution_id, inputs)
    lines = _lines(session, institution_id, lock=True)
    summary.no_line = sum(1 for b in inputs if b not in lines)
    done = set(
        session.scalars(
            select(CreditDecision.borrower_id).where(
                CreditDecision.institution_id == institution_id,
                CreditDecision.as_of == as_of,
                CreditDecision.rules_id == rule_set.key,
            )
        )
    )
    kinds = lists.effective_kinds(session, institution_id, as_of)
    days = _days_since_change(session, institution_id, as_of)
    charged_off = _charged_off(session, institution_id, as_of)
    # Decide every line first (pure): a refusal leaves the session as it was.
    decided: list[tuple[CreditLine, BorrowerInput, Decision]] = []
    for borrower_id in sorted(lines):
        if borrower_id in done:
            summary.already_decided += 1
            continue
        line = lines[borrower_id]
        facts = inputs.get(borrower_id)
        if facts is None:
            summary.without_facts += 1
        borrower = _input(
            borrower_id,
            facts,
            line,
            kinds.get(borrower_id),
            days.get(borrower_id),
            charged_off.get(borrower_id, 0),
        )
        decided.append((line, borrower, decide(rule_set, borrower, caps)))
    for line, borrower, decision in decided:
        row = _write_decision(session, actor, institution_id, as_of, line, borrower, decision)
        summary.decisions.append(row.id)
        if decision.cap_applied:
            summary.capped += 1
        if not decision.changed:
            summary.unchanged += 1
            continue
        summary.changed += 1
        line.credit_limit = decision.new_limit
        line.annual_rate = decision.new_rate
        line.frozen = decision.new_frozen
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="risk.credit.adjusted",
            target=f"credit_line:{line.id}",
            institution_id=institution_id,
            details={
                "decision_id": row.id,
                "borrower_id": line.borrower_id,
                "rules": decision.rules,
                "rule_id": decision.rule_id,
                "action": decision.action.value,
                "as_of": as_of.isoformat(),
                "old_limit": decision.old_limit,
                "new_limit": decision.new_limit,
                "old_rate": format(decision.old_rate, "f"),
                "new_rate": format(decision.new_rate, "f"),
                "old_frozen": decision.old_frozen,
                "new_frozen": decision.new_frozen,
                "cap_applied": decision.cap_applied,
                "inputs": decision.inputs,
            },
        )
    if summary.decisions:
        audit.record(
            session,
            actor=actor,
            action="risk.credit.adjustments_applied",
            target=f"institution:{institution_id}",
            institution_id=institution_id,
            details={
                "rules": rule_set.key,
                "as_of": as_of.isoformat(),
                "decision_ids": _ranges(summary.decisions),
                "changed": summary.changed,
                "unchanged": summary.unchanged,
                "already_decided": summary.already_decided,
                "no_line": summary.no_line,
                "without_facts": summary.without_facts,
                "capped": summary.capped,
                "caps": [c.id for c in (rule_set.caps if caps is None else caps)],
            },
        )
    return summary


def apply(
    session: Session,
    *,
    actor: str,
    institution_id: int,
    as_of: date,
    rule_set: RuleSet,
    inputs: Mapping[int, Facts],
    caps: Sequence[RateCap] | None = None,
) -> ApplySummary:
    """``fairdun lists apply``: the list rules, then the adjustments over the lists as they
    stand after them. Idempotent for one day and rule set version."""
    listed = apply_lists(
        session,
        actor=actor,
        institution_id=institution_id,
        as_of=as_of,
        rule_set=rule_set,
        inputs=inputs,
    )
    adjusted = apply_adjustments(
        session,
        actor=actor,
        institution_id=institution_id,
        as_of=as_of,
        rule_set=rule_set,
        inputs=inputs,
        caps=caps,
    )
    return ApplySummary(listed, adjusted)
