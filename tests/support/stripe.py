"""A Stripe-compatible API on 127.0.0.1 for tests of the real `stripe` SDK (SPEC §8).

It serves, from its own thread, `POST /v1/payment_intents`, `GET /v1/payment_intents/{id}`
and `POST /v1/refunds` in Stripe's form encoding and JSON shapes, checks the Bearer key, and
honours `Idempotency-Key` as Stripe does: the same key replays the first answer, the same
key with other parameters is a 400 `idempotency_error`. It can fail (500) or hang the next
requests. `signed(body, secret)` builds a `Stripe-Signature` header the way Stripe does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from tests.support.loopback import LoopbackServer

_INTENT = re.compile(r"^/v1/payment_intents/(?P<id>pi_[A-Za-z0-9]+)$")


def signed(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header for `body`: HMAC-SHA256 of "<t>.<body>"."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event_body(event_id: str, kind: str, obj: dict[str, Any]) -> bytes:
    """A Stripe event as Stripe posts it to a webhook endpoint."""
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2025-01-01",
            "created": int(time.time()),
            "type": kind,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": obj},
        }
    ).encode()


def _form(text: str) -> dict[str, str]:
    return dict(parse_qsl(text, keep_blank_values=True))


@dataclass
class _State:
    api_key: str
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    # idempotency key -> (parameters, status, answer)
    replays: dict[str, tuple[dict[str, str], int, bytes]] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, key
    fail_remaining: int = 0
    delay_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _error(status: int, kind: str, message: str) -> bytes:
    return json.dumps({"error": {"type": kind, "message": message}}).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests assert on what was received instead."""

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", "req_" + uuid.uuid4().hex[:14])
        self.end_headers()
        self.wfile.write(body)

    def _begin(self) -> tuple[bool, dict[str, str]] | None:
        """Count the request, apply failures and delays, check the key; None if answered."""
        state = self.server.state
        length = int(self.headers.get("Content-Length", "0") or "0")
        params = _form(self.rfile.read(length).decode()) if length else {}
        key = self.headers.get("Idempotency-Key")
        with state.lock:
            state.requests.append((self.command, self.path, key))
            delay = state.delay_seconds
            failing = state.fail_remaining > 0
            if failing:
                state.fail_remaining -= 1
        if delay:
            time.sleep(delay)
        if self.headers.get("Authorization") != f"Bearer {state.api_key}":
            self._reply(401, _error(401, "invalid_request_error", "Invalid API Key provided"))
            return None
        if failing:
            self._reply(500, _error(500, "api_error", "Something went wrong on Stripe's end."))
            return None
        return True, params

    def do_GET(self) -> None:
        if self._begin() is None:
            return
        match = _INTENT.match(self.path.split("?")[0])
        state = self.server.state
        with state.lock:
            intent = state.intents.get(match["id"]) if match else None
        if intent is None:
            self._reply(404, _error(404, "invalid_request_error", "No such payment_intent"))
        else:
            self._reply(200, json.dumps(intent).encode())

    def do_POST(self) -> None:
        begun = self._begin()
        if begun is None:
            return
        _, params = begun
        state = self.server.state
        key = self.headers.get("Idempotency-Key")
        with state.lock:
            if key is not None and key in state.replays:
                first, status, answer = state.replays[key]
                if first != params:
                    status, answer = (
                        400,
                        _error(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same"
                            " parameters they were first used with.",
                        ),
                    )
            elif self.path == "/v1/payment_intents":
                status, answer = self._create_intent(state, params)
            elif self.path == "/v1/refunds":
                status, answer = self._create_refund(state, params)
            else:
                status, answer = 404, _error(404, "invalid_request_error", "Unrecognized URL")
            if key is not None and key not in state.replays and status < 500:
                state.replays[key] = (params, status, answer)
        self._reply(status, answer)

    def _create_intent(self, state: _State, params: dict[str, str]) -> tuple[int, bytes]:
        intent_id = "pi_" + uuid.uuid4().hex[:24]
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(params["amount"]),
            "currency": params["currency"],
            "client_secret": f"{intent_id}_secret_{uuid.uuid4().hex[:16]}",
            "status": "requires_payment_method",
            "metadata": {
                k[len("metadata[") : -1]: v for k, v in params.items() if k.startswith("metadata[")
            },
            "amount_refunded": 0,
        }
        state.intents[intent_id] = intent
        return 200, json.dumps(intent).encode()

    def _create_refund(self, state: _State, params: dict[str, str]) -> tuple[int, bytes]:
        intent = state.intents.get(params.get("payment_intent", ""))
        if intent is None:
            return 404, _error(404, "invalid_request_error", "No such payment_intent")
        amount = int(params.get("amount", intent["amount"] - intent["amount_refunded"]))
        if amount > intent["amount"] - intent["amount_refunded"]:
            return 400, _error(400, "invalid_request_error", "Refund exceeds the charge.")
        intent["amount_refunded"] += amount
        refund = {
            "id": "re_" + uuid.uuid4().hex[:24],
            "object": "refund",
            "amount": amount,
            "payment_intent": intent["id"],
            "status": "succeeded",
            "metadata": {
                k[len("metadata[") : -1]: v for k, v in params.items() if k.startswith("metadata[")
            },
        }
        state.refunds.append(refund)
        return 200, json.dumps(refund).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class LocalStripe(LoopbackServer):
    """`with LocalStripe(api_key) as stripe:` serves on `stripe.base_url` (no `/v1`)."""

    def __init__(self, api_key: str) -> None:
        self._state = _State(api_key=api_key)
        super().__init__()

    @property
    def intents(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return [dict(i) for i in self._state.intents.values()]

    @property
    def refunds(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return list(self._state.refunds)

    @property
    def requests(self) -> list[tuple[str, str, str | None]]:
        with self._state.lock:
            return list(self._state.requests)

    def fail_next(self, count: int) -> None:
        with self._state.lock:
            self._state.fail_remaining = count

    def delay(self, seconds: float) -> None:
        """Hold every following answer for `seconds` (longer than the client waits: a hang)."""
        with self._state.lock:
            self._state.delay_seconds = seconds

    def _server(self) -> _Server:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.state = self._state
        return server
