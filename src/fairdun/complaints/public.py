"""Public pages, no log-in: the statistics (``/stats``) and the borrower education pages
(``/learn``: what collectors may and may not do, generated from the shipped policy packs;
``/learn/check``: is a caller's institution licensed; ``/learn/cost``: the true annual
cost of a loan offer, computed with the ledger's APR code).

Every form here is a GET form that changes nothing, so none needs a CSRF token.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from fairdun.complaints import service, stats
from fairdun.complaints.pages import CATEGORY
from fairdun.complaints.pages import _public_page as public_page
from fairdun.compliance import packs
from fairdun.institutions import repository as inst_repo
from fairdun.institutions.models import AgencyEngagement, Institution, InstitutionKind
from fairdun.loans import apr
from fairdun.loans.terms import Instalment, LoanTerms, RepaymentMethod, TermsError
from fairdun.web.deps import Db, now_of
from fairdun.web.templating import gettext_for, request_locale

router = APIRouter(include_in_schema=False)

PACK_IDS = ("cn", "us-regf")
MIN_QUERY = 2


def _public(request: Request, template: str, context: dict[str, Any]) -> Response:
    """As the report form: with a pre-session CSRF token, so the language switch works
    for visitors."""
    return public_page(request, template, context)


# --- statistics ---------------------------------------------------------------------------------


@router.get("/stats", response_class=HTMLResponse)
def stats_page(request: Request, db: Db) -> Response:
    """Counts by institution and by category per quarter, small cells hidden."""
    return _public(
        request,
        "public/stats.html",
        {
            "s": stats.public_stats(db, now_of(request)),
            "category": CATEGORY,
            "other": stats.OTHER_INSTITUTIONS,
            "not_registered": stats.NOT_REGISTERED,
            "uncategorised": stats.UNCATEGORISED,
        },
    )


# --- what collectors may and may not do -----------------------------------------------------


@dataclass(frozen=True)
class RuleView:
    id: str
    title: str
    channels: tuple[str, ...]
    citations: tuple[packs.Citation, ...]


@dataclass(frozen=True)
class PackView:
    id: str
    version: str
    jurisdiction: str
    title: str
    rules: tuple[RuleView, ...]


@cache
def _packs() -> tuple[packs.Pack, ...]:
    return tuple(packs.load(p) for p in PACK_IDS)


def pack_views(locale: str) -> list[PackView]:
    """The shipped packs' rules, titled in ``locale`` (Chinese or English)."""
    zh = locale.startswith("zh")
    return [
        PackView(
            id=p.id,
            version=p.version,
            jurisdiction=p.jurisdiction,
            title=p.title_zh if zh else p.title_en,
            rules=tuple(
                RuleView(
                    id=r.id,
                    title=r.title_zh if zh else r.title_en,
                    channels=tuple(str(c) for c in r.channels),
                    citations=r.citations,
                )
                for r in p.rules
            ),
        )
        for p in _packs()
    ]


@router.get("/learn", response_class=HTMLResponse)
def learn_page(request: Request) -> Response:
    return _public(request, "public/learn.html", {"packs": pack_views(request_locale(request))})


# --- is the caller's institution licensed? ------------------------------------------------------


@dataclass(frozen=True)
class Found:
    institution: Institution
    agencies: list[tuple[str, str, bool]]  # engaged agencies: name, licence, active
    lenders: list[tuple[str, str, bool]]  # for an agency: the lenders that engaged it


def lookup(session: Session, query: str, limit: int = 20) -> list[Found]:
    text = query.strip()
    if len(text) < MIN_QUERY:
        return []
    out = []
    for inst in service.reportable_institutions(session, text, limit):
        engagements: list[AgencyEngagement] = inst_repo.engagements_of(session, inst.id)
        agencies: list[tuple[str, str, bool]] = []
        lenders: list[tuple[str, str, bool]] = []
        for e in engagements:
            other_id = e.agency_id if e.lender_id == inst.id else e.lender_id
            other = session.get(Institution, other_id)
            if other is None:
                continue
            entry = (other.name, str(other.licence_status), e.active)
            (agencies if e.lender_id == inst.id else lenders).append(entry)
        out.append(Found(inst, agencies, lenders))
    return out


@router.get("/learn/check", response_class=HTMLResponse)
def check_page(request: Request, db: Db, q: Annotated[str, Query(max_length=200)] = "") -> Response:
    return _public(
        request,
        "public/check.html",
        {
            "q": q,
            "results": lookup(db, q),
            "searched": len(q.strip()) >= MIN_QUERY,
            "too_short": 0 < len(q.strip()) < MIN_QUERY,
            "agency_kind": InstitutionKind.COLLECTION_AGENCY.value,
        },
    )


# --- the true cost of an offer ---------------------------------------------------------------


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    return message


class OfferError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Offer:
    amount: int  # fen
    fee: int  # fen, deducted at disbursement
    instalments: int
    payment: int  # fen, each instalment, everything included


@dataclass(frozen=True)
class Cost:
    offer: Offer
    received: int
    repaid: int
    charges: int
    true_cost: apr.TrueCost
    exceeded: tuple[apr.RateCap, ...]
    caps: tuple[apr.RateCap, ...]


MAX_YUAN = Decimal(100_000_000)
FIELDS = {
    "amount": N_("Amount borrowed (yuan)"),
    "fee": N_("Fees taken at the start, deducted from what you receive (yuan)"),
    "instalments": N_("Number of monthly instalments"),
    "payment": N_("Each monthly payment, everything included (yuan)"),
}
# The labels of apr.default_caps(), for the catalogs (a test keeps them in step).
CAP_LABELS = (
    N_("24% a year (2015 private lending interpretation)"),
    N_("36% a year (2015 private lending interpretation)"),
    N_("four times the one-year LPR (2020 revision)"),
)


def _yuan(field: str, raw: str, *, required: bool) -> int:
    text = raw.strip().replace(",", "").replace("，", "").removeprefix("¥")
    if not text:
        if required:
            raise OfferError(field, N_("required"))
        return 0
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise OfferError(field, N_("not a number")) from None
    if not value.is_finite() or value < 0 or value > MAX_YUAN:
        raise OfferError(field, N_("out of range"))
    if value != value.quantize(Decimal("0.01")):
        raise OfferError(field, N_("at most two decimals (fen)"))
    return int(value * 100)


def parse_offer(amount: str, fee: str, instalments: str, payment: str) -> Offer:
    principal = _yuan("amount", amount, required=True)
    if principal <= 0:
        raise OfferError("amount", N_("must be more than 0"))
    n_text = instalments.strip()
    if not n_text.isdigit() or not 1 <= int(n_text) <= 360:
        raise OfferError("instalments", N_("a whole number from 1 to 360"))
    each = _yuan("payment", payment, required=True)
    if each <= 0:
        raise OfferError("payment", N_("must be more than 0"))
    upfront = _yuan("fee", fee, required=False)
    if upfront * 2 > principal:
        raise OfferError("fee", N_("more than half the amount"))
    return Offer(principal, upfront, int(n_text), each)


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def true_cost(offer: Offer, start: date) -> Cost:
    """The offer as the ledger sees a loan: ``principal`` lent, ``fee`` kept at the start,
    ``instalments`` equal monthly payments; its IRR-based cost by :func:`apr.contract_cost`."""
    try:
        terms = LoanTerms(
            principal=offer.amount,
            annual_rate=Decimal(0),  # not used by the cost: the payments decide it
            term_months=offer.instalments,
            start_date=start,
            method=RepaymentMethod.EQUAL_INSTALMENT,
            upfront_fee=offer.fee,
        )
    except TermsError as exc:
        raise OfferError(exc.field, exc.message) from None
    n = offer.instalments
    base, rest = divmod(offer.amount, n)
    schedule = []
    for k in range(1, n + 1):
        principal = base + (rest if k == n else 0)
        schedule.append(
            Instalment(
                number=k,
                due_date=_add_months(start, k),
                principal=principal,
                interest=offer.payment - principal,
            )
        )
    try:
        cost = apr.contract_cost(terms, schedule)
    except ValueError as exc:  # pragma: no cover - positive payments always have a rate
        raise OfferError("payment", str(exc)) from None
    caps = apr.default_caps()
    repaid = offer.payment * n
    return Cost(
        offer=offer,
        received=offer.amount - offer.fee,
        repaid=repaid,
        charges=repaid + offer.fee - offer.amount,
        true_cost=cost,
        exceeded=apr.exceeded_caps(cost, caps),
        caps=caps,
    )


def percent(rate: Decimal) -> str:
    """A rate as a percentage with two decimals (0.350704 -> '35.07%')."""
    return f"{(rate * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


@router.get("/learn/cost", response_class=HTMLResponse)
def cost_page(
    request: Request,
    amount: Annotated[str, Query(max_length=20)] = "",
    fee: Annotated[str, Query(max_length=20)] = "",
    instalments: Annotated[str, Query(max_length=5)] = "",
    payment: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    form = {"amount": amount, "fee": fee, "instalments": instalments, "payment": payment}
    result: Cost | None = None
    error: OfferError | None = None
    if any(v.strip() for v in form.values()):
        try:
            result = true_cost(
                parse_offer(amount, fee, instalments, payment),
                service.today_local(now_of(request)),
            )
        except OfferError as exc:
            error = exc
    return _public(
        request,
        "public/cost.html",
        {
            "form": form,
            "result": result,
            "error": error,
            "fields": FIELDS,
            # Translated here, not in the template: Jinja's gettext would read the '%'
            # of "24% a year" as a placeholder.
            "cap_label": gettext_for(request),
            "percent": percent,
            "yuan": yuan,
        },
    )
