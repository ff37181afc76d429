"""The message wording page: check a text, save a draft, activation refused with the
offending words marked; the forms carry the page's CSRF token."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from fairdun.identity.models import Role
from tests.factories import csrf_from, login, make_institution, make_user

THREAT = "再不还钱就把你欠款的事发到你全部通讯录。"


def test_check_create_and_refused_activation_through_the_page(
    client: TestClient, db: Session
) -> None:
    lender = make_institution(db, name="星河消费金融")
    make_user(db, role=Role.COMPLIANCE_OFFICER, institution=lender, username="officer")
    db.commit()
    login(client, "officer")
    page = client.get("/templates")
    assert page.status_code == 200
    csrf = csrf_from(page.text)
    checked = client.post("/templates/check", data={"csrf_token": csrf, "text": THREAT})
    assert checked.status_code == 200
    assert 'data-testid="findings"' in checked.text and "<mark>" in checked.text
    empty = client.post("/templates/check", data={"csrf_token": csrf, "text": "   "})
    assert empty.status_code == 422 and "the text is empty" in empty.text
    created = client.post(
        "/templates",
        data={"csrf_token": csrf, "key": "threat", "channel": "sms", "lang": "zh", "body": THREAT},
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    listing = client.get("/templates").text
    form_csrf = csrf_from(listing)
    template_id = int(listing.split('id="template-')[1].split('"')[0])
    refused = client.post(f"/templates/{template_id}/activate", data={"csrf_token": form_csrf})
    assert refused.status_code == 409
    assert 'data-testid="activation-refused"' in refused.text
    assert "third-party-disclosure" in refused.text
    no_token = client.post(f"/templates/{template_id}/activate", data={})
    assert no_token.status_code == 403
