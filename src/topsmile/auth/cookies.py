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


def session_cookies(settings: Settings, access: str, refresh: str, csrf: str) -> list[Cookie]:
    secure = settings.is_production
    n = names(settings)
    return [
        Cookie(
            key=n.access,
            value=access,
            path="/",
            httponly=True,
            samesite="lax",
            secure=secure,
            max_age=int(ACCESS_TTL.total_seconds()),
        ),
        Cookie(
            key=n.refresh,
            value=refresh,
            path="/api/auth",
            httponly=True,
            samesite="strict",
            secure=secure,
            max_age=int(REFRESH_TTL.total_seconds()),
        ),
        Cookie(
            key=n.csrf,
            value=csrf,
            path="/",
            httponly=False,
            samesite="lax",
            secure=secure,
            max_age=int(REFRESH_TTL.total_seconds()),
        ),
    ]


def cleared_cookies(settings: Settings) -> list[Cookie]:
    secure = settings.is_production
    n = names(settings)
    return [
        Cookie(
            key=n.access,
            value="",
            path="/",
            httponly=True,
            samesite="lax",
            secure=secure,
            max_age=0,
        ),
        Cookie(
            key=n.refresh,
            value="",
            path="/api/auth",
            httponly=True,
            samesite="strict",
            secure=secure,
            max_age=0,
        ),
        Cookie(
            key=n.csrf, value="", path="/", httponly=False, samesite="lax", secure=secure, max_age=0
        ),
    ]


def with_cookies(response: Response[Any], cookies: list[Cookie]) -> Response[Any]:
    for cookie in cookies:
        response.set_cookie(cookie)
    return response
