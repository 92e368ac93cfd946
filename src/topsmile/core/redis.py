"""The shared Redis client (denylist, throttling, idempotency, caches)."""

from __future__ import annotations

from redis.asyncio import Redis


def create_redis(url: str) -> Redis:
    return Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=10,
        retry_on_timeout=False,
    )
