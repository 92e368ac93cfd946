"""The three auth cookies: names, flags, paths and lifetimes per SPEC §3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from litestar import Response
from litestar.datastructures import Cookie

from topsmile.auth.signin import SessionTokens
from topsmile.auth.tokens import ACCESS_TTL, REFRESH_TTL
from topsmile.config import Settings
from topsmile.runtime import Runtime


@dataclass(frozen=True)
class CookieNames:
    access: str
    refresh: str
    csrf: str


DEVELOPMENT = CookieNames("access_token", "refresh_token", "csrf_token")
PRODUCTION = CookieNames("__Host-access_token", "__Secure-refresh_token", "__Host-csrf_token")


def names(settings: Settings) -> CookieNames:
    return PRODUCTION if settings.is_production else DEVELOPMENT


# (path, HttpOnly, SameSite) of the access, refresh and CSRF cookies, in that order.
_FLAGS: tuple[tuple[str, bool, Literal["lax", "strict"]], ...] = (
    ("/", True, "lax"),
    ("/api/auth", True, "strict"),
    ("/", False, "lax"),  # the web app reads it to send X-CSRF-Token
)


def _cookies(
    settings: Settings, values: tuple[str, str, str], ages: tuple[int, int, int]
) -> list[Cookie]:
    n = names(settings)
    return [
        Cookie(
            key=key,
            value=value,
            path=path,
            httponly=httponly,
            samesite=samesite,
            secure=settings.is_production,
            max_age=age,
        )
        for key, value, age, (path, httponly, samesite) in zip(
            (n.access, n.refresh, n.csrf), values, ages, _FLAGS, strict=True
        )
    ]


def session_cookies(settings: Settings, access: str, refresh: str, csrf: str) -> list[Cookie]:
    refresh_age = int(REFRESH_TTL.total_seconds())
    ages = (int(ACCESS_TTL.total_seconds()), refresh_age, refresh_age)
    return _cookies(settings, (access, refresh, csrf), ages)


def cleared_cookies(settings: Settings) -> list[Cookie]:
    return _cookies(settings, ("", "", ""), (0, 0, 0))


def with_cookies(response: Response[Any], cookies: list[Cookie]) -> Response[Any]:
    for cookie in cookies:
        response.set_cookie(cookie)
    return response


def session_response(
    rt: Runtime, issued: SessionTokens, content: Any, status: int = 200
) -> Response[Any]:
    """`content` with the new session's three cookies set."""
    response = Response(content, status_code=status)
    return with_cookies(
        response,
        session_cookies(rt.settings, issued.access_token, issued.refresh_token, issued.csrf_token),
    )
