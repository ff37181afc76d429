"""Limit and rate rules: the strict loader and the caps, the pure decision, the audited and
idempotent application."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairdun.audit.models import AuditRecord
from fairdun.kit.errors import NotFound
from fairdun.loans.apr import RateCap, default_caps
from fairdun.loans.models import Borrower
from fairdun.risk import limits, lists
from fairdun.risk.limits import ActionKind, BorrowerInput, RuleSet, RuleSetError
from fairdun.risk.models import CreditDecision, CreditLine, ListEntry, ListKind, ListStatus
from tests.conftest import make_settings
from tests.factories import make_borrower, make_institution, make_loan

DAY = date(2026, 11, 30)
ACTOR = "system:lists-apply"
# The caps configured by default: 24% and 36% a year; the lowest binds.
CAPS: tuple[RateCap, ...] = default_caps()[:2]
CEILING = Decimal("0.24")

HEAD = """\
id: t
version: "1"
jurisdiction: cn
title: {zh: 测试, en: test}
"""


def _rules(body: str, caps: tuple[RateCap, ...] = CAPS) -> RuleSet:
    return limits.parse_rules(HEAD + textwrap.dedent(body), caps=caps, source="t.yaml")


def _problems(body: str, caps: tuple[RateCap, ...] = CAPS) -> list[str]:
    with pytest.raises(RuleSetError) as info:
        _rules(body, caps)
    return [str(p) for p in info.value.problems]


def _line(
    limit: int = 1_000_000, rate: str = "0.18", frozen: bool = False, **kw: Any
) -> BorrowerInput:
    return BorrowerInput(credit_limit=limit, annual_rate=Decimal(rate), frozen=frozen, **kw)


# --- the shipped rule set -------------------------------------------------------------------


def test_the_default_rule_set_loads_by_id_against_the_configured_caps() -> None:
    caps = limits.configured_caps(make_settings())
    assert [c.id for c in caps] == ["cn.24pct", "cn.36pct"]
    rules = limits.load_rules("credit-cn-default", caps=caps)
    assert rules.key == "credit-cn-default@2026-11-30"
    assert rules.binding_cap is not None
    assert rules.binding_cap.id == "cn.24pct"
    assert "credit-cn-default" in limits.builtin_rule_set_ids()
    # Also under the strictest line (four times the LPR, 12%): it never raises a rate.
    limits.load_rules("credit-cn-default", caps=default_caps())
    assert {r.kind for r in rules.list_rules} == set(ListKind)


def test_the_default_rules_decide_as_documented() -> None:
    rules = limits.load_rules("credit-cn-default", caps=CAPS)
    white = _line(list_kind=ListKind.WHITE, score=700, features={"utilisation": 0.8, "dpd_now": 0})
    decision = limits.decide(rules, white)
    assert decision.rule_id == "credit-cn-default.white-raise"
    assert decision.new_limit == 1_200_000
    assert decision.explanation_zh.startswith(
        "白名单且评分 700 ≥ 680、额度使用率 80%：额度提高 20%"
    )
    assert "from 10,000.00 to 12,000.00" in decision.explanation_en

    grey = limits.decide(rules, _line(list_kind=ListKind.GREY))
    assert (grey.rule_id, grey.new_frozen) == ("credit-cn-default.grey-freeze", True)

    cleared = limits.decide(rules, _line(frozen=True, features={"dpd_now": 0}))
    assert (cleared.rule_id, cleared.new_frozen) == ("credit-cn-default.unfreeze-clean", False)

    charged_off = limits.BorrowerInput(charged_off=1, features={"dpd_now": 400})
    matched = limits.matching_list_rules(rules, charged_off)
    assert [r.id for r in matched][:2] == [
        "credit-cn-default.black-charged-off",
        "credit-cn-default.grey-dpd30",
    ]
    zh, en = limits.list_reason(matched[1], charged_off, rules)
    assert (zh, en) == ("当前逾期 400 天（≥ 30 天）", "400 days past due now (30 or more)")


# --- the loader: file, line, what is wrong ---------------------------------------------------


def test_bad_yaml_is_reported_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD + "adjustments: [\n  {id: t.a\n", encoding="utf-8")
    with pytest.raises(RuleSetError) as info:
        limits.load_rules(path, caps=CAPS)
    (problem,) = info.value.problems
    assert problem.file == str(path)
    assert problem.line is not None
    assert problem.line >= 5
    assert "not valid YAML" in str(problem)


def test_unknown_keys_are_refused_at_their_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        HEAD
        + textwrap.dedent(
            """\
            adjustments:
              - id: t.a
                when: []
                action: no_change
                explanation: {zh: 不变, en: unchanged}
                priority: 3
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(RuleSetError) as info:
        limits.load_rules(path, caps=CAPS)
    (problem,) = info.value.problems
    assert str(problem).startswith(f"{path}:10:5: ")
    assert "adjustments[0].priority: unknown key" in str(problem)


def test_unknown_field_and_op_are_refused_at_their_line() -> None:
    problems = _problems(
        """\
        adjustments:
          - id: t.a
            when:
              - {field: shoe_size, op: ">", value: 42}
            action: freeze_limit
            explanation: {zh: 冻结, en: frozen}
          - id: t.b
            when:
              - {field: score, op: "=~", value: 600}
            action: freeze_limit
            explanation: {zh: 冻结, en: frozen}
        """
    )
    assert len(problems) == 2
    assert problems[0].startswith("t.yaml:8:")
    assert "unknown field 'shoe_size'" in problems[0]
    assert "rule t.a" in problems[0]
    assert problems[1].startswith("t.yaml:13:")
    assert "unknown op '=~'" in problems[1]
    assert "rule t.b" in problems[1]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ('{field: list, op: ">", value: black}', "list is a list: it takes == != in"),
        ("{field: list, op: ==, value: purple}", "list is one of black, grey, white, none"),
        ("{field: frozen, op: ==, value: 1}", "frozen is true or false"),
        ("{field: score, op: ==, value: high}", "score is compared with a number"),
        ("{field: score, op: in, value: 600}", "'in' needs a non-empty list"),
        ("{field: probability, op: '>=', value: 50}", "a probability is between 0 and 1"),
    ],
)
def test_conditions_are_checked_against_their_field(condition: str, message: str) -> None:
    problems = _problems(
        f"""\
        adjustments:
          - id: t.a
            when:
              - {condition}
            action: freeze_limit
            explanation: {{zh: 冻结, en: frozen}}
        """
    )
    assert any(message in p for p in problems), problems


def test_set_rate_above_the_cap_is_refused_naming_the_rule_and_the_cap() -> None:
    (problem,) = _problems(
        """\
        adjustments:
          - id: t.penalty-rate
            when: [{field: dpd_now, op: ">=", value: 30}]
            action: {set_rate: 0.30}
            explanation: {zh: 提价, en: rate up}
        """
    )
    assert problem.startswith("t.yaml:8:")
    assert "rule t.penalty-rate" in problem
    assert "cn.24pct" in problem
    assert "set_rate 30% is above the legal cap" in problem


def test_an_unbounded_rate_raise_is_refused_naming_the_rule_and_the_cap() -> None:
    (problem,) = _problems(
        """\
        adjustments:
          - id: t.creep
            when: [{field: dpd_now, op: ">=", value: 1}]
            action:
              rate_delta: {delta: 0.01}
            explanation: {zh: 提价, en: rate up}
        """
    )
    assert "rule t.creep" in problem
    assert "no max_rate" in problem
    assert "cn.24pct" in problem


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("rate_delta: {delta: 0.01, max_rate: 0.25}", "max_rate 25% is above the legal cap"),
        ("rate_delta: {delta: -0.01, min_rate: 0.30}", "min_rate 30% is above the legal cap"),
        ("raise_limit: {percent: 150, max_limit: 100}", "percent is more than 0 and at most 100"),
        ("lower_limit: {percent: 0}", "percent is more than 0 and at most 100"),
        ("raise_limit: {percent: 10}", "max_limit: required key missing"),
        ("raise_limit: {percent: 10, max_limit: 9, step: 1}", "step: unknown key"),
        ("rate_delta: {delta: 0}", "delta is a non-zero fraction"),
        ("rate_delta: {delta: -0.01, max_rate: 0.1}", "max_rate bounds a raise"),
        ("set_rate: -0.01", "a rate is not negative"),
        ("set_rate: true", "a number is needed"),
        ("double_limit: {}", "unknown action 'double_limit'"),
    ],
)
def test_actions_are_checked(action: str, message: str) -> None:
    problems = _problems(
        f"""\
        adjustments:
          - id: t.a
            when: [{{field: score, op: ">", value: 1}}]
            action:
              {action}
            explanation: {{zh: 调整, en: adjusted}}
        """
    )
    assert any(message in p for p in problems), problems
    assert all("rule t.a" in p for p in problems)


def test_without_a_configured_cap_no_rate_rule_loads() -> None:
    (problem,) = _problems(
        """\
        adjustments:
          - id: t.cut
            when: [{field: score, op: ">", value: 700}]
            action: {set_rate: 0.05}
            explanation: {zh: 降价, en: rate down}
        """,
        caps=(),
    )
    assert "no legal rate cap is configured" in problem


def test_ids_templates_and_order_are_checked() -> None:
    problems = _problems(
        """\
        adjustments:
          - id: other.a
            action: no_change
            explanation: {zh: "{nonsense}", en: "{score.real}"}
          - id: t.b
            when: [{field: score, op: ">", value: 1}]
            action: freeze_limit
            explanation: {zh: "{limit:.2f}", en: "{"}
          - id: t.b
            when: [{field: score, op: ">", value: 1}]
            action: freeze_limit
            explanation: {zh: 冻结, en: frozen}
        """
    )
    text = "\n".join(problems)
    assert "rule ids start with the rule set id 't'." in text
    assert "unknown placeholder {nonsense}" in text
    assert "unknown placeholder {score.real}" in text
    assert "bad placeholder format" in text
    assert "bad template" in text
    assert "can never fire: other.a" in text
    assert "duplicate rule id" in text


def test_an_unknown_rule_set_id_is_refused() -> None:
    with pytest.raises(RuleSetError, match="no such rule set file or id"):
        limits.load_rules("no-such-rules", caps=CAPS)


# --- deciding ---------------------------------------------------------------------------


DECIDING = """\
adjustments:
  - id: t.black
    when: [{field: list, op: ==, value: black}]
    action: freeze_limit
    explanation: {zh: "黑名单冻结 {limit}", en: "black: {limit} frozen"}
  - id: t.white-raise
    when:
      - {field: list, op: ==, value: white}
      - {field: score, op: ">=", value: 680}
    action:
      raise_limit: {percent: 20, max_limit: 1100000}
    explanation:
      zh: 白名单且评分 {score} ≥ 680：额度提高 {percent}%
      en: "white and score {score} >= 680: limit up {percent}% to {new_limit}"
  - id: t.white-cut
    when: [{field: list, op: ==, value: white}]
    action:
      rate_delta: {delta: -0.02, min_rate: 0.10}
    explanation: {zh: "降息至 {new_rate}", en: "rate down to {new_rate}"}
  - id: t.late
    when:
      - {field: dpd_now, op: ">=", value: 30}
      - {field: days_since_change, op: ">=", value: 90, if_missing: true}
    action:
      lower_limit: {percent: 50, min_limit: 300000}
    explanation:
      zh: 逾期 {dpd_now} 天：额度降低
      en: "{dpd_now} days late: limit {old_limit} to {new_limit}"
  - id: t.score-up
    when: [{field: score, op: ">=", value: 800}]
    action:
      rate_delta: {delta: 0.01, max_rate: 0.20}
    explanation: {zh: "利率 {old_rate} 至 {new_rate}", en: "rate {old_rate} to {new_rate}"}
  - id: t.model
    when: [{field: probability, op: in, value: [0.25, 0.5]}]
    action: {set_rate: 0.15}
    explanation: {zh: "利率 {new_rate}", en: "rate {new_rate}"}
"""


@pytest.fixture(scope="module")
def deciding() -> RuleSet:
    return _rules(DECIDING)


def test_the_first_matching_rule_decides(deciding: RuleSet) -> None:
    white = limits.decide(deciding, _line(list_kind=ListKind.WHITE, score=700))
    assert white.rule_id == "t.white-raise"
    assert white.action is ActionKind.RAISE_LIMIT
    assert (white.old_limit, white.new_limit) == (1_000_000, 1_100_000)  # capped at max_limit
    assert white.explanation_zh == "白名单且评分 700 ≥ 680：额度提高 20%"
    assert white.explanation_en == "white and score 700 >= 680: limit up 20% to 11,000.00"
    assert white.rules == "t@1"
    assert white.inputs["score"] == "700"
    assert white.changed

    low_score = limits.decide(deciding, _line(list_kind=ListKind.WHITE, score=600))
    assert low_score.rule_id == "t.white-cut"
    assert low_score.new_rate == Decimal("0.16")
    assert low_score.explanation_en == "rate down to 16%"

    black = limits.decide(deciding, _line(list_kind=ListKind.BLACK, score=900))
    assert (black.rule_id, black.new_frozen, black.new_limit) == ("t.black", True, 1_000_000)


def test_without_a_matching_rule_nothing_changes(deciding: RuleSet) -> None:
    decision = limits.decide(deciding, _line(score=500))
    assert decision.rule_id == ""
    assert decision.action is ActionKind.NO_CHANGE
    assert not decision.changed
    assert decision.explanation_en == "No rule applied: limit and rate unchanged"


def test_missing_values_do_not_match_unless_the_rule_says_so(deciding: RuleSet) -> None:
    # No score: the white raise cannot apply; the unconditional white cut does.
    assert limits.decide(deciding, _line(list_kind=ListKind.WHITE)).rule_id == "t.white-cut"
    # days_since_change missing counts as long ago (if_missing: true)...
    late = limits.decide(deciding, _line(features={"dpd_now": 45}))
    assert (late.rule_id, late.new_limit) == ("t.late", 500_000)
    assert late.explanation_en == "45 days late: limit 10,000.00 to 5,000.00"
    # ...a recent change does not.
    recent = limits.decide(deciding, _line(features={"dpd_now": 45}, days_since_change=10))
    assert recent.rule_id == ""
    # A NaN feature is missing.
    assert limits.decide(deciding, _line(features={"dpd_now": float("nan")})).rule_id == ""


def test_limit_and_rate_bounds_hold(deciding: RuleSet) -> None:
    floor = limits.decide(deciding, _line(limit=400_000, features={"dpd_now": 30}))
    assert floor.new_limit == 300_000  # min_limit
    above_max = limits.decide(deciding, _line(limit=2_000_000, list_kind=ListKind.WHITE, score=700))
    assert above_max.new_limit == 2_000_000  # a raise never lowers
    cut = limits.decide(deciding, _line(rate="0.11", list_kind=ListKind.WHITE))
    assert cut.new_rate == Decimal("0.10")  # min_rate
    up = limits.decide(deciding, _line(rate="0.195", score=850))
    assert up.new_rate == Decimal("0.20")  # max_rate
    assert up.explanation_en == "rate 19.5% to 20%"
    model = limits.decide(deciding, _line(probability=0.5))
    assert (model.rule_id, model.new_rate) == ("t.model", Decimal("0.15"))


def test_a_line_already_above_the_cap_is_brought_down_to_it(deciding: RuleSet) -> None:
    decision = limits.decide(deciding, _line(rate="0.30", list_kind=ListKind.BLACK))
    assert decision.new_rate == CEILING
    assert decision.cap_applied == "cn.24pct"
    assert "above the legal cap of 24% (cn.24pct)" in decision.explanation_en
    assert "法定上限 24%" in decision.explanation_zh


def test_decide_refuses_a_rule_checked_against_a_higher_cap(deciding: RuleSet) -> None:
    # Loaded under 24%; today the 4x-LPR line (12%) applies: the 20% max_rate is refused.
    strict = default_caps()
    with pytest.raises(limits.RateAboveCap, match=r"t\.score-up.*cn\.4x-lpr"):
        limits.decide(deciding, _line(score=850), strict)
    with pytest.raises(limits.RateAboveCap):
        limits.decide(deciding, _line(score=850), ())
    with pytest.raises(ValueError, match="credit line"):
        limits.decide(deciding, BorrowerInput(score=850))


# --- the property: no rule set the loader accepts puts a rate above the cap --------------------

_rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("0.40"), places=3)
_deltas = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("0.10"), places=3)


@st.composite
def _action(draw: st.DrawFn) -> tuple[object, bool]:
    """An action and whether the loader should accept it under a 24% cap."""
    kind = draw(st.sampled_from(["set", "up", "down", "raise", "lower", "freeze", "none"]))
    if kind == "set":
        rate = draw(_rates)
        return {"set_rate": float(rate)}, rate <= CEILING
    if kind == "up":
        max_rate = draw(st.none() | _rates)
        spec: dict[str, float] = {"delta": float(draw(_deltas))}
        if max_rate is not None:
            spec["max_rate"] = float(max_rate)
        return {"rate_delta": spec}, max_rate is not None and max_rate <= CEILING
    if kind == "down":
        min_rate = draw(st.none() | _rates)
        spec = {"delta": -float(draw(_deltas))}
        if min_rate is not None:
            spec["min_rate"] = float(min_rate)
        return {"rate_delta": spec}, min_rate is None or min_rate <= CEILING
    if kind == "raise":
        percent = draw(st.integers(1, 100))
        return {"raise_limit": {"percent": percent, "max_limit": draw(st.integers(1, 10**8))}}, True
    if kind == "lower":
        return {"lower_limit": {"percent": draw(st.integers(1, 100))}}, True
    return draw(st.sampled_from(["freeze_limit", "unfreeze_limit", "no_change"])), True


_conditions = st.lists(
    st.one_of(
        st.builds(
            lambda op, v: {"field": "score", "op": op, "value": v},
            st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
            st.integers(300, 900),
        ),
        st.builds(
            lambda v: {"field": "list", "op": "in", "value": v},
            st.lists(st.sampled_from(["black", "grey", "white", "none"]), min_size=1),
        ),
        st.builds(
            lambda v: {"field": "dpd_now", "op": ">=", "value": v, "if_missing": True},
            st.integers(0, 90),
        ),
        st.builds(lambda v: {"field": "frozen", "op": "==", "value": v}, st.booleans()),
    ),
    min_size=1,
    max_size=3,
)


@st.composite
def _rule_sets(draw: st.DrawFn) -> tuple[str, bool]:
    count = draw(st.integers(1, 5))
    rules = []
    ok = True
    for index in range(count):
        action, accepted = draw(_action())
        ok = ok and accepted
        rules.append(
            {
                "id": f"t.r{index}",
                "when": draw(_conditions),
                "action": action,
                "explanation": {"zh": "利率 {new_rate}", "en": "rate {old_rate} to {new_rate}"},
            }
        )
    if draw(st.booleans()):
        rules.append(
            {"id": "t.rest", "action": "no_change", "explanation": {"zh": "不变", "en": "same"}}
        )
    return yaml.safe_dump({"adjustments": rules}, allow_unicode=True), ok


_borrowers = st.builds(
    BorrowerInput,
    credit_limit=st.integers(0, 10**8),
    annual_rate=st.decimals(min_value=Decimal("0"), max_value=Decimal("0.60"), places=4),
    frozen=st.booleans(),
    list_kind=st.none() | st.sampled_from(list(ListKind)),
    score=st.none() | st.integers(300, 900),
    probability=st.none() | st.floats(0, 1),
    features=st.fixed_dictionaries({}, optional={"dpd_now": st.integers(0, 400)}),
    days_since_change=st.none() | st.integers(0, 1000),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_rule_sets(), st.lists(_borrowers, min_size=1, max_size=8))
def test_no_accepted_rule_set_sets_a_rate_above_the_cap(
    rule_set: tuple[str, bool], borrowers: list[BorrowerInput]
) -> None:
    text, should_load = rule_set
    refused: RuleSetError | None = None
    try:
        rules = limits.parse_rules(HEAD + text, caps=CAPS)
    except RuleSetError as exc:
        refused = exc
    if refused is not None:
        assert not should_load, str(refused)
        return
    assert should_load, "the loader accepted a rule that could exceed the cap"
    for borrower in borrowers:
        decision = limits.decide(rules, borrower)
        assert decision.new_rate <= CEILING
        assert decision.new_limit >= 0
        line = borrower.line
        assert line is not None
        if line.annual_rate <= CEILING and decision.action not in (
            ActionKind.SET_RATE,
            ActionKind.RATE_DELTA,
        ):
            assert decision.new_rate == line.annual_rate
        if decision.action is ActionKind.RATE_DELTA and line.annual_rate <= CEILING:
            rule = rules.rule(decision.rule_id)
            assert isinstance(rule, limits.AdjustmentRule)
            assert rule.action.delta is not None
            # A raise never lowers, a cut never raises.
            if rule.action.delta > 0:
                assert decision.new_rate >= line.annual_rate
            else:
                assert decision.new_rate <= line.annual_rate


# --- applying ---------------------------------------------------------------------------

APPLY = """\
list_rules:
  - id: t.black-charged-off
    list: black
    when: [{field: charged_off, op: ">=", value: 1}]
    expiry_days: 365
    reason: {zh: "已核销 {charged_off} 笔", en: "{charged_off} charged off"}
  - id: t.grey-dpd30
    list: grey
    when: [{field: dpd_now, op: ">=", value: 30}]
    expiry_days: 90
    reason: {zh: "逾期 {dpd_now} 天", en: "{dpd_now} days past due"}
  - id: t.white
    list: white
    when:
      - {field: worst_dpd_12m, op: ==, value: 0}
      - {field: score, op: ">=", value: 680}
    expiry_days: 180
    reason: {zh: "评分 {score}", en: "score {score}"}
adjustments:
  - id: t.freeze
    when: [{field: list, op: in, value: [black, grey]}]
    action: freeze_limit
    explanation: {zh: 冻结, en: frozen}
  - id: t.raise
    when:
      - {field: list, op: ==, value: white}
      - {field: days_since_change, op: ">=", value: 90, if_missing: true}
    action:
      raise_limit: {percent: 20, max_limit: 5000000}
    explanation: {zh: "额度提高 {percent}%", en: "limit up {percent}%"}
  - id: t.cut
    when: [{field: list, op: ==, value: white}]
    action:
      rate_delta: {delta: -0.01, min_rate: 0.08}
    explanation: {zh: 降息, en: "rate down to {new_rate}"}
"""


class World:
    def __init__(self, db: Session) -> None:
        self.db = db
        self.bank = make_institution(db)
        self.good, self.late, self.gone, self.plain, self.no_line = (
            make_borrower(db, self.bank) for _ in range(5)
        )
        # A loan charged off before the day, and one charged off after it (does not count).
        make_loan(db, self.bank, borrower=self.gone).charged_off_date = date(2026, 11, 1)
        make_loan(db, self.bank, borrower=self.plain).charged_off_date = DAY + timedelta(days=30)
        self.lines = {
            b.id: self.line(b, rate)
            for b, rate in (
                (self.good, "0.18"),
                (self.late, "0.20"),
                (self.gone, "0.30"),  # above the 24% cap
                (self.plain, "0.12"),
            )
        }
        self.facts: dict[int, BorrowerInput] = {
            self.good.id: BorrowerInput(score=720, features={"worst_dpd_12m": 0}),
            self.late.id: BorrowerInput(score=600, features={"dpd_now": 45}),
            # What the caller says about charge-offs is ignored: the ledger says it.
            self.gone.id: BorrowerInput(features={"dpd_now": 200}),
            self.plain.id: BorrowerInput(score=650, features={"worst_dpd_12m": 3}),
            self.no_line.id: BorrowerInput(features={"dpd_now": 31}),
        }
        db.commit()

    def line(self, borrower: Borrower, rate: str) -> CreditLine:
        line = CreditLine(
            institution_id=self.bank.id,
            borrower_id=borrower.id,
            credit_limit=1_000_000,
            annual_rate=Decimal(rate),
            frozen=False,
        )
        self.db.add(line)
        self.db.flush()
        return line

    def apply(
        self, rules: RuleSet, as_of: date = DAY, caps: tuple[RateCap, ...] | None = None
    ) -> limits.ApplySummary:
        return limits.apply(
            self.db,
            actor=ACTOR,
            institution_id=self.bank.id,
            as_of=as_of,
            rule_set=rules,
            inputs=self.facts,
            caps=caps,
        )

    def counts(self) -> tuple[int, int, int]:
        def count(model: Any) -> int:
            return int(self.db.scalar(select(func.count()).select_from(model)) or 0)

        return count(ListEntry), count(CreditDecision), count(AuditRecord)

    def audit(self, action: str) -> list[dict[str, Any]]:
        rows = self.db.scalars(
            select(AuditRecord.details).where(AuditRecord.action == action).order_by(AuditRecord.id)
        )
        return [json.loads(r) for r in rows]


@pytest.fixture
def world(db: Session) -> World:
    return World(db)


@pytest.fixture(scope="module")
def applying() -> RuleSet:
    return _rules(APPLY)


def test_apply_lists_then_adjusts_with_explanations_and_audit(
    world: World, applying: RuleSet
) -> None:
    db = world.db
    summary = world.apply(applying)
    db.commit()

    kinds = lists.effective_kinds(db, world.bank.id, DAY)
    assert kinds == {
        world.good.id: ListKind.WHITE,
        world.late.id: ListKind.GREY,
        world.gone.id: ListKind.BLACK,  # the first matching rule only: not grey as well
        world.no_line.id: ListKind.GREY,
    }
    entries = lists.entries(db, world.bank.id)
    assert len(entries) == 4
    assert all(e.status == ListStatus.ACTIVE and e.maker == ACTOR for e in entries)
    gone = next(e for e in entries if e.borrower_id == world.gone.id)
    assert gone.rule_id == "t.black-charged-off"
    assert gone.reason == "已核销 1 笔 / 1 charged off"
    assert gone.expiry_date == DAY + timedelta(days=365)

    adjusted = summary.adjustments
    assert len(adjusted.decisions) == 4
    assert (adjusted.changed, adjusted.unchanged, adjusted.no_line) == (3, 1, 1)
    assert adjusted.capped == 1
    lines = world.lines
    good = lines[world.good.id]
    assert (good.credit_limit, good.annual_rate) == (1_200_000, Decimal("0.18"))
    assert lines[world.late.id].frozen
    assert lines[world.gone.id].frozen
    assert lines[world.gone.id].annual_rate == CEILING  # brought down to the cap
    assert (lines[world.plain.id].credit_limit, lines[world.plain.id].frozen) == (1_000_000, False)

    decision = db.scalar(select(CreditDecision).where(CreditDecision.borrower_id == world.good.id))
    assert decision is not None
    assert (decision.rules_id, decision.rule_id, decision.action) == (
        "t@1",
        "t.raise",
        "raise_limit",
    )
    assert (decision.old_limit, decision.new_limit) == (1_000_000, 1_200_000)
    assert decision.list_kind == "white"
    assert decision.score == 720
    explanation = json.loads(decision.explanation)
    assert explanation["en"] == "limit up 20%"
    assert explanation["zh"] == "额度提高 20%"
    assert explanation["inputs"]["list"] == "white"
    assert explanation["inputs"]["worst_dpd_12m"] == "0"
    assert explanation["inputs"]["charged_off"] == "0"

    added = world.audit("risk.list.added")
    assert len(added) == 4
    assert all(a["rules"] == "t@1" for a in added)
    assert {"charged_off": "1"} in [a["inputs"] for a in added]
    assert len(world.audit("risk.lists.applied")) == 1
    changed = world.audit("risk.credit.adjusted")
    assert len(changed) == 3
    assert {c["rule_id"] for c in changed} == {"t.raise", "t.freeze"}
    (run,) = world.audit("risk.credit.adjustments_applied")
    traced = {i for first, last in run["decision_ids"] for i in range(first, last + 1)}
    assert traced == set(adjusted.decisions)
    assert run["changed"] == 3
    assert run["caps"] == ["cn.24pct", "cn.36pct"]
    plain = summary.as_dict()
    assert plain["lists"]["as_of"] == "2026-11-30"
    assert plain["adjustments"]["changed"] == 3
    json.dumps(plain)


def test_a_second_run_the_same_day_writes_nothing(world: World, applying: RuleSet) -> None:
    world.apply(applying)
    world.db.commit()
    before = world.counts()
    limits_before = {b: (line.credit_limit, line.annual_rate) for b, line in world.lines.items()}
    again = world.apply(applying)
    world.db.commit()
    assert world.counts() == before
    assert again.lists.added == []
    assert again.lists.already_listed == 4
    assert again.adjustments.decisions == []
    assert again.adjustments.already_decided == 4
    assert {
        b: (line.credit_limit, line.annual_rate) for b, line in world.lines.items()
    } == limits_before


def test_the_next_day_respects_the_time_since_the_last_change(
    world: World, applying: RuleSet
) -> None:
    world.apply(applying)
    world.apply(applying, DAY + timedelta(days=1))
    good = world.lines[world.good.id]
    # Raised yesterday: today the raise waits (days_since_change 1 < 90), the cut applies.
    assert (good.credit_limit, good.annual_rate) == (1_200_000, Decimal("0.17"))
    assert world.apply(applying, DAY + timedelta(days=1)).adjustments.decisions == []


def test_a_revoked_rule_entry_is_not_put_back_while_its_period_lasts(
    world: World, applying: RuleSet
) -> None:
    db = world.db
    world.apply(applying)
    (entry,) = lists.entries(db, world.bank.id, borrower_id=world.gone.id)
    appeal = lists.open_appeal(
        db,
        actor="user:900",
        institution_id=world.bank.id,
        borrower_id=world.gone.id,
        entry_id=entry.id,
        text="the charge-off was reversed by the court",
        today=DAY,
    )
    lists.decide_appeal(
        db,
        actor="user:102",
        institution_id=world.bank.id,
        appeal_id=appeal.id,
        upheld=True,
        note="reversed",
    )
    later = world.apply(applying, DAY + timedelta(days=1))
    assert later.lists.suppressed == 1
    # The next matching rule still applies: 200 days past due puts them on the grey list.
    assert lists.effective_kind(db, world.bank.id, world.gone.id, DAY + timedelta(days=1)) is (
        ListKind.GREY
    )
    blacks = [
        e for e in lists.entries(db, world.bank.id, borrower_id=world.gone.id) if e.kind == "black"
    ]
    assert [e.status for e in blacks] == [ListStatus.REVOKED]


def test_a_borrower_of_another_institution_changes_nothing(world: World, applying: RuleSet) -> None:
    stranger = make_borrower(world.db, make_institution(world.db))
    world.db.commit()
    before = world.counts()
    world.facts[stranger.id] = BorrowerInput(features={"dpd_now": 99})
    for apply in (limits.apply_lists, limits.apply_adjustments):
        call: Callable[..., object] = apply
        with pytest.raises(NotFound, match="borrower"):
            call(
                world.db,
                actor=ACTOR,
                institution_id=world.bank.id,
                as_of=DAY,
                rule_set=applying,
                inputs=world.facts,
            )
    assert world.counts() == before


def test_a_refused_decision_writes_nothing(world: World) -> None:
    rules = _rules(
        """\
        adjustments:
          - id: t.up
            when: [{field: list, op: ==, value: none}]
            action:
              rate_delta: {delta: 0.01, max_rate: 0.20}
            explanation: {zh: 提价, en: up}
        """
    )
    before = world.counts()
    with pytest.raises(limits.RateAboveCap):
        limits.apply_adjustments(
            world.db,
            actor=ACTOR,
            institution_id=world.bank.id,
            as_of=DAY,
            rule_set=rules,
            inputs=world.facts,
            caps=default_caps(),  # 12% binds today
        )
    assert world.counts() == before
    assert {line.annual_rate for line in world.lines.values()} == {
        Decimal("0.18"),
        Decimal("0.20"),
        Decimal("0.30"),
        Decimal("0.12"),
    }
