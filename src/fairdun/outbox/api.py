"""``POST /api/v1/outbox/receipts``: delivery receipts from the SMS provider.

The provider is not a user: it proves itself with the same signature fairdun puts on what
it sends (``X-Fairdun-Signature: sha256=HMAC(FAIRDUN_SMS_WEBHOOK_SECRET, "timestamp.body")``
and ``X-Fairdun-Timestamp``, Unix seconds). A receipt older or newer than five minutes is
refused (a replayed request), a bad signature is 401, and without a configured secret the
route answers 503. A receipt for a message fairdun does not know is logged and answered
``{"applied": false}``: never an error the provider would retry for ever.
"""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fairdun.kit.errors import DomainError, Invalid, Unavailable
from fairdun.outbox import service
from fairdun.outbox.adapters import WebhookAdapter, sign
from fairdun.web.deps import Db, now_of, settings_of

router = APIRouter(prefix="/api/v1/outbox", tags=["outbox"])

FRESHNESS = timedelta(minutes=5)
MAX_BODY = 4096


class BadSignature(DomainError):
    status_code = 401
    code = "unauthenticated"


class Receipt(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reference: str = Field(
        min_length=1, max_length=200, description="provider id, message id or outbox-<id>"
    )
    status: str = Field(description="delivered or failed")
    at: datetime | None = Field(default=None, description="when; default: when received")


class ReceiptRead(BaseModel):
    applied: bool


@router.post("/receipts", response_model=ReceiptRead)
async def receipt(request: Request, db: Db) -> ReceiptRead:
    """Apply one delivery receipt (signed by the provider)."""
    secret = settings_of(request).sms_webhook_secret
    if not secret:
        raise Unavailable("delivery receipts are not configured (FAIRDUN_SMS_WEBHOOK_SECRET)")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise Invalid("body", f"a receipt is at most {MAX_BODY} bytes")
    stamp = request.headers.get(WebhookAdapter.TIMESTAMP_HEADER, "")
    given = request.headers.get(WebhookAdapter.SIGNATURE_HEADER, "")
    now = now_of(request)
    if not stamp.isdigit():
        raise BadSignature(f"missing or malformed {WebhookAdapter.TIMESTAMP_HEADER}")
    sent = datetime.fromtimestamp(int(stamp), tz=UTC)
    if abs(now - sent) > FRESHNESS:
        raise BadSignature("the receipt's timestamp is more than five minutes off")
    if not hmac.compare_digest(given, sign(secret.encode(), stamp, body)):
        raise BadSignature("the signature does not match")
    try:
        data = Receipt.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        raise Invalid("body", f"not a receipt: {exc}") from None
    # The session is synchronous: apply the receipt off the event loop.
    applied = await run_in_threadpool(
        service.record_receipt, db, data.reference, data.status, data.at or now
    )
    return ReceiptRead(applied=applied)
