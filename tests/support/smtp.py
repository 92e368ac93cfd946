"""A real SMTP server on 127.0.0.1 (aiosmtpd) for tests of the SMTP sender.

It runs in its own thread and event loop, can require STARTTLS with a throwaway self-signed
certificate and AUTH LOGIN/PLAIN, keeps every message it accepted, and can refuse the next
deliveries with a chosen reply code or answer slowly.
"""

from __future__ import annotations

import asyncio
import email.message
import email.policy
import logging
import ssl
import subprocess
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

# aiosmtpd logs every SMTP command at INFO; a failing test's output should show ours instead.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, and contexts that use it."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate (and verifies the host name)."""
        return ssl.create_default_context(cafile=str(self.cert))


def self_signed_certificate(directory: Path) -> Certificate:
    """Make a one-day certificate with the `openssl` command (`cryptography` isn't installed)."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return Certificate(cert=cert, key=key)


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    recipients: list[str]
    message: email.message.EmailMessage
    raw: bytes
    over_tls: bool
    authenticated_as: str | None


@dataclass
class _Failures:
    remaining: int = 0
    reply: str = ""


@dataclass
class _Handler:
    received: list[ReceivedMail] = field(default_factory=list)
    failures: _Failures = field(default_factory=_Failures)
    delay_seconds: float = 0.0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay_seconds)  # a slow provider: the sender waits for "250"
        if self.failures.remaining > 0:
            self.failures.remaining -= 1
            return self.failures.reply
        content = envelope.original_content or envelope.content or b""
        raw = content.encode() if isinstance(content, str) else content
        login = session.login_data if session.authenticated else None
        parsed = BytesParser(policy=email.policy.default).parsebytes(raw)
        assert isinstance(parsed, email.message.EmailMessage)
        self.received.append(
            ReceivedMail(
                mail_from=str(envelope.mail_from),
                recipients=[str(rcpt) for rcpt in envelope.rcpt_tos],
                message=parsed,
                raw=raw,
                over_tls=session.ssl is not None,
                authenticated_as=login.decode() if isinstance(login, bytes) else None,
            )
        )
        return "250 Message accepted for delivery"


class LocalSmtp:
    """`async with LocalSmtp(...) as smtp:` (or `with`) serves on `smtp.host`:`smtp.port`.

    The server runs its own event loop in a thread, so a test that blocks its loop for a
    moment (or waits on worker processes) never stalls the deliveries.

    With a `certificate`, STARTTLS is required before anything else; with a `username`,
    AUTH (LOGIN or PLAIN, only after STARTTLS when TLS is on) is required to send.
    """

    def __init__(
        self,
        *,
        certificate: Certificate | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self._certificate = certificate
        self._credentials = (username, password) if username is not None else None
        self._handler = _Handler()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    def env(self) -> dict[str, str]:
        """The settings that send a TopSmile process's email here (plain SMTP, no STARTTLS)."""
        return {
            "EMAIL_BACKEND": "smtp",
            "SMTP_HOST": self.host,
            "SMTP_PORT": str(self.port),
            "SMTP_STARTTLS": "false",
        }

    @property
    def received(self) -> list[ReceivedMail]:
        return self._handler.received

    def fail_next(self, count: int, *, code: int = 451, text: str = "Try again later") -> None:
        """Refuse the next `count` messages at DATA with `code` (4xx transient, 5xx permanent)."""
        enhanced = f"{code // 100}.0.0"
        self._handler.failures = _Failures(remaining=count, reply=f"{code} {enhanced} {text}")

    def slow_down(self, seconds: float) -> None:
        """Answer each message's DATA only after `seconds` (the message is kept either way)."""
        self._handler.delay_seconds = seconds

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword) or self._credentials is None:
            return AuthResult(success=False, handled=False)
        login, password = data.login.decode(), data.password.decode()
        if (login, password) != self._credentials:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=data)

    def _protocol(self) -> SMTP:
        tls = self._certificate.server_context() if self._certificate else None
        return SMTP(
            self._handler,
            hostname="localhost",
            tls_context=tls,
            require_starttls=tls is not None,
            auth_required=self._credentials is not None,
            auth_require_tls=tls is not None,
            authenticator=self._authenticate if self._credentials is not None else None,
        )

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        sessions = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in sessions:
            task.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)

    def _in_server_loop(self, step: Coroutine[Any, Any, None]) -> Future[None]:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(step, self._loop)

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> LocalSmtp:
        self.start()
        self._in_server_loop(self._open()).result(timeout=10)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._in_server_loop(self._close()).result(timeout=10)
        self.stop()

    async def __aenter__(self) -> LocalSmtp:
        self.start()
        await asyncio.wrap_future(self._in_server_loop(self._open()))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.wrap_future(self._in_server_loop(self._close()))
        self.stop()
