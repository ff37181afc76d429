"""Rendering a template's Jinja2 text in a sandbox, with sample values for activation.

Only the documented variables exist; using any other is an error that names it, so a
typo cannot send ``{{ borower_name }}`` as an empty string to a borrower."""

from __future__ import annotations

from collections.abc import Mapping

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

VARIABLES: dict[str, str] = {
    "borrower_name": "the borrower's name",
    "institution": "the lender's registered name",
    "amount_due": "the amount due, formatted",
    "due_date": "the due date",
    "loan_tail": "the last four characters of the loan number",
    "phone": "the lender's service number",
    "repay_url": "the official repayment link",
    "collector_name": "the collector's name or staff number",
}

# Values used to render a template for the content check before activation.
SAMPLES: dict[str, dict[str, str]] = {
    "zh": {
        "borrower_name": "王先生",
        "amount_due": "1,234.56元",
        "due_date": "2026年12月15日",
        "loan_tail": "8899",
        "phone": "4008-000-000",
        "repay_url": "https://example.invalid/repay",
        "collector_name": "工号1234",
    },
    "en": {
        "borrower_name": "Mr. Lee",
        "amount_due": "$1,234.56",
        "due_date": "December 15, 2026",
        "loan_tail": "8899",
        "phone": "555-0100",
        "repay_url": "https://example.invalid/repay",
        "collector_name": "Jane",
    },
}

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class RenderError(ValueError):
    """A template that cannot be parsed or uses an unknown variable."""


def variables_used(source: str) -> set[str]:
    try:
        return meta.find_undeclared_variables(_ENV.parse(source))
    except TemplateError as exc:
        raise RenderError(f"the template does not parse: {exc}") from None


def render(source: str, values: Mapping[str, str]) -> str:
    unknown = sorted(variables_used(source) - set(VARIABLES))
    if unknown:
        raise RenderError(
            f"unknown variable {unknown[0]!r}; the variables are {', '.join(VARIABLES)}"
        )
    try:
        return _ENV.from_string(source).render(**values)
    except TemplateError as exc:
        raise RenderError(f"the template does not render: {exc}") from None


def render_sample(source: str, lang: str, institution: str) -> str:
    return render(source, {**SAMPLES.get(lang, SAMPLES["en"]), "institution": institution})
