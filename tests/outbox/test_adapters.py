"""The real adapters against local stand-ins: a minimal SMTP server and an HTTP provider,
each in a thread on localhost. Nothing leaves the machine."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fairdun.outbox.adapters import (
    OutgoingMessage,
    PermanentError,
    SmtpAdapter,
    TransientError,
    WebhookAdapter,
)
from fairdun.outbox.models import OutboxChannel

MESSAGE = OutgoingMessage(
    id=42,
    channel=OutboxChannel.EMAIL,
    recipient="debtor@example.cn",
    body="Your instalment of 120.00 is overdue. 您好",
    kind="reminder",
)
SMS = OutgoingMessage(
    id=7, channel=OutboxChannel.SMS, recipient="+8613800001234", body="code 123456", kind="k"
)


# --- a stand-in SMTP server: just enough of RFC 5321 for smtplib -----------------------


class SmtpStandIn(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SmtpHandler)
        self.received: list[dict[str, Any]] = []
        self.rcpt_reply = b"250 OK"
        self.data_reply = b"250 OK queued"
        self.auth_seen: list[str] = []


class SmtpHandler(socketserver.StreamRequestHandler):
    server: SmtpStandIn

    def reply(self, line: bytes) -> None:
        self.wfile.write(line + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self.reply(b"220 standin ESMTP")
        envelope: dict[str, Any] = {"rcpt": []}
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.reply(b"250-standin")
                self.reply(b"250 AUTH PLAIN")
            elif verb == b"HELO":
                self.reply(b"250 standin")
            elif verb == b"AUTH":
                self.server.auth_seen.append(line.decode().strip())
                self.reply(b"235 OK")
            elif verb == b"MAIL":
                envelope = {"from": line.decode().strip(), "rcpt": []}
                self.reply(b"250 OK")
            elif verb == b"RCPT":
                envelope["rcpt"].append(line.decode().strip())
                self.reply(self.server.rcpt_reply)
            elif verb == b"DATA":
                self.reply(b"354 go on")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                envelope["data"] = data
                if self.server.data_reply.startswith(b"250"):
                    self.server.received.append(envelope)
                self.reply(self.server.data_reply)
            elif verb == b"QUIT":
                self.reply(b"221 bye")
                return
            else:  # RSET, NOOP
                self.reply(b"250 OK")


@pytest.fixture
def smtp_server() -> Iterator[SmtpStandIn]:
    server = SmtpStandIn()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def smtp_adapter(server: SmtpStandIn, **kw: Any) -> SmtpAdapter:
    return SmtpAdapter(
        host="127.0.0.1",
        port=server.server_address[1],
        sender="collections@lender.example.cn",
        starttls=False,
        timeout=5,
        **kw,
    )


def test_smtp_delivers_the_message_with_its_headers(smtp_server: SmtpStandIn) -> None:
    result = smtp_adapter(smtp_server, username="u", password="p").send(MESSAGE)
    [envelope] = smtp_server.received
    assert envelope["from"].upper().startswith("MAIL FROM:<COLLECTIONS@LENDER.EXAMPLE.CN>")
    assert envelope["rcpt"][0].upper().startswith("RCPT TO:<DEBTOR@EXAMPLE.CN>")
    email = message_from_bytes(envelope["data"], policy=policy.default)
    assert email["From"] == "collections@lender.example.cn"
    assert email["To"] == "debtor@example.cn"
    assert email["X-Fairdun-Message"] == "outbox-42"
    assert "outbox-42" in email["Message-ID"]
    assert result.provider_id == str(email["Message-ID"]).strip()
    assert email.get_content().strip() == MESSAGE.body
    assert smtp_server.auth_seen and smtp_server.auth_seen[0].startswith("AUTH PLAIN")


def test_smtp_is_not_idempotent() -> None:
    assert SmtpAdapter.idempotent is False


@pytest.mark.parametrize(
    ("where", "reply", "error"),
    [
        ("rcpt", b"550 no such user", PermanentError),
        ("rcpt", b"451 try later", TransientError),
        ("data", b"554 rejected as spam", PermanentError),
        ("data", b"452 mailbox full", TransientError),
    ],
)
def test_smtp_refusals_are_classified_by_code(
    smtp_server: SmtpStandIn, where: str, reply: bytes, error: type[Exception]
) -> None:
    setattr(smtp_server, f"{where}_reply", reply)
    with pytest.raises(error):
        smtp_adapter(smtp_server).send(MESSAGE)
    assert smtp_server.received == []


def test_smtp_connection_refused_is_transient() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    adapter = SmtpAdapter(host="127.0.0.1", port=port, sender="a@b.cn", starttls=False)
    with pytest.raises(TransientError):
        adapter.send(MESSAGE)


# --- a stand-in SMS provider over HTTP ----------------------------------------------------


class Provider(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ProviderHandler)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.answer = b'{"id": "SM-001", "status": "queued"}'

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/sms"


class ProviderHandler(BaseHTTPRequestHandler):
    server: Provider

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((dict(self.headers), body))
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.answer)))
        self.end_headers()
        self.wfile.write(self.server.answer)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def provider() -> Iterator[Provider]:
    server = Provider()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


SECRET = "shared-secret"


def test_webhook_posts_signed_json_with_an_idempotency_key(provider: Provider) -> None:
    result = WebhookAdapter(url=provider.url, secret=SECRET).send(SMS)
    assert result.provider_id == "SM-001"
    [(headers, body)] = provider.requests
    assert headers["Idempotency-Key"] == "outbox-7"
    timestamp = headers["X-Fairdun-Timestamp"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    assert headers["X-Fairdun-Signature"] == "sha256=" + expected.hexdigest()
    assert json.loads(body) == {
        "id": "outbox-7",
        "channel": "sms",
        "to": "+8613800001234",
        "body": "code 123456",
        "kind": "k",
    }


def test_webhook_resends_carry_the_same_key(provider: Provider) -> None:
    adapter = WebhookAdapter(url=provider.url, secret=SECRET)
    adapter.send(SMS)
    adapter.send(SMS)
    assert [h["Idempotency-Key"] for h, _ in provider.requests] == ["outbox-7", "outbox-7"]
    assert WebhookAdapter.idempotent is True


def test_webhook_a_2xx_without_json_is_still_sent(provider: Provider) -> None:
    provider.status, provider.answer = 202, b"accepted"
    assert WebhookAdapter(url=provider.url, secret=SECRET).send(SMS).provider_id is None


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, TransientError),
        (503, TransientError),
        (429, TransientError),
        (400, PermanentError),
        (401, PermanentError),
        (422, PermanentError),
    ],
)
def test_webhook_errors_are_classified(
    provider: Provider, status: int, error: type[Exception]
) -> None:
    provider.status, provider.answer = status, b'{"error": "x"}'
    with pytest.raises(error):
        WebhookAdapter(url=provider.url, secret=SECRET).send(SMS)


def test_webhook_timeout_is_transient() -> None:
    with socket.socket() as listener:  # accepts connections (backlog), never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        adapter = WebhookAdapter(url=f"http://127.0.0.1:{port}/", secret=SECRET, timeout=0.2)
        with pytest.raises(TransientError):
            adapter.send(SMS)


def test_webhook_connection_refused_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransientError):
        WebhookAdapter(url=f"http://127.0.0.1:{port}/", secret=SECRET).send(SMS)


def test_webhook_refuses_non_http_urls() -> None:
    with pytest.raises(ValueError, match="http"):
        WebhookAdapter(url="file:///etc/passwd", secret=SECRET)
