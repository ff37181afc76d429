"""Arrangements for the reporting platform tests: an app whose evidence directory is the
test's own, a regulator and a lender with complaint staff, and a helper to file a
report through the service as the public form does."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fairdun.complaints import service
from fairdun.complaints.config import ComplaintConfig
from fairdun.complaints.evidence import EvidenceStore
from fairdun.complaints.schemas import ReportCreate
from fairdun.config import Settings
from fairdun.identity.models import Role
from fairdun.identity.principal import Principal
from fairdun.institutions.models import Institution, InstitutionKind
from fairdun.web.app import create_app
from tests.conftest import FakeClock
from tests.factories import make_institution, make_user

# 10:00 in Beijing, Tuesday 2026-12-01.
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def config(tmp_path: Path) -> ComplaintConfig:
    return ComplaintConfig(evidence_dir=tmp_path / "evidence")


@pytest.fixture
def store(config: ComplaintConfig) -> EvidenceStore:
    return EvidenceStore(config.evidence_dir)


@pytest.fixture
def app(settings: Settings, engine: Engine, clock: FakeClock, config: ComplaintConfig) -> FastAPI:
    app = create_app(settings, engine=engine, clock=clock)
    app.state.complaints = config
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@dataclass
class Desk:
    """The people around a case: the regulator, a lender with its complaint staff, and a
    second lender that must never see the first one's cases."""

    regulator: Principal
    lender: Institution
    staff: Principal  # the lender's compliance officer
    other: Institution
    other_staff: Principal


@pytest.fixture
def desk(db: Session) -> Desk:
    reg_inst = make_institution(db, name="监管局", kind=InstitutionKind.REGULATOR)
    lender = make_institution(db, name="甲消费金融")
    other = make_institution(db, name="乙小贷")
    reg = make_user(db, role=Role.REGULATOR, institution=reg_inst, username="regulator")
    staff = make_user(
        db,
        role=Role.COMPLIANCE_OFFICER,
        institution=lender,
        username="lender-compliance",
        email="compliance@lender.example",
    )
    other_staff = make_user(
        db, role=Role.COMPLIANCE_OFFICER, institution=other, username="other-compliance"
    )
    db.commit()
    return Desk(
        regulator=Principal(role=Role.REGULATOR, institution_id=reg_inst.id, user_id=reg.id),
        lender=lender,
        staff=Principal(role=Role.COMPLIANCE_OFFICER, institution_id=lender.id, user_id=staff.id),
        other=other,
        other_staff=Principal(
            role=Role.COMPLIANCE_OFFICER, institution_id=other.id, user_id=other_staff.id
        ),
    )


NARRATIVE = (
    "催收员王建国每天给我打二十多个电话，晚上十一点还在打，还给我单位领导李秀英打电话说我欠钱"
    "不还。我的手机是13812345678，身份证11010519491231002X，住在北京市朝阳区建国路88号3栋2单元501室。"
)


def report(
    db: Session,
    store: EvidenceStore,
    config: ComplaintConfig,
    institution: Institution | None,
    *,
    now: datetime = NOW,
    requester: str = "203.0.113.7",
    files: list[service.Upload] | None = None,
    reporter: Principal | None = None,
    **fields: Any,
) -> service.Receipt:
    """File a report through the service and commit, as the public form does."""
    values: dict[str, Any] = {
        "reporter_kind": "contact_or_relative",
        "institution_id": institution.id if institution else None,
        "categories": ["frequency", "hours", "third-party-disclosure"],
        "narrative": NARRATIVE,
    }
    values.update(fields)
    receipt = service.submit(
        db,
        ReportCreate.model_validate(values),
        files or [],
        requester=requester,
        now=now,
        config=config,
        store=store,
        reporter=reporter,
    )
    db.commit()
    return receipt


def png_bytes() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def wav_bytes() -> bytes:
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 800)
    return out.getvalue()
