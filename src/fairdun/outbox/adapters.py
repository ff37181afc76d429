"""Channel adapters: one interface in front of SMS, e-mail, voice and letter.

An adapter's ``send`` either returns a :class:`SendResult` (the provider took the
message), raises :class:`TransientError` (nothing went out; trying again later is safe),
raises :class:`PermanentError` (nothing went out; trying again cannot help), or raises
anything else, which means *we do not know whether it went out*.

``idempotent`` says whether the far side deduplicates a repeated send of the same
message (same ``idempotency_key``). The dispatcher re-sends a message whose fate is
unknown only through an idempotent adapter; for the others it marks it uncertain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Protocol

from fairdun.kit.clock import Clock, utcnow
from fairdun.outbox.models import OutboxChannel, OutboxMessage


class TransientError(Exception):
    """Not sent; a later attempt may succeed (timeout before sending, 4xx SMTP, HTTP 5xx)."""


class PermanentError(Exception):
    """Not sent, and sending again will not help (bad address, HTTP 4xx, SMTP 5xx)."""


@dataclass(frozen=True)
class OutgoingMessage:
    """What an adapter needs, detached from any session: sending happens outside one."""

    id: int
    channel: OutboxChannel
    recipient: str
    body: str
    kind: str
    institution_id: int | None = None

    @property
    def idempotency_key(self) -> str:
        return f"outbox-{self.id}"

    @classmethod
    def of(cls, message: OutboxMessage) -> OutgoingMessage:
        return cls(
            id=message.id,
            channel=OutboxChannel(message.channel),
            recipient=message.recipient,
            body=message.body,
            kind=message.kind,
            institution_id=message.institution_id,
        )


@dataclass(frozen=True)
class SendResult:
    provider_id: str | None


class Adapter(Protocol):
    @property
    def idempotent(self) -> bool: ...

    def send(self, message: OutgoingMessage) -> SendResult: ...


def mask(recipient: str) -> str:
    """Keep the last four characters: enough to tell messages apart on screen."""
    return "*" * max(len(recipient) - 4, 0) + recipient[-4:]


class OutboxFileAdapter:
    """The default: one JSON line per message in a file the demo can show. Recipients are
    masked; nothing leaves the machine. Appending twice would show the message twice, so it
    does not count as idempotent."""

    idempotent = False

    def __init__(self, path: Path, *, clock: Clock = utcnow) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()

    def send(self, message: OutgoingMessage) -> SendResult:
        line = json.dumps(
            {
                "id": message.idempotency_key,
                "at": self.clock().isoformat(timespec="seconds"),
                "channel": str(message.channel),
                "kind": message.kind,
                "to": mask(message.recipient),
                "body": message.body,
            },
            ensure_ascii=False,
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, self.path.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
        except OSError as exc:  # the line was not written: safe to try again
            raise TransientError(f"outbox file: {exc}") from exc
        return SendResult(provider_id=f"file:{message.idempotency_key}")


class SmtpAdapter:
    """E-mail through an SMTP relay (smtplib). SMTP has no idempotency key, so a message
    whose fate is unknown is never re-sent."""

    idempotent = False

    def __init__(
        self,
        *,
        host: str,
        port: int = 587,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout: float = 30.0,
        subject: str = "A message about your loan",
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout = timeout
        self.subject = subject

    def _email(self, message: OutgoingMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.recipient
        email["Subject"] = self.subject
        domain = self.sender.rpartition("@")[2] or None
        email["Message-ID"] = make_msgid(idstring=message.idempotency_key, domain=domain)
        email["X-Fairdun-Message"] = message.idempotency_key
        email.set_content(message.body)
        return email

    def send(self, message: OutgoingMessage) -> SendResult:
        email = self._email(message)
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as exc:  # nothing sent yet
            raise TransientError(f"smtp connect: {exc}") from exc
        with smtp:
            try:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password or "")
            except smtplib.SMTPAuthenticationError as exc:
                raise PermanentError(f"smtp login refused: {exc.smtp_code}") from exc
            except (OSError, smtplib.SMTPException) as exc:  # still before MAIL FROM
                raise TransientError(f"smtp session: {exc}") from exc
            try:
                refused = smtp.send_message(email)
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _ in exc.recipients.values()]
                raise _by_code(codes[0] if codes else 550, "recipient refused") from exc
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                raise _by_code(exc.smtp_code, "refused") from exc
            # Any other error (a disconnect or timeout around DATA) leaves the fate unknown:
            # it propagates, and the dispatcher marks the message uncertain.
            if refused:
                raise PermanentError(f"smtp refused recipients: {sorted(refused)}")
        return SendResult(provider_id=str(email["Message-ID"]))


def _by_code(code: int, what: str) -> Exception:
    if 400 <= code < 500:
        return TransientError(f"smtp {what}: {code}")
    return PermanentError(f"smtp {what}: {code}")


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over ``timestamp.body``: the receiver checks origin and freshness."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookAdapter:
    """SMS (or any channel) through an HTTP provider: POST JSON, signed, with an
    ``Idempotency-Key`` the provider deduplicates on. Because of that key a message
    whose fate is unknown may be sent again: the provider delivers it once."""

    idempotent = True
    SIGNATURE_HEADER = "X-Fairdun-Signature"
    TIMESTAMP_HEADER = "X-Fairdun-Timestamp"

    def __init__(
        self, *, url: str, secret: str, timeout: float = 10.0, clock: Clock = utcnow
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("the webhook URL must be http(s)")
        self.url = url
        self.secret = secret.encode()
        self.timeout = timeout
        self.clock = clock

    def send(self, message: OutgoingMessage) -> SendResult:
        body = json.dumps(
            {
                "id": message.idempotency_key,
                "channel": str(message.channel),
                "to": message.recipient,
                "body": message.body,
                "kind": message.kind,
            },
            ensure_ascii=False,
        ).encode()
        timestamp = str(int(self.clock().timestamp()))
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked in __init__
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": message.idempotency_key,
                self.TIMESTAMP_HEADER: timestamp,
                self.SIGNATURE_HEADER: sign(self.secret, timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code in (408, 429):
                raise TransientError(f"webhook HTTP {exc.code}") from exc
            raise PermanentError(f"webhook HTTP {exc.code}") from exc
        except (OSError, TimeoutError) as exc:  # refused, reset, timed out: retry, same key
            raise TransientError(f"webhook: {exc}") from exc
        return SendResult(provider_id=_provider_id(answer))


def _provider_id(answer: bytes) -> str | None:
    try:
        data = json.loads(answer)
    except ValueError:
        return None
    if isinstance(data, dict):
        for key in ("id", "message_id", "sid"):
            value = data.get(key)
            if isinstance(value, str | int) and str(value):
                return str(value)[:200]
    return None
