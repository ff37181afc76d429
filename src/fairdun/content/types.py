"""The content checker's vocabulary: categories, findings, the account facts and the
message context. Shared by the rule layer, the model layer and every caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# The twelve violation categories, stable ids (issue 5, REGULATIONS.md section 5).
CATEGORIES: tuple[str, ...] = (
    "threat",
    "false-legal",
    "impersonation",
    "insult",
    "third-party-disclosure",
    "expose",
    "collective-liability",
    "borrow-to-repay",
    "pretext",
    "unlawful-amount",
    "overshadowing",
    "private-payment",
)
# A required element that is missing (identity, collector disclosure, opt-out) is a
# finding of this category; its rule id names which element.
MISSING_ELEMENT = "missing-element"
ALL_CATEGORIES: tuple[str, ...] = (*CATEGORIES, MISSING_ELEMENT)

Lang = Literal["zh", "en"]
LANGS: tuple[str, ...] = ("zh", "en")
Jurisdiction = Literal["cn", "us"]
JURISDICTIONS: tuple[str, ...] = ("cn", "us")
# Recipient roles are the compliance engine's Role values (compliance/events.py).
RECIPIENT_ROLES: tuple[str, ...] = (
    "debtor",
    "co_obligor",
    "guarantor",
    "spouse",
    "parent",
    "guardian",
    "executor",
    "attorney",
    "contact_person",
    "third_party",
    "employer",
)
# Roles that may hear about the debt (the consumer and those the law treats as such).
DEBT_ROLES: frozenset[str] = frozenset(
    {"debtor", "co_obligor", "guarantor", "spouse", "parent", "guardian", "executor", "attorney"}
)
CHANNELS: tuple[str, ...] = ("call", "sms", "email", "letter", "visit", "push", "im")

MAX_CHARS = 10_000


class ContentInputError(ValueError):
    """Input the checker refuses: empty, too long, binary or wrongly encoded text, or an
    unknown language, role, channel or jurisdiction. The message names what is wrong."""


class ContentUnavailable(RuntimeError):
    """The checker cannot run (its model artefact is missing or fails its hash check).
    Callers fail closed: the gate denies, activation is refused, the CLI exits 3."""


@dataclass(frozen=True, slots=True)
class Facts:
    """Account facts that decide the fact-conditional categories.

    ``None`` means unknown, and unknown is the strict case: legal action not intended, no
    judgment, no fee allowed beyond those listed. ``time_barred`` is the exception: a
    lawsuit mention is lawful when ``legal_action_intended`` is true and the debt is not
    *known* to be time-barred (``legal_action_intended`` is the lender's representation
    that a suit is intended and lawful; the limitation check is its duty)."""

    legal_action_intended: bool | None = None  # the lender intends to sue and may lawfully
    time_barred: bool | None = None  # the debt is past the limitation period
    judgment_obtained: bool | None = None  # a court judgment exists (garnishment may follow)
    # Fee and charge names the contract allows, in the message's words
    # (e.g. "罚息", "late fee"); a fee mentioned but not listed is an unlawful amount.
    allowed_fees: tuple[str, ...] = ()
    institution_name: str | None = None  # required on first contact (cn)
    first_contact: bool = False


@dataclass(frozen=True, slots=True)
class Context:
    """Who receives the message, through which channel, under which law."""

    lang: str = "zh"
    recipient_role: str = "debtor"
    channel: str = "sms"
    jurisdiction: str = "cn"
    facts: Facts = field(default_factory=Facts)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in a message. ``start``/``end`` are character offsets into the text
    (end exclusive); ``span`` is ``text[start:end]`` (empty for a missing element)."""

    category: str
    span: str
    start: int
    end: int
    rule: str
    explanation: str  # plain words, in the message's language by default
    explanation_en: str = ""
    layer: Literal["rule", "model"] = "rule"
    score: float | None = None  # the model's probability, for model findings

    def as_json(self) -> dict[str, object]:
        return {
            "category": self.category,
            "span": self.span,
            "start": self.start,
            "end": self.end,
            "rule": self.rule,
            "explanation": self.explanation,
        }
