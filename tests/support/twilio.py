"""A Twilio-compatible Messages API on 127.0.0.1 for tests of the real Twilio SDK.

It serves `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` from its own thread (so a
client that wrongly blocks the test's event loop still gets answered), checks HTTP Basic auth,
answers in Twilio's JSON shapes, records what it accepted, and can fail or delay requests.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.support.loopback import LoopbackServer

_MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_ERRORS = {
    400: (21211, "The 'To' number is not a valid phone number."),
    401: (20003, "Authenticate"),
    404: (20404, "The requested resource was not found"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


@dataclass(frozen=True)
class ReceivedSms:
    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    user_agent: str


def error_body(status: int, message: str | None = None, code: int | None = None) -> bytes:
    default_code, default_message = _ERRORS.get(status, (20001, HTTPStatus(status).phrase))
    code = code or default_code
    return json.dumps(
        {
            "code": code,
            "message": message or default_message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
    ).encode()


@dataclass
class _State:
    account_sid: str
    auth_token: str
    received: list[ReceivedSms] = field(default_factory=list)
    requests: int = 0
    fail_remaining: int = 0
    fail_status: int = 500
    delay_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests assert on what was received instead."""

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorized(self, state: _State) -> bool:
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return (user, password) == (state.account_sid, state.auth_token)

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length", "0"))
        form = {
            key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()
        }
        with state.lock:
            state.requests += 1
            delay = state.delay_seconds
            failing = state.fail_remaining > 0
            if failing:
                state.fail_remaining -= 1
        if delay:
            time.sleep(delay)
        match = _MESSAGES_PATH.match(self.path)
        if match is None:
            self._reply(404, error_body(404))
        elif not self._authorized(state):
            self._reply(401, error_body(401))
        elif match["account"] != state.account_sid:
            self._reply(404, error_body(404))
        elif failing:
            self._reply(state.fail_status, error_body(state.fail_status))
        elif not form.get("To") or not form.get("From") or not form.get("Body"):
            self._reply(400, error_body(400, "A 'To', 'From' and 'Body' are required.", 21604))
        else:
            self._reply(201, self._accept(state, match["account"], form))

    def _accept(self, state: _State, account: str, form: dict[str, str]) -> bytes:
        sid = "SM" + uuid.uuid4().hex
        stamp = format_datetime(datetime.now(UTC).replace(microsecond=0))
        uri = f"/2010-04-01/Accounts/{account}/Messages/{sid}.json"
        with state.lock:
            state.received.append(
                ReceivedSms(
                    sid=sid,
                    account_sid=account,
                    to=form["To"],
                    from_=form["From"],
                    body=form["Body"],
                    user_agent=self.headers.get("User-Agent", ""),
                )
            )
        return json.dumps(
            {
                "account_sid": account,
                "api_version": "2010-04-01",
                "body": form["Body"],
                "date_created": stamp,
                "date_sent": None,
                "date_updated": stamp,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": form["From"],
                "messaging_service_sid": None,
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": "queued",
                "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
                "to": form["To"],
                "uri": uri,
            }
        ).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class LocalTwilio(LoopbackServer):
    """`with LocalTwilio(sid, token) as twilio:` serves on `twilio.base_url`."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self._state = _State(account_sid=account_sid, auth_token=auth_token)
        super().__init__()

    @property
    def received(self) -> list[ReceivedSms]:
        with self._state.lock:
            return list(self._state.received)

    @property
    def requests(self) -> int:
        with self._state.lock:
            return self._state.requests

    def fail_next(self, count: int, *, status: int = 500) -> None:
        with self._state.lock:
            self._state.fail_remaining = count
            self._state.fail_status = status

    def delay(self, seconds: float) -> None:
        """Hold every following answer for `seconds`, as a slow network would."""
        with self._state.lock:
            self._state.delay_seconds = seconds

    def _server(self) -> _Server:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.state = self._state
        return server
