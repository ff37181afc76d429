"""CSRF tokens: HMAC over a per-session secret (or a pre-session cookie) and a timestamp."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

SESSION_COOKIE = "fairdun_session"
PRESESSION_COOKIE = "fairdun_pre"
LANG_COOKIE = "fairdun_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def make_csrf(secret_key: str, binding: str, now: datetime) -> str:
    ts = int(now.timestamp())
    mac = hmac.new(secret_key.encode(), f"{binding}|{ts}".encode(), hashlib.sha256).hexdigest()
    return f"{ts}.{mac}"


def check_csrf(
    secret_key: str, binding: str, token: str | None, now: datetime, max_age: timedelta
) -> str | None:
    """None when valid, else why not (missing, malformed, expired, wrong)."""
    if not token:
        return "missing CSRF token"
    ts_text, _, mac = token.partition(".")
    if not ts_text.isdigit() or not mac:
        return "malformed CSRF token"
    ts = int(ts_text)
    expected = hmac.new(secret_key.encode(), f"{binding}|{ts}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, mac):
        return "invalid CSRF token"
    age = now.timestamp() - ts
    if age > max_age.total_seconds() or age < -60:
        return "expired CSRF token; reload the page"
    return None


def safe_next(target: str | None) -> str:
    """Only same-site relative paths; anything else goes home (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
