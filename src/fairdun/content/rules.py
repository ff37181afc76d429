"""The rule layer of the content checker: transparent patterns from the lexicons.

:func:`check_rules` is pure (after the lexicons and jieba's dictionary are loaded once):

1. **Normalise.** Zero-width characters and the spaces or symbols that evaders put between
   Chinese characters ("通 讯 录", "通-讯-录") are removed, full-width ASCII is folded,
   the lexicon's character variants (traditional forms: 還 -> 还) are mapped. Offsets are
   mapped back, so every finding's ``span`` is ``text[start:end]`` of the original text.
2. **Match.** One combined regex per category, each rule a named group.
3. **Suppress**, per candidate match:
   * a *fact condition* that holds (a lawsuit mention when legal action is intended and
     the debt is not time-barred; a fee named in ``facts.allowed_fees``). Unknown facts
     are the strict case: the finding stands.
   * a *distancing cue* in the same sentence (quoted or reported speech in a scam
     warning: "冒充…", "fraudsters claim to be …"); for a match inside a quotation, a cue
     anywhere in the message outside that quotation (a warning that quotes a threat:
     "texts saying 'we know where you sleep' … We did not send them").
   * a *negation* in the same clause, at most ``window`` tokens before the match ("我们
     不会上门", "we will not sue"). Chinese clauses are segmented with jieba (only when a
     candidate needs the check). Conditions on the debtor ("不还就…", "if you don't pay")
     are not negations, and emphatic clauses ("别以为我们不敢…") are never negated.
4. **Required elements and the recipient.** Recipients outside ``DEBT_ROLES`` must not
   learn of the debt (any debt term, a collector disclosure, or pressing them to pay the
   debtor's debt -- a ``collective-liability`` match -- is a ``third-party-disclosure``).
   For ``DEBT_ROLES``: ``cn.institution-identity`` on first contact (cn),
   ``us.collector-disclosure`` in every message and ``us.opt-out`` in every SMS and
   e-mail (us), as ``missing-element`` findings with an empty span at 0.
5. Overlapping findings of one category are merged (the longest stays); sorted by start.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import jieba

from fairdun.content import lexicon as lexicons
from fairdun.content.lexicon import Lexicon, LexRule
from fairdun.content.types import (
    DEBT_ROLES,
    MISSING_ELEMENT,
    ContentInputError,
    Context,
    Facts,
    Finding,
)

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Zero-width characters anywhere, and up to three separators between two CJK characters.
_EVASION = re.compile(
    r"[\u200b-\u200f\u2060\ufeff\u00ad]+"
    rf"|(?<=[{_CJK}])[\s\-_*·.•~|/\\+=#@^、—–]{{1,3}}(?=[{_CJK}])"
)
_QUOTES = re.compile(
    r"“[^“”]{0,400}”|「[^「」]{0,400}」|『[^『』]{0,400}』|‘[^‘’]{0,400}’"
    r"|\"[^\"\n]{0,400}\"|(?<!\w)'[^'\n]{0,400}'(?!\w)"
)
_SENTENCE_END = re.compile(r"[。！？!?\n]|\.(?=\s|$)")
_QUESTION = "?？"
_EN_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_ZH_SKIP = re.compile(r"[\s\W_]+")
_LOOKBACK = 80  # characters searched back for a clause start
_SENTENCE_REACH = 300  # characters searched either way for a sentence's ends
_FEE_REACH = 40  # characters around a fee match searched for an allowed fee name


@cache
def _tokenizer() -> jieba.Tokenizer:
    """jieba with its shipped dictionary, quiet; nothing is downloaded."""
    logging.getLogger("jieba").setLevel(logging.ERROR)
    jieba.setLogLevel(logging.ERROR)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def warm_up(langs: Sequence[str] = ("zh", "en")) -> None:
    """Load the lexicons and jieba's dictionary now instead of on the first message."""
    for lang in langs:
        lexicons.load(lang)
    _tokenizer()


@dataclass(slots=True)
class _Text:
    """The original text, its normalised form for matching, and the offset map back."""

    original: str
    plain: str  # evasion separators removed; quotes as written (for quotation spans)
    match: str  # plain, folded and variant-mapped (same length as plain)
    index: list[int] | None  # plain offset -> original offset; None when identical
    quotes: list[tuple[int, int]] | None = None
    distancing: bool | None = None  # whether any distancing cue occurs at all

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        if self.index is None:
            return start, end
        if start >= end:
            spot = self.index[start] if start < len(self.index) else len(self.original)
            return spot, spot
        return self.index[start], self.index[end - 1] + 1

    def quote_spans(self) -> list[tuple[int, int]]:
        if self.quotes is None:
            self.quotes = [m.span() for m in _QUOTES.finditer(self.plain)]
        return self.quotes


def _normalise(text: str, lexicon: Lexicon) -> _Text:
    pieces: list[str] = []
    index: list[int] | None = None
    last = 0
    for found in _EVASION.finditer(text):
        if index is None:
            index = []
        pieces.append(text[last : found.start()])
        index.extend(range(last, found.start()))
        last = found.end()
    if index is None:
        plain = text
    else:
        pieces.append(text[last:])
        index.extend(range(last, len(text)))
        plain = "".join(pieces)
    return _Text(text, plain, plain.translate(lexicon.translation), index)


# --- suppression --------------------------------------------------------------------------


def _allowed(rule: LexRule, facts: Facts, text: str, start: int, end: int) -> bool:
    """Whether the account facts make this match lawful (unknown facts: never). A fee is
    allowed when a fee named in ``facts.allowed_fees`` is written over the match."""
    for name, wanted in rule.allowed_when:
        value = getattr(facts, name)
        if (value is not True) if wanted else (value is True):
            return False
    if rule.allowed_fee:
        low, high = max(0, start - _FEE_REACH), min(len(text), end + _FEE_REACH)
        window = text[low:high].casefold()
        for fee in facts.allowed_fees:
            name = fee.strip().casefold()
            if not name:
                continue
            at = window.find(name)
            while at >= 0:
                if low + at < end and start < low + at + len(name):
                    return True
                at = window.find(name, at + 1)
        return False
    return True


def _sentence(text: str, start: int, end: int) -> tuple[int, int]:
    low = max(0, start - _SENTENCE_REACH)
    begin = low
    for found in _SENTENCE_END.finditer(text, low, start):
        begin = found.end()
    stop = _SENTENCE_END.search(text, end, min(len(text), end + _SENTENCE_REACH))
    return begin, (stop.start() if stop else min(len(text), end + _SENTENCE_REACH))


def _distanced(lexicon: Lexicon, text: _Text, start: int, end: int) -> bool:
    """A scam warning or reported speech: a distancing cue in the same sentence (the
    sentence around the enclosing quotation when the match is quoted)."""
    if text.distancing is None:
        text.distancing = lexicon.distancing.search(text.match) is not None
    if not text.distancing:
        return False
    low, high = start, end
    for q_start, q_end in text.quote_spans():
        if q_start < start and end < q_end:
            # A quoted phrase in a message that distances itself anywhere (a scam warning
            # quoting what fraudsters wrote, an apology quoting an agent) is reported
            # speech: any cue outside the quotation counts, not only one in its sentence.
            for cue in lexicon.distancing.finditer(text.match):
                if cue.end() <= q_start or cue.start() >= q_end:
                    return True
            low, high = q_start, q_end
            break
    begin, stop = _sentence(text.match, low, high)
    # A question the sender then answers ("A court date? You have none." / "上门费？这些我们
    # 都不收"): the answer belongs to the same statement, up to three questions on.
    for _ in range(3):
        if stop >= len(text.match) or text.match[stop] not in _QUESTION:
            break
        stop = _sentence(text.match, stop + 1, stop + 1)[1]
    for cue in lexicon.distancing.finditer(text.match, begin, stop):
        if cue.end() <= start or cue.start() >= end:
            return True
    return False


def _clause_prefix(lexicon: Lexicon, text: str, start: int) -> str:
    low = max(0, start - _LOOKBACK)
    begin = low
    for found in lexicon.clause_breaks.finditer(text, low, start):
        begin = found.end()
    return text[begin:start]


def _masked(spans: list[tuple[int, int]], position: int) -> bool:
    return any(low <= position < high for low, high in spans)


def _negated(lexicon: Lexicon, text: str, start: int) -> bool:
    prefix = _clause_prefix(lexicon, text, start)
    if not prefix or lexicon.negation_cues.search(prefix) is None:
        return False
    if lexicon.emphatic is not None and lexicon.emphatic.search(prefix):
        return False
    masks = (
        [m.span() for m in lexicon.not_negation.finditer(prefix)]
        if lexicon.not_negation is not None
        else []
    )
    if lexicon.wide_cues is not None and any(
        not _masked(masks, cue.start()) for cue in lexicon.wide_cues.finditer(prefix)
    ):
        return True
    window = lexicon.negation_window
    if lexicon.lang == "zh":
        tokens = [
            (word, low)
            for word, low, _high in _tokenizer().tokenize(prefix, HMM=False)
            if not _ZH_SKIP.fullmatch(word)
        ]
        return any(
            lexicon.negation_cues.fullmatch(word) and not _masked(masks, low)
            for word, low in tokens[-window:]
        )
    for cue in lexicon.negation_cues.finditer(prefix):
        if _masked(masks, cue.start()):
            continue
        if len(_EN_WORD.findall(prefix, cue.end())) <= window:
            return True
    return False


# --- the check ----------------------------------------------------------------------------


# A text with more candidate matches than this is pathological ("上门" 5,000 times); the
# rest are judged without the negation check, so padding cannot hide a threat and the
# cost stays bounded.
_NEGATION_BUDGET = 200


def _finding(text: _Text, rule: LexRule, start: int, end: int) -> Finding:
    low, high = text.original_span(start, end)
    return Finding(
        category=rule.category,
        span=text.original[low:high],
        start=low,
        end=high,
        rule=rule.id,
        explanation=rule.explanation,
        explanation_en=rule.explanation_en,
    )


def _missing(rule: str, explanation: tuple[str, str]) -> Finding:
    return Finding(
        category=MISSING_ELEMENT,
        span="",
        start=0,
        end=0,
        rule=rule,
        explanation=explanation[0],
        explanation_en=explanation[1],
    )


def _squash(text: str, lexicon: Lexicon) -> str:
    return re.sub(r"\s+", "", text.translate(lexicon.translation)).casefold()


def _merge(findings: list[Finding]) -> list[Finding]:
    """Overlapping findings of one category: keep the longest (then the earliest)."""
    kept: list[Finding] = []
    # Per category, the kept spans are disjoint, so sorted by start they are sorted by end
    # too: one bisection finds the only neighbours that could overlap.
    starts: dict[str, list[int]] = {}
    ends: dict[str, list[int]] = {}
    for finding in sorted(findings, key=lambda f: (f.start - f.end, f.start, f.rule)):
        lows = starts.setdefault(finding.category, [])
        highs = ends.setdefault(finding.category, [])
        if finding.end > finding.start:
            at = bisect.bisect_left(lows, finding.start)
            if at < len(lows) and lows[at] < finding.end:
                continue  # a kept span starts inside this one
            if at > 0 and highs[at - 1] > finding.start:
                continue  # the kept span before reaches into this one
            lows.insert(at, finding.start)
            highs.insert(at, finding.end)
        kept.append(finding)
    kept.sort(key=lambda f: (f.start, f.end, f.category, f.rule))
    return kept


# Pressing someone outside DEBT_ROLES to pay the debtor's debt tells them of the debt.
_COLLECTIVE = "collective-liability"


def check_rules(text: str, ctx: Context) -> list[Finding]:
    """Every rule finding in ``text`` for this recipient, channel and jurisdiction."""
    try:
        lexicon = lexicons.load(ctx.lang)
    except ValueError as exc:
        raise ContentInputError(str(exc)) from None
    norm = _normalise(text, lexicon)
    subject = norm.match
    findings: list[Finding] = []
    pressed: list[tuple[int, int]] = []  # collective-liability spans
    checks = 0  # negation checks so far: past the budget every candidate stands (strict)
    for _category, pattern in lexicon.category_patterns:
        for found in pattern.finditer(subject):
            group = found.lastgroup
            if group is None:  # pragma: no cover - every alternative is a named group
                continue
            rule = lexicon.by_group[group]
            if rule.recipients is not None and ctx.recipient_role not in rule.recipients:
                continue
            start, end = found.span()
            if rule.conditional and _allowed(rule, ctx.facts, subject, start, end):
                continue
            if rule.quotable and _distanced(lexicon, norm, start, end):
                continue
            if rule.negatable and checks < _NEGATION_BUDGET:
                checks += 1
                if _negated(lexicon, subject, start):
                    continue
            findings.append(_finding(norm, rule, start, end))
            if rule.category == _COLLECTIVE:
                pressed.append((start, end))

    debt_role = ctx.recipient_role in DEBT_ROLES
    if not debt_role:
        for start, end in pressed:
            findings.append(_finding(norm, lexicon.debt_rule, start, end))
        for found in lexicon.debt_terms.finditer(subject):
            findings.append(_finding(norm, lexicon.debt_rule, *found.span()))
        for found in lexicon.collector_disclosure.finditer(subject):
            findings.append(_finding(norm, lexicon.collector_rule, *found.span()))
    facts = ctx.facts
    if ctx.jurisdiction == "cn" and facts.first_contact and facts.institution_name:
        name = _squash(facts.institution_name, lexicon)
        if name and name not in _squash(text, lexicon):
            findings.append(_missing("cn.institution-identity", lexicon.missing_identity))
    if ctx.jurisdiction == "us" and debt_role:
        if lexicon.collector_disclosure.search(subject) is None:
            findings.append(_missing("us.collector-disclosure", lexicon.missing_disclosure))
        if ctx.channel in ("sms", "email") and lexicon.opt_out.search(subject) is None:
            findings.append(_missing("us.opt-out", lexicon.missing_opt_out))
    return _merge(findings)
