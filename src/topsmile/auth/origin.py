"""Login CSRF: the session-less browser endpoints refuse cross-site requests (SPEC §3).

Login, register, refresh, logout, password forgot/reset, verify-email and clinic signup need
no session, so no CSRF token can protect them: without this guard a page on another site
could sign a victim's browser into the attacker's account. Browsers say where a request
comes from (`Origin` on every POST, and `Sec-Fetch-Site`); a request naming a foreign site
is refused with 403 `csrf-failed`. A request with neither header is not a browser's and is
allowed. Webhooks (server-to-server, signed) must not use this guard.

Trusted origins: the API's own origin and `TOPSMILE_CORS_ORIGINS`. The own origin is the
request's Host header under the request's scheme, and under https as well: TLS usually ends
at a proxy in front of uvicorn (which trusts no proxy headers), so a page served from
https://api.example.com reaches us as http. The reverse is not allowed: an http page is
never trusted for an https request.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from topsmile.auth.principal import CsrfFailed

Origin = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origin(value: str) -> Origin | None:
    """(scheme, host, port) of an origin such as `https://app.example.com:8443`; None for
    `null` or anything that names no site."""
    try:
        parts = urlsplit(value.strip())
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host.lower(), port or _DEFAULT_PORTS[scheme]


def trusted_origins(scheme: str, host: str | None, cors_origins: tuple[str, ...]) -> set[Origin]:
    candidates = list(cors_origins)
    if host:
        candidates += [f"{scheme}://{host}", f"https://{host}"]
    return {origin for value in candidates if (origin := parse_origin(value))}


async def not_cross_site(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """The guard on every session-less browser endpoint."""
    headers = connection.headers
    if headers.get("sec-fetch-site", "").strip().lower() == "cross-site":
        raise CsrfFailed("Cross-site requests may not call this endpoint.")
    origin = headers.get("origin")
    if origin is None:
        return
    cors_origins: tuple[str, ...] = connection.app.state.runtime.settings.cors_origins
    trusted = trusted_origins(connection.url.scheme, headers.get("host"), cors_origins)
    if parse_origin(origin) not in trusted:
        raise CsrfFailed("Requests from this Origin may not call this endpoint.")
