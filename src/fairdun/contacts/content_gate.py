"""The content checker in front of an agent's free text: the gate denies a contact whose
text has findings, naming the category and the span, under rule ``fairdun.content``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from fairdun.compliance.rules import Violation
from fairdun.content.checker import check, jurisdiction_of_pack, make_context
from fairdun.content.types import CHANNELS, ContentInputError, ContentUnavailable, Facts, Finding
from fairdun.institutions.models import Institution
from fairdun.loans.models import Loan, Product

RULE_CONTENT = "fairdun.content"

_PENALTY_NAMES = ("罚息", "逾期利息", "penalty interest", "late interest", "default interest")
_FEE_NAMES = ("服务费", "手续费", "service fee", "servicing fee")


def allowed_fees(session: Session, loan: Loan) -> tuple[str, ...]:
    """The charge names this loan's contract allows: penalty interest when the product has
    a penalty rate, service fees when the loan has any."""
    names: list[str] = []
    product = session.get(Product, loan.product_id)
    if product is not None and product.penalty_daily_rate > 0:
        names.extend(_PENALTY_NAMES)
    if loan.upfront_fee or loan.periodic_fee:
        names.extend(_FEE_NAMES)
    return tuple(names)


def text_violations(
    session: Session,
    *,
    text: str,
    loan: Loan,
    lender: Institution,
    role: str | None,
    channel: str | None,
    pack_id: str,
) -> tuple[list[Violation], list[Finding]]:
    """Violations (one per finding) for an agent's free text, and the findings themselves.

    Text that cannot be checked (binary, too long) is a denial too: never a silent pass."""
    try:
        ctx = make_context(
            recipient_role=role or "third_party",
            channel=channel if channel in CHANNELS else "call",
            jurisdiction=jurisdiction_of_pack(pack_id),
            facts=Facts(
                institution_name=lender.name,
                allowed_fees=allowed_fees(session, loan),
                legal_action_intended=None,  # no litigation flag on the ledger yet: strict
            ),
            text=text,
        )
        findings = check(text, ctx)
    except (ContentInputError, ContentUnavailable) as exc:
        # Fail closed: text that was not checked is never sent.
        return [
            Violation(
                RULE_CONTENT,
                f"the text cannot be checked: {exc}.",
                f"话术无法检查：{exc}。",
            )
        ], []
    violations = [
        Violation(
            RULE_CONTENT,
            f"content {f.category}: “{f.span}” — {f.explanation_en or f.explanation}"
            if f.span
            else f"content {f.category}: {f.explanation_en or f.explanation}",
            f"话术违规（{f.category}）：“{f.span}” — {f.explanation}"
            if f.span
            else f"话术违规（{f.category}）：{f.explanation}",
        )
        for f in findings
    ]
    return violations, findings
