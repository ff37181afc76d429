"""The content checker's lexicons: the shipped data is complete, and a bad file is refused
with its file, line and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairdun.compliance.packs import PackError, Problem
from fairdun.content import lexicon
from fairdun.content.types import CATEGORIES

MINIMAL = """\
lang: en
version: "1"
macros:
  you: "(?:you|u)"
negation:
  window: 5
  cues: ["\\\\bnot\\\\b"]
  clause_breaks: ["[.,]"]
distancing: ["\\\\bscam\\\\b"]
debt_terms:
  patterns: ["\\\\bdebt\\\\b"]
  explanation: {zh: 债务信息, en: debt information}
required:
  institution_identity:
    explanation: {zh: 身份, en: identity}
  collector_disclosure:
    patterns: ["debt collector"]
    explanation: {zh: 催收声明, en: disclosure}
    to_third_party: {zh: 向第三方披露, en: disclosure to a third party}
  opt_out:
    patterns: ["reply stop"]
    explanation: {zh: 退订, en: opt out}
categories:
  threat:
    - id: en.threat.hurt
      patterns: ["hurt {{you}}"]
      explanation: {zh: 威胁, en: threat}
"""
# Line numbers in MINIMAL, for the mutations below.
RULE_LINE = 25  # "    - id: en.threat.hurt"
PATTERNS_LINE = 26


def _load(text: str, tmp_path: Path) -> lexicon.Lexicon:
    path = tmp_path / "lex.yaml"
    path.write_text(text, encoding="utf-8")
    return lexicon.load_file(path)


def _problems(text: str, tmp_path: Path) -> list[Problem]:
    with pytest.raises(PackError) as caught:
        _load(text, tmp_path)
    problems = list(caught.value.problems)
    assert problems
    for problem in problems:
        assert problem.file.endswith("lex.yaml")
    return problems


def test_the_line_constants_point_at_the_rule() -> None:
    lines = MINIMAL.splitlines()
    assert lines[RULE_LINE - 1].strip() == "- id: en.threat.hurt"
    assert lines[PATTERNS_LINE - 1].strip().startswith("patterns:")


def test_the_minimal_lexicon_loads(tmp_path: Path) -> None:
    lex = _load(MINIMAL, tmp_path)
    assert [r.id for r in lex.rules] == ["en.threat.hurt"]
    rule = lex.rules[0]
    assert rule.category == "threat"
    assert rule.negatable and rule.quotable and not rule.conditional
    (category, pattern), *_ = lex.category_patterns
    assert category == "threat"
    found = pattern.search("we will hurt u")
    assert found is not None and found.lastgroup == rule.group


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        (
            '      patterns: ["hurt {{you}}"]',
            '      patterns: ["hurt (you"]',
            PATTERNS_LINE,
            "not a valid regular expression",
        ),
        (
            '      patterns: ["hurt {{you}}"]',
            '      patterns: ["hurt {{them}}"]',
            PATTERNS_LINE,
            "unknown macro",
        ),
        (
            '      patterns: ["hurt {{you}}"]',
            '      patterns: ["(?P<x>hurt)"]',
            PATTERNS_LINE,
            "named groups",
        ),
        (
            '      patterns: ["hurt {{you}}"]',
            '      patterns: ["x*"]',
            PATTERNS_LINE,
            "matches the empty text",
        ),
        ("  threat:\n", "  threats:\n", 24, "unknown category"),
        (
            "      explanation: {zh: 威胁, en: threat}",
            "      explanation: {zh: 威胁, en: threat}\n      colour: red",
            28,
            "unknown key",
        ),
        (
            "      explanation: {zh: 威胁, en: threat}",
            "      explanation: {zh: 威胁, en: threat}\n      condition: {allowed_when: [rich]}",
            28,
            "unknown fact",
        ),
        (
            "      explanation: {zh: 威胁, en: threat}",
            "      explanation: {zh: 威胁, en: threat}\n      recipients: [neighbour]",
            28,
            "unknown role",
        ),
        ("    - id: en.threat.hurt", "    - id: zh.threat.hurt", RULE_LINE, "must start with 'en'"),
        ("  window: 5", "  window: many", 6, "valid integer"),
        ('  you: "(?:you|u)"', '  you: "(?:you|u)"\n  you: "x"', 5, "duplicate key"),
    ],
)
def test_a_bad_lexicon_names_the_line_and_the_problem(
    tmp_path: Path, old: str, new: str, line: int, words: str
) -> None:
    assert old in MINIMAL
    problems = _problems(MINIMAL.replace(old, new), tmp_path)
    assert any(p.line == line and words in p.message for p in problems), [str(p) for p in problems]
    assert f"lex.yaml:{line}:" in "\n".join(str(p) for p in problems)


def test_a_duplicate_rule_id_is_refused(tmp_path: Path) -> None:
    text = MINIMAL + (
        "    - id: en.threat.hurt\n"
        "      terms: [punch]\n"
        "      explanation: {zh: 威胁, en: threat}\n"
    )
    problems = _problems(text, tmp_path)
    assert any(p.line == 28 and "duplicate rule id" in p.message for p in problems)


def test_a_variant_must_be_one_character(tmp_path: Path) -> None:
    text = MINIMAL.replace("negation:\n", "variants: {還: 还还}\nnegation:\n")
    problems = _problems(text, tmp_path)
    assert any(p.line == 5 and "one character" in p.message for p in problems)


def test_a_missing_section_is_named(tmp_path: Path) -> None:
    text = MINIMAL.replace('distancing: ["\\\\bscam\\\\b"]\n', "")
    problems = _problems(text, tmp_path)
    assert any("distancing" in p.where and "required" in p.message for p in problems)


def test_terms_are_literal(tmp_path: Path) -> None:
    text = MINIMAL.replace('      patterns: ["hurt {{you}}"]', '      terms: ["a.b (c)"]')
    lex = _load(text, tmp_path)
    pattern = lex.category_patterns[0][1]
    assert pattern.search("a.b (c)") is not None
    assert pattern.search("axb c") is None


def test_invalid_yaml_gives_a_position(tmp_path: Path) -> None:
    problems = _problems(MINIMAL + "  bad: [unclosed\n", tmp_path)
    assert problems[0].line is not None
    assert "not valid YAML" in problems[0].message


# --- the shipped lexicons -------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_shipped_lexicons_cover_every_category(lang: str) -> None:
    lex = lexicon.load(lang)
    assert lex.lang == lang
    covered = {rule.category for rule in lex.rules}
    assert covered == set(CATEGORIES)
    ids = [rule.id for rule in lex.rules]
    assert len(ids) == len(set(ids))
    assert all(rule_id.startswith(f"{lang}.") for rule_id in ids)
    for rule in lex.rules:
        assert rule.explanation and rule.explanation_en
    # the fact-conditional rules the issue names
    conditional = {rule.category for rule in lex.rules if rule.conditional}
    assert {"false-legal", "unlawful-amount"} <= conditional


def test_the_shipped_lexicons_are_loaded_once() -> None:
    assert lexicon.load("zh") is lexicon.load("zh")


def test_an_unknown_language_has_no_lexicon() -> None:
    with pytest.raises(ValueError, match="no lexicon"):
        lexicon.load("fr")
