"""The three auth cookies: names, flags, paths and lifetimes per SPEC §3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Response
from litestar.datastructures import Cookie

from topsmile.auth.tokens import ACCESS_TTL, REFRESH_TTL
from topsmile.config import Settings


@dataclass(frozen=True)
class CookieNames:
    access: str
    refresh: str
    csrf: str


DEVELOPMENT = CookieNames("access_token", "refresh_token", "csrf_token")
PRODUCTION = CookieNames("__Host-access_token", "__Secure-refresh_token", "__Host-csrf_token")


def names(settings: Settings) -> CookieNames:
    return PRODUCTION if settings.is_production else DEVELOPMENT


def _cookies(
    settings: Settings, values: tuple[str, str, str], ages: tuple[int, int, int]
) -> list[Cookie]:
    n = names(settings)
    secure = settings.is_production
    access, refresh, csrf = values
    access_age, refresh_age, csrf_age = ages
    return [
        Cookie(
            key=n.access,
            value=access,
            path="/",
            httponly=True,
            samesite="lax",
            secure=secure,
            max_age=access_age,
        ),
        Cookie(
            key=n.refresh,
            value=refresh,
            path="/api/auth",
            httponly=True,
            samesite="strict",
            secure=secure,
            max_age=refresh_age,
        ),
        Cookie(
            key=n.csrf,
            value=csrf,
            path="/",
            httponly=False,
            samesite="lax",
            secure=secure,
            max_age=csrf_age,
        ),
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
