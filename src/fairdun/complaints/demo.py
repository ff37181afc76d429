"""Demo reports, so that the dashboard, the public statistics and each role's case list
have something to show: reports about the demo bank (enough in the current quarter for
the public page to show a figure), a group of near-identical template reports about the
consumer finance company, and two about lenders that are not in the registry. Cases are
taken through the real service (review, forwarding, answers, the reporter's feedback),
every step in the past. No evidence files. Flushes only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairdun.complaints import service
from fairdun.complaints.config import ComplaintConfig
from fairdun.complaints.evidence import EvidenceStore
from fairdun.complaints.models import Complaint
from fairdun.complaints.schemas import FeedbackCreate, ReportCreate, ResponseCreate, TriageCreate
from fairdun.complaints.transitions import LEGAL_ZONE
from fairdun.identity.models import Role
from fairdun.identity.principal import Principal


@dataclass(frozen=True)
class DemoReport:
    lender: str | None  # a key of the demo institutions, or None: not in the registry
    kind: str
    categories: tuple[str, ...]
    narrative: str
    days_ago: int
    answer: str | None = None  # an outcome: the institution answered (two days later)
    feedback: bool | None = None  # the reporter accepted (True) or disputed (False)
    forward: bool = True
    publish: bool = False


_BANK = [
    ("催收员每天给我打十几个电话，晚上十点以后还在打。", ("frequency", "hours")),
    ("催收员给我单位领导打电话，说我欠钱不还，让同事都知道了。", ("third-party-disclosure",)),
    ("对方自称是法院的，说再不还钱明天就来抓人。", ("false-legal", "impersonation")),
    ("催收员骂我是老赖，说要把我的照片发到朋友圈。", ("insult", "expose")),
    ("催收员让我父母替我还钱，每天给他们打电话。", ("collective-liability",)),
    ("催收员让我去别的平台借钱来还这笔贷款。", ("borrow-to-repay",)),
    ("催收员让我把钱转到他个人的微信账户。", ("private-payment",)),
    ("催收员上门到我家里，待了两个小时不走。", ("visits",)),
    ("催收员要求我支付合同里没有的上门费和服务费。", ("unlawful-amount",)),
    ("凌晨一点收到催收短信，说再不还就起诉我。", ("hours", "false-legal")),
    ("催收员打电话给我的紧急联系人，说了我欠款的金额。", ("third-party-disclosure",)),
    ("催收员说要到我孩子的学校去找我。", ("threat", "visits")),
]
_OUTCOMES = ["remedy", "explanation", "relief", "remedy", None, "no_action", None, None]
_TEMPLATE = (
    "本人系借款人，现郑重投诉该机构暴力催收，严重侵害本人合法权益，要求立即停止催收、"
    "减免全部罚息和违约金，并给予书面答复，否则将向银保监会和媒体反映。"
)


def _reports() -> list[DemoReport]:
    out: list[DemoReport] = []
    for i, (text, cats) in enumerate(_BANK):
        outcome = _OUTCOMES[i % len(_OUTCOMES)]
        out.append(
            DemoReport(
                "bank",
                "contact_or_relative" if "联系人" in text or "父母" in text else "borrower",
                cats,
                text + f"（示范举报 {i + 1}）",
                days_ago=2 + i * 2,
                answer=outcome,
                feedback=(i % 3 != 2) if outcome else None,
                publish=i % 4 == 0,
            )
        )
    for i in range(5):
        out.append(
            DemoReport("cfc", "borrower", ("unlawful-amount",), _TEMPLATE, 3 + i, forward=i == 0)
        )
    out.append(DemoReport(None, "stranger", ("frequency",), "一个叫某某借的APP每天打电话给我。", 4))
    out.append(DemoReport(None, "borrower", ("threat",), "某网贷平台的催收员威胁要上门。", 6))
    return out


def seed_complaints(session: Session, as_of: date, config: ComplaintConfig | None = None) -> int:
    """Book the demo reports unless any report exists; returns how many were booked."""
    from fairdun.demo.seed import _institution_ids  # the seed imports this module

    if session.scalar(select(func.count()).select_from(Complaint)):
        return 0
    config = config or ComplaintConfig()
    store = EvidenceStore(config.evidence_dir)
    ids = _institution_ids(session)
    regulator = Principal(role=Role.REGULATOR, institution_id=ids["regulator"], name="demo")
    midnight = datetime.combine(as_of, time(0), tzinfo=LEGAL_ZONE)
    # Reports of the bank stay in the current quarter, so the public page shows a figure.
    quarter_start = date(as_of.year, 3 * ((as_of.month - 1) // 3) + 1, 1)
    in_quarter = max(1, (as_of - quarter_start).days)
    booked = 0
    for n, r in enumerate(_reports()):
        days = min(r.days_ago, in_quarter) if r.lender == "bank" else r.days_ago
        received = midnight - timedelta(days=days) + timedelta(hours=9, minutes=n)
        lender_id = ids[r.lender] if r.lender else None
        receipt = service.submit(
            session,
            ReportCreate.model_validate(
                {
                    "reporter_kind": r.kind,
                    "institution_id": lender_id,
                    "institution_name": None if lender_id else "某网贷APP",
                    "categories": list(r.categories),
                    "narrative": r.narrative,
                    "consent_publish": r.publish,
                }
            ),
            [],
            requester=f"demo-{n}",
            now=received,
            config=config,
            store=store,
        )
        cid = receipt.complaint.id
        booked += 1
        if lender_id is None:
            continue
        reviewed = received + timedelta(hours=2)
        service.triage(session, regulator, cid, TriageCreate(forward=r.forward), reviewed, config)
        if r.answer is None or days < 1:
            continue
        staff = Principal(role=Role.COMPLIANCE_OFFICER, institution_id=lender_id, name="demo")
        answered = reviewed + timedelta(hours=min(48, 24 * days - 14))
        service.respond(
            session,
            staff,
            cid,
            ResponseCreate.model_validate(
                {"outcome": r.answer, "text": "经核查，已处理该催收员并停止相关行为。（示范答复）"}
            ),
            answered,
        )
        if r.feedback is not None:
            service.reporter_feedback(
                session,
                receipt.complaint,
                FeedbackCreate(accepted=r.feedback),
                answered + timedelta(hours=1),
            )
    session.flush()
    return booked
