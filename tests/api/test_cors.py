"""CORS for the web apps' origins (SPEC §1): listed origins get credentials and the response
headers SPEC promises; every other origin's preflight, on every route, is a 403 problem.
The browser's view of the same rules: tests/e2e/test_browser.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest

from tests.api.openapi_routes import operations
from tests.conftest import client_for
from topsmile.app import create_app, lifespan
from topsmile.config import Settings

APP_ORIGIN = "https://app.example.com"


@pytest.fixture
async def cors_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    configured = msgspec.structs.replace(settings, cors_origins=(APP_ORIGIN,))
    app = create_app(configured, run_relay=False)
    async with lifespan(app.app), client_for(app) as client:
        yield client


def _preflight(origin: str, method: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type,x-csrf-token",
    }


async def _assert_foreign_preflights_refused(client: httpx.AsyncClient, origin: str) -> None:
    for op in await operations(client):
        response = await client.options(op.path, headers=_preflight(origin, op.method))
        assert response.status_code == 403, (str(op), response.text)
        assert response.headers["content-type"] == "application/problem+json", str(op)
        assert response.json()["type"] == "/problems/forbidden", str(op)
        assert response.json()["requestId"] == response.headers["x-request-id"], str(op)
        assert "access-control-allow-origin" not in response.headers, str(op)


async def test_a_foreign_preflight_on_every_route_is_a_problem(
    cors_client: httpx.AsyncClient,
) -> None:
    for origin in ("https://evil.example", "https://app.example.com.evil.example", "null"):
        await _assert_foreign_preflights_refused(cors_client, origin)


async def test_with_no_origins_configured_every_preflight_is_refused(
    client: httpx.AsyncClient,
) -> None:
    await _assert_foreign_preflights_refused(client, APP_ORIGIN)


async def test_a_listed_origin_gets_credentials_and_the_promised_headers(
    cors_client: httpx.AsyncClient,
) -> None:
    preflight = await cors_client.options(
        "/api/scheduling/appointments", headers=_preflight(APP_ORIGIN, "POST")
    )
    assert preflight.status_code == 204, preflight.text
    assert preflight.headers["access-control-allow-origin"] == APP_ORIGIN
    assert preflight.headers["access-control-allow-credentials"] == "true"
    allowed = {
        h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")
    }
    assert {"content-type", "x-csrf-token"} <= allowed

    response = await cors_client.get("/api/auth/me", headers={"Origin": APP_ORIGIN})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"x-request-id", "retry-after", "content-disposition"} <= exposed


async def test_options_without_an_origin_is_not_a_preflight(client: httpx.AsyncClient) -> None:
    response = await client.options("/api/health", headers={"Access-Control-Request-Method": "GET"})
    assert response.status_code != 403, response.text
