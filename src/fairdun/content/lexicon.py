"""The content checker's lexicons: per-language phrase and pattern lists, loaded strictly.

The data lives in ``lexicon/zh.yaml`` and ``lexicon/en.yaml`` (not in code). Loading reuses
the policy-pack YAML reader (:mod:`fairdun.compliance.packs`): safe YAML, no duplicate
keys, every value with its ``file:line:column``, a closed pydantic schema, then semantic
checks (ids, categories, macros, regexes that compile). A bad file raises
:class:`~fairdun.compliance.packs.PackError` listing every problem with its position.

File format (one file per language)::

    lang: zh
    version: "1"
    macros:                 # named regex pieces, used as {{name}} in any pattern below
      you: "(?:你|您)"
    variants: {還: 还}      # one character to one character, applied before matching
    negation:
      window: 6             # a cue counts within this many tokens before the match
      cues: [...]           # regexes; zh: matched against whole jieba tokens
      wide_cues: [...]      # negate the whole clause after them ("nobody", "我司不会")
      not_negation: [...]   # look like negation but are not ("不还", "if you don't pay")
      emphatic: [...]       # a clause with one of these is never negated ("别以为")
      clause_breaks: [...]  # clause delimiters: punctuation and words ("但是", "but")
    distancing: [...]       # scam warnings / reported speech ("冒充", "fraudsters")
    debt_terms:             # any match to a recipient outside DEBT_ROLES is a disclosure
      patterns: [...]
      explanation: {zh: ..., en: ...}
    required:
      institution_identity: {explanation: {zh: ..., en: ...}}
      collector_disclosure: {patterns: [...], explanation: {...}, to_third_party: {...}}
      opt_out: {patterns: [...], explanation: {...}}
    categories:
      threat:
        - id: zh.threat.family-harm
          patterns: ["{{family}}.{0,4}出事"]   # regexes
          terms: ["呼死你"]                     # literal text (escaped for you)
          explanation: {zh: ..., en: ...}
          negatable: true                      # default
          quotable: true                       # quotation / scam warnings suppress (default)
          condition:                           # only for fact-conditional rules
            allowed_when: [legal_action_intended, "!time_barred"]
            allowed_fee: false                 # allowed when a listed fee is in the match
          recipients: [debtor, contact_person] # optional: only for these recipient roles

A condition's ``fact`` holds only when the fact is known to be true (unknown is the
strict case); ``!fact`` holds unless the fact is known to be true (``!time_barred``: not
known to be time-barred). ``allowed_fee`` holds when one of ``facts.allowed_fees`` occurs
in the matched text.

Patterns are matched against the normalised text: ``variants`` mapped, full-width ASCII
folded to ASCII, zero-width characters removed, and spaces or symbols *between two Chinese
characters* removed ("通 讯 录", "通-讯-录" read as "通讯录"); offsets are mapped back to
the original text. Patterns are case-insensitive.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from fairdun.compliance.packs import (
    PackError,
    Path_,
    Problem,
    _Document,
    _schema_problems,
    read_yaml_data,
)
from fairdun.content.types import CATEGORIES, LANGS, RECIPIENT_ROLES

LEXICON_DIR = Path(__file__).parent / "lexicon"

# Facts a condition may name (fields of types.Facts that are booleans).
FACT_NAMES: tuple[str, ...] = ("legal_action_intended", "time_barred", "judgment_obtained")

# Full-width ASCII folded to ASCII, the ideographic space to a space, curly single quotes
# to the apostrophe; the lexicon's variants are added to this table, and every character
# whose lower case is one character is lowered (matching is case-insensitive without the
# cost of re.IGNORECASE, and offsets stay put).
_FOLD: dict[int, int] = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FOLD.update({0x3000: 0x20, 0x2019: 0x27, 0x2018: 0x27})


def _lower(code: int) -> int:
    lowered = chr(code).lower()
    return ord(lowered) if len(lowered) == 1 else code


def _translation(variants: dict[int, int]) -> dict[int, int]:
    table = {code: _lower(code) for code in range(0x10000) if _lower(code) != code}
    for source, target in (*_FOLD.items(), *variants.items()):
        table[source] = _lower(target)
    return table


# The regex parser of the standard library, to compute which characters a pattern can start
# with (private API, used read-only; any surprise just skips the optimisation).
_sre_parser: Any = importlib.import_module("re._parser")
_sre: Any = importlib.import_module("re._constants")
_CATEGORIES = {"CATEGORY_DIGIT": r"\d", "CATEGORY_SPACE": r"\s", "CATEGORY_WORD": r"\w"}


class _Unbounded(Exception):
    """The pattern can start with any character: no first-character guard."""


def _first(items: Any, out: list[str]) -> bool:
    """Add what a parsed sequence can start with to ``out``; True if it can match empty."""
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            out.append(re.escape(chr(av)))
            return False
        if name == "IN":
            for kind, value in av:
                kind = str(kind)
                if kind == "LITERAL":
                    out.append(re.escape(chr(value)))
                elif kind == "RANGE":
                    out.append(f"{re.escape(chr(value[0]))}-{re.escape(chr(value[1]))}")
                elif kind == "CATEGORY" and str(value) in _CATEGORIES:
                    out.append(_CATEGORIES[str(value)])
                else:
                    raise _Unbounded
            return False
        if name == "BRANCH":
            nullable = False
            for branch in av[1]:
                nullable = _first(branch, out) or nullable
            if not nullable:
                return False
        elif name == "SUBPATTERN":
            if not _first(av[3], out):
                return False
        elif name == "ATOMIC_GROUP":
            if not _first(av, out):
                return False
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, body = av
            if not _first(body, out) and low > 0:
                return False
        elif name in ("AT", "ASSERT", "ASSERT_NOT"):
            continue
        else:
            raise _Unbounded
    return True


def first_characters(pattern: str) -> str | None:
    """A character class of every character ``pattern`` can start a match with, or None
    when that cannot be bounded (it may start with any character, or match empty)."""
    try:
        out: list[str] = []
        if _first(_sre_parser.parse(pattern).data, out):
            return None
    except (_Unbounded, re.error, AttributeError, TypeError, ValueError, IndexError):
        return None
    return "[" + "".join(dict.fromkeys(out)) + "]"


def _lower_pattern(pattern: str) -> str:
    """Lower-case a regex's literal characters, leaving escapes (``\\W``, ``\\S``) alone."""
    out: list[str] = []
    escaped = False
    for char in pattern:
        out.append(char if escaped else char.lower() if len(char.lower()) == 1 else char)
        escaped = char == "\\" and not escaped
    return "".join(out)


_MACRO = re.compile(r"\{\{([a-z][a-z0-9_]*)\}\}")
_NAMED_GROUP = re.compile(r"\(\?P[<=]")

# --- schema --------------------------------------------------------------------------------

_Text = Annotated[StrictStr, Field(min_length=1)]
_RuleId = Annotated[StrictStr, Field(pattern=r"^[a-z]{2}\.[a-z0-9-]+\.[a-z0-9][a-z0-9-]*$")]
_Fact = Annotated[StrictStr, Field(pattern=r"^!?[a-z_]+$")]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Explanation(_Closed):
    zh: _Text
    en: _Text


class _Condition(_Closed):
    allowed_when: list[_Fact] = Field(default_factory=list)
    allowed_fee: StrictBool = False


class _RuleSpec(_Closed):
    id: _RuleId
    patterns: list[_Text] = Field(default_factory=list)
    terms: list[_Text] = Field(default_factory=list)
    explanation: _Explanation
    negatable: StrictBool = True
    quotable: StrictBool = True
    condition: _Condition | None = None
    recipients: list[_Text] | None = None


class _Negation(_Closed):
    window: Annotated[StrictInt, Field(ge=1, le=20)]
    cues: Annotated[list[_Text], Field(min_length=1)]
    wide_cues: list[_Text] = Field(default_factory=list)
    not_negation: list[_Text] = Field(default_factory=list)
    emphatic: list[_Text] = Field(default_factory=list)
    clause_breaks: Annotated[list[_Text], Field(min_length=1)]


class _PatternSet(_Closed):
    patterns: Annotated[list[_Text], Field(min_length=1)]
    explanation: _Explanation


class _Identity(_Closed):
    explanation: _Explanation


class _Disclosure(_Closed):
    patterns: Annotated[list[_Text], Field(min_length=1)]
    explanation: _Explanation  # when it is missing
    to_third_party: _Explanation  # when it is sent to someone outside DEBT_ROLES


class _Required(_Closed):
    institution_identity: _Identity
    collector_disclosure: _Disclosure
    opt_out: _PatternSet


class _LexiconSpec(_Closed):
    lang: Literal["zh", "en"]
    version: _Text
    macros: dict[str, _Text] = Field(default_factory=dict)
    variants: dict[str, StrictStr] = Field(default_factory=dict)
    negation: _Negation
    distancing: Annotated[list[_Text], Field(min_length=1)]
    debt_terms: _PatternSet
    required: _Required
    categories: dict[str, list[_RuleSpec]]


# --- the loaded lexicon ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LexRule:
    """One rule: what it catches is in the compiled category pattern, under ``group``."""

    id: str
    category: str
    group: str  # the regex group name of this rule in its category's combined pattern
    explanation: str  # in the lexicon's language
    explanation_en: str
    negatable: bool = True
    quotable: bool = True
    allowed_when: tuple[tuple[str, bool], ...] = ()  # (fact, value it must have)
    allowed_fee: bool = False
    recipients: frozenset[str] | None = None  # roles it applies to; None: every role

    @property
    def conditional(self) -> bool:
        return bool(self.allowed_when) or self.allowed_fee


@dataclass(frozen=True, slots=True)
class Lexicon:
    lang: str
    version: str
    source: str
    rules: tuple[LexRule, ...]
    # One combined pattern per category, each rule a named group; group name -> rule.
    category_patterns: tuple[tuple[str, re.Pattern[str]], ...]
    by_group: dict[str, LexRule]
    translation: dict[int, int]  # character folding and variants, for str.translate
    negation_window: int
    negation_cues: re.Pattern[str]
    wide_cues: re.Pattern[str] | None
    not_negation: re.Pattern[str] | None
    emphatic: re.Pattern[str] | None
    clause_breaks: re.Pattern[str]
    distancing: re.Pattern[str]
    debt_terms: re.Pattern[str]
    debt_rule: LexRule
    collector_disclosure: re.Pattern[str]
    collector_rule: LexRule  # a collector disclosure to a third party
    opt_out: re.Pattern[str]
    missing_identity: tuple[str, str]  # explanation (lexicon language, English)
    missing_disclosure: tuple[str, str]
    missing_opt_out: tuple[str, str]

    def rule(self, rule_id: str) -> LexRule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


# --- loading -------------------------------------------------------------------------------


class _Builder:
    """Expands macros and compiles patterns, collecting problems with their positions."""

    def __init__(self, doc: _Document, spec: _LexiconSpec) -> None:
        self.doc = doc
        self.spec = spec
        self.flags = 0
        self.problems: list[Problem] = []
        self.macros: dict[str, str] = {}
        for name, body in spec.macros.items():
            at: Path_ = ("macros", name)
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                self.problems.append(doc.problem(at, "macro names are a-z, 0-9 and _"))
                continue
            expanded = self._expand(body, at, set(), dict(spec.macros))
            if expanded is not None:
                self.macros[name] = expanded

    def _expand(
        self, text: str, at: Path_, seen: set[str], raw: dict[str, str] | None = None
    ) -> str | None:
        raw = raw if raw is not None else dict(self.spec.macros)
        ok = True

        def substitute(match: re.Match[str]) -> str:
            nonlocal ok
            name = match.group(1)
            if name in seen:
                self.problems.append(self.doc.problem(at, f"macro {name!r} refers to itself"))
                ok = False
                return ""
            if name not in raw:
                self.problems.append(self.doc.problem(at, f"unknown macro {{{{{name}}}}}"))
                ok = False
                return ""
            inner = self._expand(raw[name], at, {*seen, name}, raw)
            if inner is None:
                ok = False
                return ""
            return f"(?:{inner})"

        result = _MACRO.sub(substitute, text)
        return result if ok else None

    def regex(self, text: str, at: Path_) -> str | None:
        """A pattern's expanded regex, or None (problem recorded) if it is unusable."""
        if _NAMED_GROUP.search(text):
            self.problems.append(self.doc.problem(at, "named groups (?P<...>) are not allowed"))
            return None
        expanded = self._expand(text, at, set())
        if expanded is None:
            return None
        expanded = _lower_pattern(expanded)
        try:
            compiled = re.compile(expanded, self.flags)
        except re.error as exc:
            self.problems.append(self.doc.problem(at, f"not a valid regular expression: {exc}"))
            return None
        if compiled.search("") is not None:
            self.problems.append(self.doc.problem(at, "pattern matches the empty text"))
            return None
        return expanded

    def combined(self, items: list[str], at: Path_, literal: bool = False) -> str | None:
        parts: list[str] = []
        for index, item in enumerate(items):
            body = re.escape(_lower_pattern(item)) if literal else self.regex(item, (*at, index))
            if body is not None:
                parts.append(f"(?:{body})")
        return "|".join(parts) if parts else None

    def compile(self, body: str | None, fallback: str = r"(?!x)x") -> re.Pattern[str]:
        return re.compile(body if body is not None else fallback, self.flags)


def _explanation(spec: _Explanation, lang: str) -> tuple[str, str]:
    return (spec.zh if lang == "zh" else spec.en), spec.en


def load_file(path: Path | str) -> Lexicon:
    """Load and check one lexicon file; raises PackError naming file, line and problem."""
    data, doc = read_yaml_data(path)
    try:
        spec = _LexiconSpec.model_validate(data)
    except ValidationError as exc:
        raise PackError(_schema_problems(doc, exc)) from None
    build = _Builder(doc, spec)
    problems = build.problems
    lang = spec.lang

    variants: dict[int, int] = {}
    for key, value in spec.variants.items():
        if len(key) != 1 or len(value) != 1:
            problems.append(
                doc.problem(("variants", key), "a variant maps one character to one character")
            )
            continue
        variants[ord(key)] = ord(value)

    rules: list[LexRule] = []
    seen: set[str] = set()
    category_patterns: list[tuple[str, re.Pattern[str]]] = []
    by_group: dict[str, LexRule] = {}
    for category, specs in spec.categories.items():
        at_cat: Path_ = ("categories", category)
        if category not in CATEGORIES:
            problems.append(
                doc.problem(
                    at_cat, f"unknown category {category!r}; known: {', '.join(CATEGORIES)}"
                )
            )
            continue
        alternatives: list[str] = []
        for index, raw in enumerate(specs):
            at: Path_ = (*at_cat, index)
            label = f"rule {raw.id}"
            if raw.id in seen:
                problems.append(doc.problem((*at, "id"), "duplicate rule id", label))
            seen.add(raw.id)
            if not raw.id.startswith(f"{lang}."):
                problems.append(
                    doc.problem((*at, "id"), f"rule ids must start with {lang!r}.", label)
                )
            if not raw.patterns and not raw.terms:
                problems.append(doc.problem(at, "a rule needs patterns or terms", label))
                continue
            allowed_when: list[tuple[str, bool]] = []
            if raw.condition is not None:
                for number, literal in enumerate(raw.condition.allowed_when):
                    name = literal.lstrip("!")
                    if name not in FACT_NAMES:
                        problems.append(
                            doc.problem(
                                (*at, "condition", "allowed_when", number),
                                f"unknown fact {name!r}; known: {', '.join(FACT_NAMES)}",
                                label,
                            )
                        )
                        continue
                    allowed_when.append((name, not literal.startswith("!")))
                if not allowed_when and not raw.condition.allowed_fee:
                    problems.append(
                        doc.problem((*at, "condition"), "a condition that allows nothing", label)
                    )
            for number, role in enumerate(raw.recipients or ()):
                if role not in RECIPIENT_ROLES:
                    problems.append(
                        doc.problem(
                            (*at, "recipients", number),
                            f"unknown role {role!r}; known: {', '.join(RECIPIENT_ROLES)}",
                            label,
                        )
                    )
            regex_body = build.combined(raw.patterns, (*at, "patterns"))
            term_body = build.combined(raw.terms, (*at, "terms"), literal=True)
            bodies = [b for b in (regex_body, term_body) if b is not None]
            if not bodies:
                continue
            group = f"r{len(by_group)}"
            explanation, explanation_en = _explanation(raw.explanation, lang)
            rule = LexRule(
                id=raw.id,
                category=category,
                group=group,
                explanation=explanation,
                explanation_en=explanation_en,
                negatable=raw.negatable,
                quotable=raw.quotable,
                allowed_when=tuple(allowed_when),
                allowed_fee=raw.condition.allowed_fee if raw.condition else False,
                recipients=frozenset(raw.recipients) if raw.recipients is not None else None,
            )
            rules.append(rule)
            by_group[group] = rule
            alternatives.append(f"(?P<{group}>{'|'.join(bodies)})")
        if alternatives:
            combined = "|".join(alternatives)
            # A cheap first test at each position: the characters a match can start with
            # (and, in English, a word start). Most positions then fail in one step.
            first = first_characters(combined)
            if first is not None:
                combined = f"(?={first})(?:{combined})"
            if lang == "en":
                combined = rf"(?<![^\W_])(?:{combined})"
            category_patterns.append((category, build.compile(combined)))

    negation = spec.negation
    cues = build.combined(negation.cues, ("negation", "cues"))
    wide = build.combined(negation.wide_cues, ("negation", "wide_cues"))
    not_negation = build.combined(negation.not_negation, ("negation", "not_negation"))
    emphatic = build.combined(negation.emphatic, ("negation", "emphatic"))
    breaks = build.combined(negation.clause_breaks, ("negation", "clause_breaks"))
    distancing = build.combined(spec.distancing, ("distancing",))
    debt = build.combined(spec.debt_terms.patterns, ("debt_terms", "patterns"))
    required = spec.required
    disclosure = build.combined(
        required.collector_disclosure.patterns, ("required", "collector_disclosure", "patterns")
    )
    opt_out = build.combined(required.opt_out.patterns, ("required", "opt_out", "patterns"))
    if problems:
        raise PackError(problems)

    debt_rule = LexRule(
        id=f"{lang}.third-party.debt-info",
        category="third-party-disclosure",
        group="",
        explanation=_explanation(spec.debt_terms.explanation, lang)[0],
        explanation_en=spec.debt_terms.explanation.en,
        negatable=False,
        quotable=False,
    )
    collector_rule = LexRule(
        id=f"{lang}.third-party.collector-disclosure",
        category="third-party-disclosure",
        group="",
        explanation=_explanation(required.collector_disclosure.to_third_party, lang)[0],
        explanation_en=required.collector_disclosure.to_third_party.en,
        negatable=False,
        quotable=False,
    )
    for fixed in (debt_rule.id, collector_rule.id):
        if fixed in seen:
            raise PackError([doc.problem(("categories",), f"rule id {fixed!r} is reserved")])
    return Lexicon(
        lang=lang,
        version=spec.version,
        source=str(path),
        rules=tuple(rules),
        category_patterns=tuple(category_patterns),
        by_group=by_group,
        translation=_translation(variants),
        negation_window=negation.window,
        negation_cues=build.compile(cues),
        wide_cues=build.compile(wide) if wide else None,
        not_negation=build.compile(not_negation) if not_negation else None,
        emphatic=build.compile(emphatic) if emphatic else None,
        clause_breaks=build.compile(breaks),
        distancing=build.compile(distancing),
        debt_terms=build.compile(debt),
        debt_rule=debt_rule,
        collector_disclosure=build.compile(disclosure),
        collector_rule=collector_rule,
        opt_out=build.compile(opt_out),
        missing_identity=_explanation(required.institution_identity.explanation, lang),
        missing_disclosure=_explanation(required.collector_disclosure.explanation, lang),
        missing_opt_out=_explanation(required.opt_out.explanation, lang),
    )


@cache
def load(lang: str) -> Lexicon:
    """The shipped lexicon of ``lang`` (zh or en), loaded and compiled once."""
    if lang not in LANGS:
        raise ValueError(f"no lexicon for language {lang!r}; known: {', '.join(LANGS)}")
    lexicon = load_file(LEXICON_DIR / f"{lang}.yaml")
    if lexicon.lang != lang:
        raise PackError(
            [Problem(lexicon.source, None, None, "lang", f"file says {lexicon.lang!r}")]
        )
    return lexicon
