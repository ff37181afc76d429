"""Figures of the reporting platform: the regulator's dashboard, the compliance score, and
the public statistics with small-cell suppression. The arithmetic is pure (functions of
plain numbers, tested by hand); the queries are at the end.

**Compliance score** (0 to 100, higher is better), per institution::

    score = 100 × Σ wᵢ·sᵢ / Σ wᵢ   over the parts that have data

    part                      weight  sᵢ (1 is best)
    deadline compliance        0.4    answered in time / cases whose deadline has come
    complaint volume           0.3    1 − min(1, complaints per 10,000 loans / 50)
    upheld complaints          0.2    1 − upheld / answered   (upheld: remedy or relief)
    gate denials               0.1    1 − denied / all contact-gate decisions

A part without data (no deadline has come yet, no loans in the ledger, nothing answered,
no contact attempted through the gate) is left out and the other weights are scaled up;
with no part at all there is no score. Deadline states come from
:func:`~fairdun.complaints.transitions.deadline_state`: answered before the deadline is in
time; answered on or after it, or still unanswered past it, is late; a case escalated
before the institution answered is the regulator's and is not counted.

**Public statistics.** Only reports the regulator reviewed and did not dismiss are
counted (not awaiting review; not closed without ever being forwarded). No cell below
:data:`SUPPRESS_BELOW` is shown (zero included). A row total is shown only when it is at
least that too, and when exactly one cell of a row is hidden the smallest other cell is
hidden as well, so that no hidden cell can be worked out from the total. Institutions
with fewer reports than the threshold in the period are pooled into one row. No narrative
is published unless the reporter agreed to it (``publish_consented`` on the timeline),
the regulator reviewed the report, and the text is masked
(:func:`~fairdun.complaints.masking.mask`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from fairdun.complaints import masking, repository
from fairdun.complaints.models import Complaint, ComplaintEvent
from fairdun.complaints.transitions import (
    LEGAL_ZONE,
    DeadlineState,
    ResponseOutcome,
    Status,
    deadline_state,
)
from fairdun.contacts.models import ContactDecision
from fairdun.institutions.models import Institution, InstitutionKind
from fairdun.loans.models import Loan

SUPPRESS_BELOW = 10
PER_LOANS = 10_000
VOLUME_CEILING = 50  # complaints per 10,000 loans at which the volume part reaches 0
WEIGHTS: tuple[tuple[str, float], ...] = (
    ("deadline", 0.4),
    ("volume", 0.3),
    ("upheld", 0.2),
    ("gate", 0.1),
)
UPHELD = frozenset({ResponseOutcome.REMEDY.value, ResponseOutcome.RELIEF.value})
PUBLISH_CONSENT_EVENT = "publish_consented"
NOT_REGISTERED = "-"  # the institution key of reports naming an institution not in the registry
UNCATEGORISED = "none"

# Province-level divisions by the first two digits of the administrative division code,
# which is characters 3 to 8 of a unified social credit code (GB 32100-2015).
PROVINCES = {
    "11": "北京",
    "12": "天津",
    "13": "河北",
    "14": "山西",
    "15": "内蒙古",
    "21": "辽宁",
    "22": "吉林",
    "23": "黑龙江",
    "31": "上海",
    "32": "江苏",
    "33": "浙江",
    "34": "安徽",
    "35": "福建",
    "36": "江西",
    "37": "山东",
    "41": "河南",
    "42": "湖北",
    "43": "湖南",
    "44": "广东",
    "45": "广西",
    "46": "海南",
    "50": "重庆",
    "51": "四川",
    "52": "贵州",
    "53": "云南",
    "54": "西藏",
    "61": "陕西",
    "62": "甘肃",
    "63": "青海",
    "64": "宁夏",
    "65": "新疆",
    "71": "台湾",
    "81": "香港",
    "82": "澳门",
}
UNKNOWN_REGION = "?"


def region_of(credit_code: str | None) -> str:
    """The province of an institution's registered seat, from its credit code; '?' when
    the code does not name a known province."""
    if not credit_code or len(credit_code) < 4:
        return UNKNOWN_REGION
    return PROVINCES.get(credit_code[2:4], UNKNOWN_REGION)


# --- the score ----------------------------------------------------------------------------


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def per_10k(complaints: int, loans: int) -> float | None:
    return complaints * PER_LOANS / loans if loans else None


def score_parts(
    deadline_rate: float | None,
    complaints_per_10k: float | None,
    upheld_rate: float | None,
    denial_rate: float | None,
) -> dict[str, float]:
    """Each part's value sᵢ in [0, 1], for the parts with data."""
    values = {
        "deadline": deadline_rate,
        "volume": None
        if complaints_per_10k is None
        else 1 - min(1.0, complaints_per_10k / VOLUME_CEILING),
        "upheld": None if upheld_rate is None else 1 - upheld_rate,
        "gate": None if denial_rate is None else 1 - denial_rate,
    }
    return {k: v for k, v in values.items() if v is not None}


def compliance_score(
    deadline_rate: float | None,
    complaints_per_10k: float | None,
    upheld_rate: float | None,
    denial_rate: float | None,
) -> float | None:
    """The score of the module docstring, rounded to one decimal; None without data."""
    parts = score_parts(deadline_rate, complaints_per_10k, upheld_rate, denial_rate)
    weights = dict(WEIGHTS)
    total = sum(weights[k] for k in parts)
    if not total:
        return None
    return round(100 * sum(weights[k] * v for k, v in parts.items()) / total, 1)


@dataclass
class InstitutionFigures:
    institution_id: int
    name: str
    kind: str
    licence_status: str
    region: str
    complaints: int = 0
    loans: int = 0
    due: int = 0  # cases whose deadline has come or that were answered
    on_time: int = 0
    overdue_open: int = 0  # forwarded, unanswered, past the deadline now
    answered: int = 0
    upheld: int = 0
    gate_decisions: int = 0
    gate_denials: int = 0

    @property
    def per_10k(self) -> float | None:
        return per_10k(self.complaints, self.loans)

    @property
    def deadline_rate(self) -> float | None:
        return ratio(self.on_time, self.due)

    @property
    def upheld_rate(self) -> float | None:
        return ratio(self.upheld, self.answered)

    @property
    def denial_rate(self) -> float | None:
        return ratio(self.gate_denials, self.gate_decisions)

    @property
    def score(self) -> float | None:
        return compliance_score(
            self.deadline_rate, self.per_10k, self.upheld_rate, self.denial_rate
        )


# --- months and quarters ----------------------------------------------------------------------


def month_of(at: datetime) -> str:
    return at.astimezone(LEGAL_ZONE).strftime("%Y-%m")


def last_months(now: datetime, n: int = 12) -> list[str]:
    local = now.astimezone(LEGAL_ZONE)
    year, month = local.year, local.month
    out = []
    for _ in range(n):
        out.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return out[::-1]


def quarter_of(at: datetime) -> str:
    local = at.astimezone(LEGAL_ZONE)
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def last_quarters(now: datetime, n: int = 4) -> list[str]:
    local = now.astimezone(LEGAL_ZONE)
    year, quarter = local.year, (local.month - 1) // 3 + 1
    out = []
    for _ in range(n):
        out.append(f"{year}-Q{quarter}")
        quarter -= 1
        if quarter == 0:
            year, quarter = year - 1, 4
    return out[::-1]


# --- suppression ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuppressedRow:
    label: str
    cells: tuple[int | None, ...]  # None: hidden
    total: int | None

    @property
    def hidden(self) -> int:
        return sum(1 for c in self.cells if c is None) + (self.total is None)


def suppress_row(
    label: str, values: Sequence[int], *, with_total: bool = True, below: int = SUPPRESS_BELOW
) -> SuppressedRow:
    """Hide every cell below ``below``; with a total, hide it when below too, and when
    exactly one cell is hidden, hide the smallest other one (it could be worked out)."""
    cells: list[int | None] = [v if v >= below else None for v in values]
    total_value = sum(values)
    total: int | None = None
    if with_total and total_value >= below:
        total = total_value
        hidden = [i for i, c in enumerate(cells) if c is None]
        if len(hidden) == 1:
            shown = [(c, i) for i, c in enumerate(cells) if c is not None]
            if shown:
                cells[min(shown)[1]] = None
    return SuppressedRow(label, tuple(cells), total)


# --- queries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseRow:
    institution_id: int | None
    status: str
    categories: tuple[str, ...]
    received_at: datetime
    due_at: datetime | None
    responded_at: datetime | None
    outcome: str | None
    forwarded_at: datetime | None


def _case_columns(stmt: Select[tuple[Complaint]]) -> Select[tuple[object, ...]]:
    return stmt.with_only_columns(
        Complaint.institution_id,
        Complaint.status,
        Complaint.categories,
        Complaint.suggested_categories,
        Complaint.received_at,
        Complaint.due_at,
        Complaint.responded_at,
        Complaint.response_outcome,
        Complaint.forwarded_at,
    )


def case_rows(session: Session, scope: int | None) -> list[CaseRow]:
    """Every case the scope may see (None: all), without any personal data."""
    rows = []
    for (
        inst,
        status,
        cats,
        suggested,
        received,
        due,
        responded,
        outcome,
        forwarded,
    ) in session.execute(_case_columns(repository.visible(scope))).all():
        chosen = tuple(str(cats or "").split() or str(suggested or "").split()) or (UNCATEGORISED,)
        rows.append(CaseRow(inst, status, chosen, received, due, responded, outcome, forwarded))
    return rows


def _institutions(session: Session, ids: Iterable[int]) -> dict[int, Institution]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    found = session.scalars(select(Institution).where(Institution.id.in_(wanted))).all()
    return {i.id: i for i in found}


def _loan_counts(session: Session, scope: int | None) -> dict[int, int]:
    stmt = select(Loan.institution_id, func.count()).group_by(Loan.institution_id)
    if scope is not None:
        stmt = stmt.where(Loan.institution_id == scope)
    return {int(i): int(n) for i, n in session.execute(stmt).all()}


def _decision_counts(session: Session, scope: int | None) -> dict[int, tuple[int, int]]:
    stmt = select(ContactDecision.institution_id, ContactDecision.allowed, func.count()).group_by(
        ContactDecision.institution_id, ContactDecision.allowed
    )
    if scope is not None:
        stmt = stmt.where(ContactDecision.institution_id == scope)
    out: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for inst, allowed, n in session.execute(stmt).all():
        out[int(inst)][0] += int(n)
        if not allowed:
            out[int(inst)][1] += int(n)
    return {k: (v[0], v[1]) for k, v in out.items()}


def denials_by_rule(session: Session, scope: int | None) -> list[tuple[str, int]]:
    """Denied contact attempts per rule (a denial naming two rules counts for each)."""
    stmt = select(ContactDecision.rules).where(ContactDecision.allowed.is_(False))
    if scope is not None:
        stmt = stmt.where(ContactDecision.institution_id == scope)
    counts: Counter[str] = Counter()
    for (rules,) in session.execute(stmt).all():
        counts.update(str(rules or "").split() or ["?"])
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass
class Dashboard:
    scope: int | None
    now: datetime
    months: list[str]
    institutions: list[InstitutionFigures]
    by_month: list[tuple[str, int]]
    by_category: list[tuple[str, int]]
    by_region: list[tuple[str, int]]
    by_institution: list[tuple[str, int]]
    denials: list[tuple[str, int]]
    total: int = 0
    unregistered: int = 0
    deadline: dict[str, int] = field(default_factory=dict)

    @property
    def deadline_rate(self) -> float | None:
        due = self.deadline.get("on_time", 0) + self.deadline.get("late", 0)
        return ratio(self.deadline.get("on_time", 0), due)


def dashboard(session: Session, scope: int | None, now: datetime) -> Dashboard:
    """The regulator's figures (``scope`` None) or one institution's own."""
    cases = case_rows(session, scope)
    loans = _loan_counts(session, scope)
    decisions = _decision_counts(session, scope)
    ids = {c.institution_id for c in cases if c.institution_id is not None}
    ids |= set(loans) | set(decisions)
    if scope is not None:
        ids = {scope}
    registry = _institutions(session, ids)
    figures: dict[int, InstitutionFigures] = {}
    for inst_id in sorted(ids):
        inst = registry.get(inst_id)
        if inst is None or inst.kind == InstitutionKind.REGULATOR.value:
            continue
        figures[inst_id] = InstitutionFigures(
            institution_id=inst_id,
            name=inst.name,
            kind=str(inst.kind),
            licence_status=str(inst.licence_status),
            region=region_of(inst.credit_code),
            loans=loans.get(inst_id, 0),
            gate_decisions=decisions.get(inst_id, (0, 0))[0],
            gate_denials=decisions.get(inst_id, (0, 0))[1],
        )
    months = last_months(now)
    by_month: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    by_region: Counter[str] = Counter()
    deadline: Counter[str] = Counter()
    unregistered = 0
    for c in cases:
        by_month[month_of(c.received_at)] += 1
        by_category.update(c.categories)
        f = figures.get(c.institution_id) if c.institution_id is not None else None
        by_region[f.region if f else UNKNOWN_REGION] += 1
        if f is None:
            unregistered += 1
            continue
        f.complaints += 1
        state = deadline_state(Status(c.status), c.due_at, now, c.responded_at)
        if state is DeadlineState.ANSWERED:
            f.due += 1
            f.on_time += 1
            deadline["on_time"] += 1
        elif state in (DeadlineState.ANSWERED_LATE, DeadlineState.OVERDUE):
            f.due += 1
            deadline["late"] += 1
            if state is DeadlineState.OVERDUE:
                f.overdue_open += 1
        elif state is not None:
            deadline["pending"] += 1
        if c.responded_at is not None and c.outcome:
            f.answered += 1
            if c.outcome in UPHELD:
                f.upheld += 1
    ordered = sorted(figures.values(), key=lambda f: (-f.complaints, f.name))
    by_inst = [(f.name, f.complaints) for f in ordered if f.complaints]
    if unregistered:
        by_inst.append((NOT_REGISTERED, unregistered))
    return Dashboard(
        scope=scope,
        now=now,
        months=months,
        institutions=ordered,
        by_month=[(m, by_month.get(m, 0)) for m in months],
        by_category=sorted(by_category.items(), key=lambda kv: (-kv[1], kv[0])),
        by_region=sorted(by_region.items(), key=lambda kv: (-kv[1], kv[0])),
        by_institution=by_inst,
        denials=denials_by_rule(session, scope),
        total=len(cases),
        unregistered=unregistered,
        deadline=dict(deadline),
    )


# --- public statistics --------------------------------------------------------------------------


def counted_publicly(status: str, forwarded_at: datetime | None) -> bool:
    """Reviewed by the regulator and not dismissed at review."""
    if status == Status.SUBMITTED.value:
        return False
    return not (status == Status.CLOSED.value and forwarded_at is None)


@dataclass(frozen=True)
class PublicNarrative:
    quarter: str
    institution: str
    categories: tuple[str, ...]
    text: str


@dataclass
class PublicStats:
    quarters: list[str]
    institutions: list[SuppressedRow]
    categories: list[SuppressedRow]
    narratives: list[PublicNarrative]
    threshold: int = SUPPRESS_BELOW


OTHER_INSTITUTIONS = "*"


def public_stats(
    session: Session, now: datetime, *, quarters: int = 4, narratives: int = 20
) -> PublicStats:
    periods = last_quarters(now, quarters)
    wanted = set(periods)
    rows = [
        c
        for c in case_rows(session, None)
        if counted_publicly(c.status, c.forwarded_at) and quarter_of(c.received_at) in wanted
    ]
    per_inst: dict[int | None, Counter[str]] = defaultdict(Counter)
    per_cat: dict[str, Counter[str]] = defaultdict(Counter)
    for c in rows:
        q = quarter_of(c.received_at)
        per_inst[c.institution_id][q] += 1
        for cat in c.categories:
            per_cat[cat][q] += 1
    registry = _institutions(session, (i for i in per_inst if i is not None))
    named: list[tuple[str, list[int]]] = []
    pooled = [0] * len(periods)
    for inst_id, counts in per_inst.items():
        values = [counts.get(q, 0) for q in periods]
        inst = registry.get(inst_id) if inst_id is not None else None
        if inst is not None and sum(values) >= SUPPRESS_BELOW:
            named.append((inst.name, values))
        else:
            pooled = [a + b for a, b in zip(pooled, values, strict=True)]
    named.sort(key=lambda nv: (-sum(nv[1]), nv[0]))
    inst_rows = [suppress_row(name, values) for name, values in named]
    if any(pooled) or not inst_rows:
        inst_rows.append(suppress_row(OTHER_INSTITUTIONS, pooled))
    cat_rows = [
        suppress_row(cat, [counts.get(q, 0) for q in periods], with_total=False)
        for cat, counts in sorted(per_cat.items())
    ]
    return PublicStats(
        quarters=periods,
        institutions=inst_rows,
        categories=cat_rows,
        narratives=published_narratives(session, limit=narratives),
    )


def published_narratives(session: Session, *, limit: int = 20) -> list[PublicNarrative]:
    """Narratives whose reporters agreed to publication, reviewed, masked; newest first."""
    consented = select(ComplaintEvent.complaint_id).where(
        ComplaintEvent.kind == PUBLISH_CONSENT_EVENT
    )
    found = session.scalars(
        select(Complaint)
        .where(Complaint.id.in_(consented), Complaint.status != Status.SUBMITTED.value)
        .order_by(Complaint.received_at.desc(), Complaint.id.desc())
        .limit(limit * 2)
    ).all()
    registry = _institutions(session, (c.institution_id for c in found if c.institution_id))
    out = []
    for c in found:
        if not counted_publicly(c.status, c.forwarded_at):
            continue
        inst = registry.get(c.institution_id) if c.institution_id is not None else None
        out.append(
            PublicNarrative(
                quarter=quarter_of(c.received_at),
                institution=inst.name if inst else NOT_REGISTERED,
                categories=tuple(c.categories.split()),
                text=masking.mask(c.narrative).text,
            )
        )
        if len(out) == limit:
            break
    return out


def today(now: datetime) -> date:
    return now.astimezone(LEGAL_ZONE).date()
