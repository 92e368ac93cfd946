"""`Throttle.enforce` takes events from Redis in batches (core/throttle.py): one process
gets exactly the limit, processes sharing a limit never get more than it together, a spent
window is refused without asking Redis, and the next window starts afresh."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from topsmile.config import Rate, Settings
from topsmile.core.errors import RateLimited
from topsmile.core.throttle import Throttle, batch_size, throttle_key


@pytest.fixture
async def throttles(settings: Settings, redis: Redis) -> AsyncIterator[tuple[Throttle, Throttle]]:
    """Two processes' throttles on one Redis."""
    assert settings.redis_url is not None
    pair = (Throttle(redis, settings.redis_url), Throttle(redis, settings.redis_url))
    yield pair
    for throttle in pair:
        await throttle.close()


async def _allowed(throttle: Throttle, key: str, rate: Rate) -> bool:
    try:
        await throttle.enforce(key, rate)
    except RateLimited:
        return False
    return True


def test_batches_are_one_below_a_hundred_and_at_most_sixteen() -> None:
    assert [batch_size(Rate(n, 60)) for n in (1, 40, 99, 100, 160, 600, 10_000)] == [
        1,
        1,
        1,
        2,
        3,
        12,
        16,
    ]


@pytest.mark.parametrize("limit", [5, 160, 2000])
async def test_one_process_gets_exactly_the_limit(
    throttles: tuple[Throttle, Throttle], redis: Redis, limit: int
) -> None:
    throttle, _ = throttles
    rate, key = Rate(limit, 60), throttle_key("test", str(uuid.uuid4()))
    assert [await _allowed(throttle, key, rate) for _ in range(limit)] == [True] * limit
    with pytest.raises(RateLimited) as refused:
        await throttle.enforce(key, rate)
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
    counted = int(await redis.get(key) or 0)
    for _ in range(20):  # refused here until the window ends, without asking Redis
        assert not await _allowed(throttle, key, rate)
    assert int(await redis.get(key) or 0) == counted


async def test_concurrent_calls_in_one_process_share_its_batches(
    throttles: tuple[Throttle, Throttle],
) -> None:
    """All at once, before any batch has come back: they wait for the one batch in flight
    instead of each taking its own, so the process still gets exactly the limit."""
    throttle, _ = throttles
    rate, key = Rate(160, 60), throttle_key("test", str(uuid.uuid4()))
    outcomes = await asyncio.gather(*(_allowed(throttle, key, rate) for _ in range(320)))
    assert sum(outcomes) == rate.limit


async def test_processes_sharing_a_limit_never_get_more_than_it(
    throttles: tuple[Throttle, Throttle],
) -> None:
    rate, key = Rate(160, 60), throttle_key("test", str(uuid.uuid4()))
    batch = batch_size(rate)
    outcomes = await asyncio.gather(
        *(_allowed(throttles[n % 2], key, rate) for n in range(2 * rate.limit))
    )
    allowed = sum(outcomes)
    # Two processes: at most batch - 1 events stranded in the other one.
    assert rate.limit - (batch - 1) <= allowed <= rate.limit


async def test_a_spent_window_ends_and_the_next_one_starts_afresh(
    throttles: tuple[Throttle, Throttle],
) -> None:
    throttle, _ = throttles
    rate, key = Rate(100, 1), throttle_key("test", str(uuid.uuid4()))
    assert all([await _allowed(throttle, key, rate) for _ in range(100)])
    assert not await _allowed(throttle, key, rate)
    await asyncio.sleep(1.1)
    assert await _allowed(throttle, key, rate)


async def test_without_redis_requests_go_through(redis: Redis) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    throttle = Throttle(redis, f"redis://127.0.0.1:{port}/0")
    try:
        assert all([await _allowed(throttle, "throttle:test:down", Rate(1, 60)) for _ in range(3)])
    finally:
        await throttle.close()
