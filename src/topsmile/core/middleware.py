"""The outermost ASGI layer: request id, security headers and the access log.

It wraps the whole Litestar app (not a route), so unknown routes, 405s and errors raised
before routing get the same headers and log line as everything else.
"""

from __future__ import annotations

import time
from typing import Any

from litestar.config.cors import CORSConfig
from litestar.types import ASGIApp, Message, Receive, Send

from topsmile.core.context import accept_request_id, begin_request
from topsmile.core.cors import is_foreign_preflight, refuse_preflight
from topsmile.core.logging import log_access

_BASE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
_HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
_SCHEMA_PREFIX = "/schema"
# Headers this layer sets: one value each, whatever an inner layer set.
_OURS = frozenset(
    {name for name, _ in _BASE_HEADERS} | {b"x-request-id", b"cache-control", _HSTS[0]}
)


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, *, production: bool, cors: CORSConfig | None = None) -> None:
        self.app = app
        self.production = production
        self.cors = cors

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value
        context = begin_request(accept_request_id(incoming.decode("latin-1")))
        request_id = context.request_id.encode()
        path = scope["path"]
        extra_headers = [*_BASE_HEADERS, (b"x-request-id", request_id)]
        if not path.startswith(_SCHEMA_PREFIX):
            extra_headers.append((b"cache-control", b"no-store"))
        if self.production:
            extra_headers.append(_HSTS)
        status = 500
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in _OURS]
                message["headers"] = headers + extra_headers
            await send(message)

        # A preflight from an unlisted origin never reaches Litestar's CORS layer, whose
        # answer is not problem details (core/cors.py).
        inner = refuse_preflight if is_foreign_preflight(scope, self.cors) else self.app
        try:
            await inner(scope, receive, send_with_headers)
        finally:
            log_access(
                context.request_id,
                scope["method"],
                scope.get("path_template") or path,
                status,
                round((time.perf_counter() - started) * 1000, 2),
                context.user_id,
                context.clinic_id,
            )
