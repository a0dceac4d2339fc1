"""The receivers of what a station sends out, on loopback, for the outgoing tests and
bench/outgoing_kills.py:

- `SmtpServer`: a real SMTP server (aiosmtpd) that offers STARTTLS with a certificate of its
  own (made by `openssl`), wants it before the login, checks the login, and keeps each message
  as bytes; `delay_s` holds each DATA a while (a send the station can be killed in);
- `WebhookServer`: an HTTP server that checks each request's signature (HMAC-SHA256 over the
  timestamp, a dot and the body, with the shared secret) and keeps the good ones by event id;
  `faults` answers the next requests ``"500"``, ``"429"`` or ``"timeout"`` (no answer within
  the station's timeout) — each after taking the event, as a shop that stored it and failed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import subprocess
import threading
import time
import warnings
from collections import defaultdict, deque
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

# aiosmtpd warns about its own use of a deprecated attribute at every login.
warnings.filterwarnings("ignore", "Session.login_data is deprecated")

SMTP_USER, SMTP_PASSWORD = "notices@shop.example", "smtp-pass-do-not-log"
WEBHOOK_SECRET = "webhook-secret-do-not-log-0123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by openssl (cert, key)."""
    cert, key = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class SmtpServer:
    """aiosmtpd on a free loopback port, STARTTLS required before AUTH and MAIL."""

    def __init__(self, folder: Path, *, delay_s: float = 0.0) -> None:
        import ssl

        self.cert, key = self_signed(folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        self.port = free_port()
        self.delay_s = delay_s
        self.messages: list[bytes] = []
        self.logins: list[str] = []
        self._lock = threading.Lock()
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            authenticator=self._authenticate,
            auth_require_tls=True,
            auth_required=True,
        )

    def _authenticate(self, server, session, envelope, mechanism, data):  # type: ignore[no-untyped-def]
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == SMTP_USER
            and data.password.decode() == SMTP_PASSWORD
        )
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok)

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        import asyncio

        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        with self._lock:
            self.messages.append(envelope.content)
        return "250 OK"

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def parsed(self) -> list[EmailMessage]:
        with self._lock:
            raw = list(self.messages)
        return [message_from_bytes(m, policy=policy.default) for m in raw]  # type: ignore[misc]

    def by_message_id(self) -> dict[str, list[EmailMessage]]:
        found: dict[str, list[EmailMessage]] = defaultdict(list)
        for message in self.parsed():
            found[str(message["Message-ID"])].append(message)
        return found

    def mail_settings(self, **extra: Any) -> dict[str, Any]:
        """The station's `[mail]` for this server."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "starttls": True,
            "user": SMTP_USER,
            "password": SMTP_PASSWORD,
            "from_address": "shop@shop.example",
            "ca_file": str(self.cert),
            "tracking_url": "https://track.example/t?id={id}",
            "timeout_s": 10.0,
            **extra,
        }


class WebhookServer:
    """The shop's webhook receiver: signatures checked, events kept by id."""

    def __init__(self, *, secret: str = WEBHOOK_SECRET, hang_s: float = 3.0) -> None:
        self.secret = secret
        self.hang_s = hang_s
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.bad_signatures = 0
        self.cut_off = 0  # requests whose body ended early (the station killed mid-send)
        self.requests = 0
        self.faults: deque[str] = deque()
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/stationd"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> WebhookServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def verified(self, headers: Any, body: bytes) -> bool:
        timestamp = headers.get("X-Stationd-Timestamp", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return False  # too old: a replay
        signed = timestamp.encode() + b"." + body
        want = "sha256=" + hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(want, headers.get("X-Stationd-Signature", ""))

    def ids(self) -> set[str]:
        with self._lock:
            return set(self.events)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with server._lock:
                    server.requests += 1
                    if len(body) < length:
                        # The sender was killed while its request went out: nothing to take.
                        server.cut_off += 1
                        return
                    if not server.verified(self.headers, body):
                        server.bad_signatures += 1
                        fault = "bad"
                    else:
                        data = json.loads(body)
                        event_id = self.headers["X-Stationd-Event-Id"]
                        assert data["id"] == event_id
                        server.events[event_id].append(data)
                        fault = server.faults.popleft() if server.faults else "ok"
                if fault == "timeout":
                    time.sleep(server.hang_s)
                status = {"ok": 204, "bad": 401, "500": 500, "429": 429}.get(fault, 200)
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler
