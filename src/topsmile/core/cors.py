"""CORS for the web apps' origins (`TOPSMILE_CORS_ORIGINS`, SPEC §1), with credentials.

Litestar's CORS layer answers listed origins. A preflight from any other origin would get a
`text/plain` 400 from it (or, with no origins configured, the route's automatic OPTIONS
answer); `refuse_preflight` answers it instead with the contract's problem details, 403
`forbidden`, before Litestar sees it (EdgeMiddleware asks `is_foreign_preflight`). The
browser stops at either answer: this only keeps one error shape for every response.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.config.cors import CORSConfig
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Send

from topsmile.config import Settings
from topsmile.core.context import current_request_id
from topsmile.core.errors import PROBLEM_JSON, Problem

# Response headers SPEC promises clients: a web app on another origin reads only the ones
# listed here (CORS exposes none but the simple response headers by default).
EXPOSED_HEADERS = ["X-Request-ID", "Retry-After", "Content-Disposition"]


def cors_config(settings: Settings) -> CORSConfig | None:
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_credentials=True,
        expose_headers=EXPOSED_HEADERS,
    )


def is_foreign_preflight(scope: Any, config: CORSConfig | None) -> bool:
    """A preflight (OPTIONS with `Origin` and `Access-Control-Request-Method`) from an
    origin that is not listed."""
    if scope["method"] != "OPTIONS":
        return False
    headers = dict(scope["headers"])
    origin = headers.get(b"origin")
    if origin is None or b"access-control-request-method" not in headers:
        return False
    return config is None or not config.is_origin_allowed(origin.decode("latin-1"))


async def refuse_preflight(scope: Any, receive: Receive, send: Send) -> None:
    """ASGI: the answer to a foreign preflight, 403 `forbidden`."""
    body = msgspec.json.encode(
        Problem(
            type="/problems/forbidden",
            title="Not allowed",
            status=403,
            detail="This origin may not call the API (it is not in TOPSMILE_CORS_ORIGINS).",
            requestId=current_request_id(),
        )
    )
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 403,
        "headers": headers,
    }
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)
