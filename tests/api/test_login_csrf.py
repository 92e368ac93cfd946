"""SPEC §3 login CSRF: every POST route either needs a session (and its CSRF token) or
refuses a foreign Origin and `Sec-Fetch-Site: cross-site` with 403 csrf-failed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest

from tests.api.auth_fixtures import PASSWORD, SeededClinic
from tests.api.openapi_routes import Operation, operations, send
from tests.conftest import client_for
from topsmile.app import create_app, lifespan
from topsmile.config import Settings

APP_ORIGIN = "https://app.example.com"
# SPEC §3's session-less browser endpoints (webhooks stay exempt: they are not browsers').
SESSION_LESS = {
    "authLogin",
    "authRegister",
    "authRefresh",
    "authLogout",
    "authPasswordForgot",
    "authPasswordReset",
    "authVerifyEmail",
    "signupClinic",
}
# Server-to-server callbacks: authenticated by their signature, whatever the Origin.
WEBHOOKS = {"stripeWebhook"}
FOREIGN: list[dict[str, str]] = [
    {"Origin": "https://evil.example"},
    {"Origin": "https://app.example.com.evil.example"},
    {"Origin": "http://testserver.evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"},
]
ALLOWED: list[dict[str, str]] = [
    {},
    {"Origin": "http://testserver"},  # the request's own origin
    {"Origin": "https://testserver"},  # the same host behind a TLS-terminating proxy
    {"Origin": APP_ORIGIN},  # TOPSMILE_CORS_ORIGINS
    {"Origin": "HTTPS://APP.example.com:443"},
    {"Sec-Fetch-Site": "same-origin"},
    {"Sec-Fetch-Site": "same-site"},
    {"Sec-Fetch-Site": "none"},
]


@pytest.fixture
async def anonymous(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(msgspec.structs.replace(settings, cors_origins=(APP_ORIGIN,)))
    async with lifespan(app.app), client_for(app) as client:
        yield client


@pytest.fixture
async def posts(anonymous: httpx.AsyncClient) -> list[Operation]:
    return [op for op in await operations(anonymous) if op.method == "POST"]


def is_csrf_failure(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.json()["type"] == "/problems/csrf-failed"


async def test_session_less_posts_refuse_foreign_sites(
    anonymous: httpx.AsyncClient, posts: list[Operation]
) -> None:
    refused = set()
    for op in posts:
        for headers in FOREIGN:
            response = await send(anonymous, op, b"{}", headers=headers)
            if op.operation_id in WEBHOOKS:
                # Not refused for its origin; this app has no webhook secret, hence 503.
                assert response.status_code == 503, f"{op} {headers}: {response.text}"
            elif is_csrf_failure(response):
                refused.add(op.operation_id)
            else:
                # Any other POST route must need a session: a foreign page cannot use it.
                assert response.status_code == 401, f"{op} {headers}: {response.text}"
                assert op.operation_id not in SESSION_LESS, f"{op} {headers}"
    assert refused == SESSION_LESS


async def test_session_less_posts_allow_own_and_configured_origins(
    anonymous: httpx.AsyncClient, posts: list[Operation]
) -> None:
    for op in posts:
        if op.operation_id in SESSION_LESS:
            for headers in ALLOWED:
                response = await send(anonymous, op, b"{}", headers=headers)
                assert not is_csrf_failure(response), f"{op} {headers}"


async def test_login_from_the_app_origin_signs_in_and_from_elsewhere_does_not(
    anonymous: httpx.AsyncClient, clinic: SeededClinic
) -> None:
    body = {"clinic": clinic.slug, "email": clinic.email("admin"), "password": PASSWORD}
    evil = await anonymous.post(
        "/api/auth/login", json=body, headers={"Origin": "https://evil.example"}
    )
    assert is_csrf_failure(evil), evil.text
    assert "access_token" not in evil.cookies
    ok = await anonymous.post("/api/auth/login", json=body, headers={"Origin": APP_ORIGIN})
    assert ok.status_code == 200, ok.text
