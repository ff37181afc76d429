"""The content checker's front door: validate the input, run the rule layer, then the
statistical model for paraphrases the rules miss.

Every caller (the CLI, the API, the gate, templates, complaint triage) goes through
:func:`check`. Bad input raises :class:`ContentInputError` naming what is wrong; it never
passes silently and never crashes deeper in.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from fairdun.content.types import (
    CHANNELS,
    JURISDICTIONS,
    LANGS,
    MAX_CHARS,
    RECIPIENT_ROLES,
    ContentInputError,
    ContentUnavailable,
    Context,
    Facts,
    Finding,
)

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Control characters other than tab, newline and carriage return mark binary input.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PACK_JURISDICTION = {"cn": "cn", "us-regf": "us"}


def decode(raw: str | bytes) -> str:
    """Text from ``raw``: bytes must be UTF-8 (a BOM is dropped)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ContentInputError(
                f"the text is not valid UTF-8 (byte {exc.start}: {exc.reason})"
            ) from None
    return raw


def validate_text(raw: str | bytes) -> str:
    """The text to check, or :class:`ContentInputError` saying why it cannot be checked."""
    text = decode(raw)
    if not isinstance(text, str):
        raise ContentInputError(f"the text must be a string, not {type(text).__name__}")
    if not text.strip():
        raise ContentInputError("the text is empty")
    if len(text) > MAX_CHARS:
        raise ContentInputError(
            f"the text has {len(text):,} characters; the limit is {MAX_CHARS:,}"
        )
    bad = _CONTROL.search(text)
    if bad is not None:
        raise ContentInputError(
            f"the text looks binary: control character U+{ord(bad.group()):04X} "
            f"at position {bad.start()}"
        )
    if "\ufffd" in text:
        raise ContentInputError(
            "the text holds U+FFFD replacement characters: it was decoded with the wrong "
            f"encoding (first at position {text.index(chr(0xFFFD))})"
        )
    if any(unicodedata.category(ch) == "Cs" for ch in text):
        raise ContentInputError("the text holds unpaired surrogates: it is not valid Unicode")
    return text


def detect_lang(text: str) -> str:
    """``zh`` when the text has Chinese characters, else ``en``."""
    return "zh" if _CJK.search(text) else "en"


def jurisdiction_of_pack(pack: str) -> str:
    return _PACK_JURISDICTION.get(pack, "cn")


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ContentInputError(f"unknown {name} {value!r}; expected one of {', '.join(allowed)}")
    return value


def make_context(
    *,
    lang: str | None = None,
    recipient_role: str = "debtor",
    channel: str = "sms",
    jurisdiction: str = "cn",
    facts: Facts | Mapping[str, Any] | None = None,
    text: str = "",
) -> Context:
    """A checked :class:`Context`; ``lang=None`` detects the language from ``text``."""
    language = _one_of("language", lang, LANGS) if lang else detect_lang(text)
    return Context(
        lang=language,
        recipient_role=_one_of("recipient role", recipient_role, RECIPIENT_ROLES),
        channel=_one_of("channel", channel, CHANNELS),
        jurisdiction=_one_of("jurisdiction", jurisdiction, JURISDICTIONS),
        facts=facts if isinstance(facts, Facts) else facts_from(facts or {}),
    )


_FACT_FIELDS = {
    "legal_action_intended": bool,
    "time_barred": bool,
    "judgment_obtained": bool,
    "institution_name": str,
    "first_contact": bool,
}


def facts_from(values: Mapping[str, Any]) -> Facts:
    """:class:`Facts` from JSON-like values; an unknown key or a wrong type is refused."""
    if not isinstance(values, Mapping):
        raise ContentInputError("facts must be an object")
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key == "allowed_fees":
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise ContentInputError("facts.allowed_fees must be a list of fee names")
            kwargs[key] = tuple(value)
        elif key in _FACT_FIELDS:
            kind = _FACT_FIELDS[key]
            if value is not None and not isinstance(value, kind):
                raise ContentInputError(f"facts.{key} must be a {kind.__name__} or null")
            kwargs[key] = value
        else:
            known = ", ".join(sorted([*_FACT_FIELDS, "allowed_fees"]))
            raise ContentInputError(f"unknown fact {key!r}; known facts: {known}")
    if kwargs.get("first_contact") is None:
        kwargs.pop("first_contact", None)
    return Facts(**kwargs)


def check(raw: str | bytes, ctx: Context, *, model: bool = True) -> list[Finding]:
    """Every finding in the message, rules first, then the model's (sorted by position)."""
    from fairdun.content.rules import check_rules

    text = validate_text(raw)
    found = check_rules(text, ctx)
    if model:
        from fairdun.content.model import ModelArtefactError, load_model, model_findings

        try:
            loaded = load_model()
        except ModelArtefactError as exc:
            raise ContentUnavailable(f"the content model cannot be used: {exc}") from exc
        found = [*found, *model_findings(text, ctx, found, loaded)]
    return sorted(found, key=lambda f: (f.start, f.end, f.category))


def categories(findings: list[Finding]) -> list[str]:
    """The distinct categories, in first-found order."""
    return list(dict.fromkeys(f.category for f in findings))
