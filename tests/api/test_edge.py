"""Request ids, security headers, CORS and the OpenAPI document."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import client_for
from topsmile.app import create_app, lifespan
from topsmile.config import Settings

_GENERATED = re.compile(r"^[0-9a-f]{32}$")


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health/live", headers={"X-Request-ID": "abc.DEF-123_x"})
    assert response.headers["x-request-id"] == "abc.DEF-123_x"


@pytest.mark.parametrize("bad", ["", "has space", "x" * 129, "semi;colon", "ünï"])
async def test_invalid_request_id_is_replaced(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.get("/api/health/live", headers={"X-Request-ID": bad.encode()})
    assert _GENERATED.match(response.headers["x-request-id"])


async def test_request_id_generated_when_absent(client: httpx.AsyncClient) -> None:
    first = await client.get("/api/health/live")
    second = await client.get("/api/health/live")
    assert _GENERATED.match(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_request_id_of_128_chars_is_kept(client: httpx.AsyncClient) -> None:
    rid = "a" * 128
    response = await client.get("/api/nope", headers={"X-Request-ID": rid})
    assert response.headers["x-request-id"] == rid
    assert response.json()["requestId"] == rid


@pytest.mark.parametrize("path", ["/api/health/live", "/api/does-not-exist"])
async def test_security_headers_on_every_response(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in response.headers


async def test_hsts_only_in_production(settings: Settings) -> None:
    import msgspec

    production = msgspec.structs.replace(
        settings, env="production", secret_key="k" * 8 + "0123456789abcdefghijklmnopqrstuv"
    )
    app = create_app(production)
    async with lifespan(app.app), client_for(app) as client:
        response = await client.get("/api/health/live")
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_cors_allows_only_configured_origins(settings: Settings) -> None:
    import msgspec

    configured = msgspec.structs.replace(settings, cors_origins=("https://app.example.com",))
    app = create_app(configured)
    async with lifespan(app.app), client_for(app) as client:
        allowed = await client.options(
            "/api/health",
            headers={
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "GET",
            },
        )
        denied = await client.get("/api/health/live", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "access-control-allow-origin" not in denied.headers


async def test_openapi_document_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    operation_ids = {
        op["operationId"] for path in document["paths"].values() for op in path.values()
    }
    assert {"health", "healthLive"} <= operation_ids
    docs = await client.get("/schema")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
