"""Resolve the caller from the access cookie on every routed request.

It never refuses by itself: routes declare who may call them with guards (`signed_in`,
`allow(...)`), which turn a missing principal into 401 and a wrong role into 403. Signed-in
callers are throttled per user here.
"""

from __future__ import annotations

from typing import Any

from litestar._parsers import parse_cookie_string
from litestar.connection import ASGIConnection
from litestar.types import ASGIApp, Receive, Scope, Send

from topsmile.auth import cookies, tokens
from topsmile.auth.sessions import load_principal
from topsmile.core.context import current
from topsmile.core.throttle import client_ip, throttle_key
from topsmile.runtime import Runtime


def _cookie(scope: Scope, name: str) -> str | None:
    """The cookie through the parser `request.cookies` uses (one parser everywhere): a
    malformed unrelated cookie cannot hide the session cookie next to it. Without a Cookie
    header there is nothing to parse (most anonymous calls: health checks, public pages)."""
    values = [value for header, value in scope["headers"] if header == b"cookie"]
    if not values:
        return None
    if len(values) == 1:  # the very call `request.cookies` makes (it caches per string)
        return parse_cookie_string(values[0].decode("latin-1")).get(name)
    return ASGIConnection[Any, Any, Any, Any](scope).cookies.get(name)


def request_ip(scope: Scope, runtime: Runtime) -> str:
    peer = scope.get("client")
    # Every X-Forwarded-For line, in order: a proxy may append its own line rather than
    # extend the client's, and only the rightmost hops are ours to trust.
    lines = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
    forwarded = ",".join(lines) or None
    return client_ip(peer[0] if peer else None, forwarded, runtime.settings.trusted_proxies)


class AuthMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            runtime: Runtime = scope["app"].state.runtime
            settings = runtime.settings
            scope["user"] = None
            token = _cookie(scope, cookies.names(settings).access)
            if token:
                await self._authenticate(scope, runtime, token)
        await self.app(scope, receive, send)

    async def _authenticate(self, scope: Any, runtime: Runtime, token: str) -> None:
        try:
            claims = tokens.read_access_token(runtime.settings.secret_key, token)
        except tokens.InvalidToken:
            return
        principal = await load_principal(
            runtime.settings.secret_key,
            claims,
            runtime.denylist.cache,
            request_ip(scope, runtime),
        )
        if principal is None:
            return
        scope["user"] = principal
        context = current()
        if context is not None:
            context.user_id = str(principal.user_id)
            context.clinic_id = str(principal.clinic_id)
        await runtime.throttle.enforce(
            throttle_key("api", str(claims.user_id)), runtime.settings.rate_api_per_user
        )
