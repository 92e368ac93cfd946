"""Health: database and Redis checks, 503 naming the failing one, recovery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from tests.conftest import client_for
from topsmile.app import create_app, lifespan
from topsmile.config import Settings
from topsmile.core.embedded import EmbeddedRedis


async def test_health_reports_both_checks(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"]
    for name in ("database", "redis"):
        assert body["checks"][name]["status"] == "ok"
        assert body["checks"][name]["latencyMs"] >= 0


async def test_live_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    redis = EmbeddedRedis(tmp_path / "redis")
    redis.start()
    yield redis
    redis.release()


async def _health_until(client: httpx.AsyncClient, status: int, deadline: float = 15) -> dict:  # type: ignore[type-arg]
    end = time.monotonic() + deadline
    while True:
        response = await client.get("/api/health")
        if response.status_code == status or time.monotonic() > end:
            assert response.status_code == status, response.text
            return dict(response.json())
        await asyncio.sleep(0.1)


async def test_redis_down_is_503_naming_redis_and_recovers(
    settings: Settings, own_redis: EmbeddedRedis
) -> None:
    app = create_app(msgspec.structs.replace(settings, redis_url=own_redis.url))
    async with lifespan(app.app), client_for(app) as client:
        await _health_until(client, 200)
        own_redis.stop()
        body = await _health_until(client, 503)
        assert body["status"] == "down"
        assert body["checks"]["redis"]["status"] == "down"
        assert body["checks"]["database"]["status"] == "ok"
        document = (await client.get("/schema/openapi.json")).json()
        documented = document["paths"]["/api/health"]["get"]["responses"]
        assert documented["503"]["content"] == documented["200"]["content"]  # same body
        own_redis.start()
        body = await _health_until(client, 200)
        assert body["checks"]["redis"]["status"] == "ok"
