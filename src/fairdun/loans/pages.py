"""HTML routes of the ledger: the loan list with filters, and a loan's detail."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from fairdun.identity.principal import Principal
from fairdun.institutions import service as institutions
from fairdun.loans import chart, ledger, repository, service
from fairdun.loans.models import Borrower, Product
from fairdun.loans.terms import DEFAULT_BUCKETS
from fairdun.web.deps import CurrentPage, Db
from fairdun.web.templating import gettext_for, render, request_locale

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


@router.get("/loans", response_class=HTMLResponse)
def loans_page(
    request: Request,
    db: Db,
    page: CurrentPage,
    bucket: Annotated[str | None, Query(max_length=10)] = None,
    min_dpd: Annotated[str | None, Query(max_length=6)] = None,
    max_dpd: Annotated[str | None, Query(max_length=6)] = None,
    product_id: Annotated[str | None, Query(max_length=12)] = None,
    institution_id: Annotated[str | None, Query(max_length=12)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    principal = page.principal
    f = repository.LoanFilter(
        bucket=bucket or None,
        min_dpd=_int_or_none(min_dpd),
        max_dpd=_int_or_none(max_dpd),
        product_id=_int_or_none(product_id),
        institution_id=_int_or_none(institution_id) if principal.scope is None else None,
    )
    rows, total = service.list_loans(db, principal, f, limit=PAGE_SIZE, offset=offset)
    lenders = (
        [
            i
            for i in institutions.listing(db, principal)
            if i.kind not in ("regulator", "collection_agency")
        ]
        if principal.scope is None
        else []
    )
    return render(
        request,
        "loans/list.html",
        {
            "loans": rows,
            "total": total,
            "offset": offset,
            "page_size": PAGE_SIZE,
            "filters": f,
            "buckets": [b.code for b in DEFAULT_BUCKETS],
            "products": service.list_products(db, principal) if principal.scope is not None else [],
            "lenders": lenders,
            "prev_url": _page_url(f, offset - PAGE_SIZE) if offset > 0 else None,
            "next_url": _page_url(f, offset + PAGE_SIZE) if offset + PAGE_SIZE < total else None,
        },
    )


def _page_url(f: repository.LoanFilter, offset: int) -> str:
    params = {
        "bucket": f.bucket,
        "min_dpd": f.min_dpd,
        "max_dpd": f.max_dpd,
        "product_id": f.product_id,
        "institution_id": f.institution_id,
        "offset": max(offset, 0),
    }
    return "/loans?" + urlencode({k: v for k, v in params.items() if v is not None})


@router.get("/loans/{loan_id}", response_class=HTMLResponse)
def loan_page(loan_id: int, request: Request, db: Db, page: CurrentPage) -> Response:
    loan = service.get_loan(db, page.principal, loan_id)
    borrower = db.get(Borrower, loan.borrower_id)
    product = db.get(Product, loan.product_id)
    lender = (
        institutions.get(db, page.principal, loan.institution_id)
        if page.principal.can_see(loan.institution_id)
        else None
    )
    return render(
        request,
        "loans/detail.html",
        {
            "loan": loan,
            "borrower": borrower,
            "product": product,
            "lender": lender,
            "schedule": repository.instalments(db, loan.id),
            "payments": repository.payments(db, loan.id),
            "pauses": repository.pauses(db, loan.id),
            "history": repository.spells(db, loan.id),
            "risk": _latest_risk(request, db, page.principal, loan.id),
        },
    )


def _latest_risk(
    request: Request, db: Session, principal: Principal, loan_id: int
) -> dict[str, object] | None:
    """The loan's latest early-warning score with its reasons in the page's language."""
    from fairdun.risk import service as risk

    scores = risk.loan_scores(db, principal, loan_id)
    if not scores:
        return None
    latest = scores[0]
    lang = "zh" if request_locale(request).startswith("zh") else "en"
    return {"score": latest, "reasons": risk.reasons_in(latest.reasons, lang)}


@router.get("/loans/{loan_id}/dpd.svg")
def loan_dpd_chart(loan_id: int, request: Request, db: Db, page: CurrentPage) -> Response:
    """Days past due over time, replayed from the loan's events as of its state date."""
    loan = service.get_loan(db, page.principal, loan_id)
    state = ledger.replay(service.ledger_input(db, loan), loan.state_as_of)
    _ = gettext_for(request)
    svg = chart.dpd_chart(
        state.dpd_points,
        as_of=loan.state_as_of,
        title=_("Days past due over time"),
        y_title=_("days past due"),
    )
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={
            # The SVG carries its own inline styles; it is shown as an image, never a document.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "Cache-Control": "private, max-age=60",
        },
    )
