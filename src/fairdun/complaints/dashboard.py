"""The regulator's dashboard (``/dashboard``): complaints by institution, category, region
and month, deadline compliance, complaints per 10,000 loans, contact-gate denials by rule,
licence status and the compliance score, with a CSV export and the charts as SVG images.

The regulator and the platform administrator see every institution; an institution's
administrator and compliance officer see their own institution's figures only (its
complaints as forwarded to it, its loans, its gate decisions). Everyone else: 403.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from functools import cache

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from fairdun.complaints import charts, stats
from fairdun.complaints.pages import CATEGORY
from fairdun.complaints.service import INSTITUTION_ROLES
from fairdun.compliance import packs
from fairdun.identity.models import Role
from fairdun.identity.principal import Principal
from fairdun.kit.errors import Forbidden
from fairdun.web.deps import CurrentPage, Db, now_of
from fairdun.web.templating import gettext_for, render, request_locale

router = APIRouter(include_in_schema=False)

PACK_IDS = ("cn", "us-regf")


def scope_of(principal: Principal) -> int | None:
    """None for every institution; else the caller's own institution."""
    if principal.role in (Role.REGULATOR, Role.PLATFORM_ADMIN):
        return None
    if principal.role in INSTITUTION_ROLES and principal.institution_id is not None:
        return principal.institution_id
    raise Forbidden("the dashboard is for the regulator and institutions' complaint staff")


@cache
def rule_titles() -> dict[str, tuple[str, str]]:
    """Rule id -> (English title, Chinese title), from the shipped packs."""
    out: dict[str, tuple[str, str]] = {}
    for pack_id in PACK_IDS:
        for rule in packs.load(pack_id).rules:
            out[rule.id] = (rule.title_en, rule.title_zh)
    return out


def rule_title(rule_id: str, locale: str) -> str:
    found = rule_titles().get(rule_id)
    if found is None:
        return rule_id
    return found[1] if locale.startswith("zh") else found[0]


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def num(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, db: Db, page: CurrentPage) -> Response:
    scope = scope_of(page.principal)
    board = stats.dashboard(db, scope, now_of(request))
    locale = request_locale(request)
    return render(
        request,
        "dashboard/index.html",
        {
            "board": board,
            "is_regulator": scope is None,
            "category": CATEGORY,
            "rule_title": lambda rid: rule_title(rid, locale),
            "pct": pct,
            "num": num,
            "weights": stats.WEIGHTS,
            "ceiling": stats.VOLUME_CEILING,
            "not_registered": stats.NOT_REGISTERED,
            "unknown_region": stats.UNKNOWN_REGION,
        },
    )


def _svg(body: bytes) -> Response:
    return Response(
        body,
        media_type="image/svg+xml",
        headers={
            # The SVG carries its own inline styles; it is shown as an image, never a document.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "Cache-Control": "private, max-age=60",
        },
    )


def _chart(
    request: Request,
    db: Db,
    page: CurrentPage,
    pick: Callable[[stats.Dashboard, Callable[[str], str]], list[tuple[str, int]]],
    title: str,
    *,
    horizontal: bool = False,
) -> Response:
    board = stats.dashboard(db, scope_of(page.principal), now_of(request))
    _ = gettext_for(request)
    return _svg(
        charts.bar_chart(
            pick(board, _), title=_(title), horizontal=horizontal, empty=_("No complaints yet")
        )
    )


def _label_institution(name: str, _: Callable[[str], str]) -> str:
    return _("Not in the registry") if name == stats.NOT_REGISTERED else name


def _label_region(name: str, _: Callable[[str], str]) -> str:
    return _("Unknown region") if name == stats.UNKNOWN_REGION else name


def _label_category(cat: str, _: Callable[[str], str]) -> str:
    return _(CATEGORY[cat]) if cat in CATEGORY else _("Not categorised")


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    return message


@router.get("/dashboard/by-month.svg")
def chart_by_month(request: Request, db: Db, page: CurrentPage) -> Response:
    return _chart(
        request, db, page, lambda b, _: b.by_month, N_("Complaints by month (last 12 months)")
    )


@router.get("/dashboard/by-category.svg")
def chart_by_category(request: Request, db: Db, page: CurrentPage) -> Response:
    return _chart(
        request,
        db,
        page,
        lambda b, _: [(_label_category(c, _), n) for c, n in b.by_category],
        N_("Complaints by category"),
        horizontal=True,
    )


@router.get("/dashboard/by-institution.svg")
def chart_by_institution(request: Request, db: Db, page: CurrentPage) -> Response:
    return _chart(
        request,
        db,
        page,
        lambda b, _: [(_label_institution(i, _), n) for i, n in b.by_institution],
        N_("Complaints by institution"),
        horizontal=True,
    )


@router.get("/dashboard/by-region.svg")
def chart_by_region(request: Request, db: Db, page: CurrentPage) -> Response:
    return _chart(
        request,
        db,
        page,
        lambda b, _: [(_label_region(r, _), n) for r, n in b.by_region],
        N_("Complaints by region of the institution"),
    )


CSV_COLUMNS = (
    "institution_id",
    "institution",
    "kind",
    "region",
    "licence_status",
    "complaints",
    "loans",
    "complaints_per_10k_loans",
    "deadline_due",
    "answered_on_time",
    "deadline_compliance",
    "overdue_open",
    "answered",
    "upheld",
    "upheld_rate",
    "gate_decisions",
    "gate_denials",
    "gate_denial_rate",
    "compliance_score",
)


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _fraction(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def csv_text(board: stats.Dashboard) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for f in board.institutions:
        writer.writerow(
            [
                _cell(v)
                for v in (
                    f.institution_id,
                    f.name,
                    f.kind,
                    f.region,
                    f.licence_status,
                    f.complaints,
                    f.loans,
                    "" if f.per_10k is None else f"{f.per_10k:.2f}",
                    f.due,
                    f.on_time,
                    _fraction(f.deadline_rate),
                    f.overdue_open,
                    f.answered,
                    f.upheld,
                    _fraction(f.upheld_rate),
                    f.gate_decisions,
                    f.gate_denials,
                    _fraction(f.denial_rate),
                    "" if f.score is None else f"{f.score:.1f}",
                )
            ]
        )
    return out.getvalue()


@router.get("/dashboard/export.csv")
def dashboard_csv(request: Request, db: Db, page: CurrentPage) -> Response:
    board = stats.dashboard(db, scope_of(page.principal), now_of(request))
    day = stats.today(board.now).isoformat()
    # A byte-order mark, so that spreadsheet programs read the Chinese names as UTF-8.
    return Response(
        "\ufeff" + csv_text(board),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="complaints-dashboard-{day}.csv"',
            "Cache-Control": "no-store",
        },
    )
