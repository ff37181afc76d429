"""Idempotent demo data. Refused in production."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairdun.identity import repository as identity_repo
from fairdun.identity import service as identity
from fairdun.identity.models import Role, User
from fairdun.identity.principal import SYSTEM
from fairdun.identity.schemas import UserCreate
from fairdun.institutions import repository as inst_repo
from fairdun.institutions import service as institutions
from fairdun.institutions import uscc
from fairdun.institutions.models import Institution, InstitutionKind, LicenceStatus
from fairdun.institutions.schemas import EngagementCreate, InstitutionCreate, LicenceChangeCreate

DEMO_PASSWORD = "fairdun-demo-2026"  # noqa: S105 - printed to the developer on purpose


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: Role
    institution: str


INSTITUTIONS = [
    # (key, name, 17-char code prefix, kind, licence number)
    (
        "regulator",
        "国家金融监督管理总局示范监管局",
        "11100000000000001",
        InstitutionKind.REGULATOR,
        "",
    ),
    ("bank", "示范城市商业银行", "91110000100000001", InstitutionKind.BANK, "B0001H111000001"),
    (
        "cfc",
        "示范消费金融有限公司",
        "91310000100000002",
        InstitutionKind.CONSUMER_FINANCE,
        "N0002H231000001",
    ),
    (
        "mcc",
        "示范网络小额贷款有限公司",
        "91440300100000003",
        InstitutionKind.MICROCREDIT,
        "XD-GD-2021-0003",
    ),
    (
        "agency",
        "示范合规催收服务有限公司",
        "91320100100000004",
        InstitutionKind.COLLECTION_AGENCY,
        "CS-JS-2024-0004",
    ),
]

USERS = [
    ("admin", "平台管理员", Role.PLATFORM_ADMIN, None),
    ("regulator", "监管员 王", Role.REGULATOR, "regulator"),
    ("bank-admin", "银行管理员 李", Role.INSTITUTION_ADMIN, "bank"),
    ("compliance", "合规专员 赵", Role.COMPLIANCE_OFFICER, "bank"),
    ("collector", "催收员 陈", Role.COLLECTOR, "bank"),
    ("analyst", "风险分析师 周", Role.RISK_ANALYST, "bank"),
    ("agent", "委外催收员 孙", Role.AGENCY_COLLECTOR, "agency"),
    ("borrower", "借款人 张三", Role.BORROWER, "bank"),
    ("cfc-admin", "消金管理员 吴", Role.INSTITUTION_ADMIN, "cfc"),
]


def is_seeded(session: Session) -> bool:
    return session.scalar(select(User).where(User.username == "admin")) is not None


def seed(session: Session) -> list[DemoLogin]:
    """Create the demo institutions and users unless they exist. Flushes only."""
    ids: dict[str, int] = {}
    names: dict[str, str] = {}
    for key, name, prefix, kind, licence in INSTITUTIONS:
        code = uscc.make(prefix)
        existing = session.scalar(select(Institution).where(Institution.credit_code == code))
        if existing is None:
            existing = institutions.create(
                session,
                SYSTEM,
                InstitutionCreate(name=name, credit_code=code, kind=kind, licence_number=licence),
            )
        ids[key] = existing.id
        names[key] = name
    # Suspend the demo microcredit company once, on first seeding only; a later
    # reinstatement by whoever runs the demo is left alone.
    if len(inst_repo.licence_history(session, ids["mcc"])) == 1:
        institutions.change_licence(
            session,
            SYSTEM,
            ids["mcc"],
            LicenceChangeCreate(
                status=LicenceStatus.SUSPENDED, reason="示范：因违规催收被暂停业务"
            ),
        )
    if inst_repo.engagement(session, ids["agency"], ids["bank"]) is None:
        institutions.engage_agency(
            session,
            SYSTEM,
            ids["bank"],
            EngagementCreate(
                agency_id=ids["agency"],
                contract_ref="WW-2026-001",
                start_date=date(2026, 1, 1),
                review_date=date(2027, 1, 1),
            ),
        )
    logins = []
    for username, display, role, inst_key in USERS:
        if identity_repo.user_by_username(session, username) is None:
            identity.create_user(
                session,
                SYSTEM,
                UserCreate(
                    username=username,
                    display_name=display,
                    role=role,
                    institution_id=ids[inst_key] if inst_key else None,
                    email=f"{username}@demo.fairdun.example",
                    password=DEMO_PASSWORD,
                ),
            )
        logins.append(DemoLogin(username, role, names[inst_key] if inst_key else "—"))
    return logins
