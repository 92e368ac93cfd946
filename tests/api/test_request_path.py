"""What every request pays for (issue 9, item 7): no worker-thread hops, few round trips."""

from __future__ import annotations

import inspect
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from litestar.routes import HTTPRoute
from redis.asyncio import Redis

from tests.api.auth_fixtures import SeededClinic
from topsmile.accounts import service
from topsmile.clinics import queries as clinics
from topsmile.core import db
from topsmile.core.actor import Actor
from topsmile.core.errors import Unauthenticated
from topsmile.core.middleware import EdgeMiddleware
from topsmile.core.routes import GuardedInPlace
from topsmile.core.throttle import batch_size
from topsmile.users import queries as users


def test_no_guard_or_handler_runs_in_a_worker_thread(app: EdgeMiddleware) -> None:
    """Litestar runs a plain `def` guard, and a `def` handler marked `sync_to_thread`, in a
    thread pool: a hand-off (and GIL contention) on every call of every route."""
    threaded = []
    for route in app.app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            guards = handler.resolve_guards()
            threaded += [
                f"{route.path} guard {guard!r}"
                for guard in guards
                if not inspect.iscoroutinefunction(guard)
            ]
            if handler.has_sync_callable and handler.sync_to_thread:
                threaded.append(f"{route.path} handler {handler.handler_name}")
    assert threaded == []


def test_every_route_of_ours_gives_its_guards_the_handler_without_a_copy(
    app: EdgeMiddleware,
) -> None:
    """Declared with core/routes.py's decorators: Litestar's own `authorize_connection`
    copies the handler for every guard of every request."""
    ours = copying = 0
    for route in app.app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.fn.__module__.startswith("topsmile."):
                ours += 1
                copying += not isinstance(handler, GuardedInPlace)
    assert ours > 50
    assert copying == 0


async def test_me_reads_user_and_clinic_in_one_query_with_the_same_rows(
    clinic: SeededClinic,
) -> None:
    user_id = clinic.users["receptionist"]
    user, own_clinic = await service.me(Actor(clinic.id, user_id, "receptionist"))
    async with db.tenant_transaction(clinic.id):
        assert user == await users.user_by_id(user_id)
        assert own_clinic == await clinics.clinic_by_id(clinic.id)
    with pytest.raises(Unauthenticated):
        await service.me(Actor(clinic.id, uuid.uuid4(), "receptionist"))


async def _redis_calls(redis: Redis) -> Counter[str]:
    stats: dict[str, Any] = await redis.info("commandstats")
    # INFO is this test's own call; PING is the invalidation subscriber's health check,
    # which runs on its own schedule.
    skip = {"cmdstat_info", "cmdstat_ping"}
    return Counter({k: int(v["calls"]) for k, v in stats.items() if k not in skip})


async def _on_every_pooled_connection(action: Callable[[Any], None]) -> None:
    pool = db.DB.pool
    assert pool is not None
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        for connection in held:
            action(connection)
    finally:
        for connection in held:
            await pool.release(connection)


async def test_warm_me_makes_no_round_trip_but_one_redis_call_a_batch(
    app: EdgeMiddleware, staff: httpx.AsyncClient
) -> None:
    """`GET /api/auth/me` with this process's session cache warm: no database work, and
    Redis only once per batch of the per-user throttle's events (core/throttle.py)."""
    redis: Redis = app.app.state.redis
    batch = batch_size(app.app.state.runtime.settings.rate_api_per_user)
    assert batch > 1
    queries: list[str] = []

    def log(query: Any) -> None:
        queries.append(query.query)

    await _on_every_pooled_connection(lambda connection: connection.add_query_logger(log))
    try:
        # Warms the session cache and takes the first batch (spending one of it).
        assert (await staff.get("/api/auth/me")).status_code == 200
        queries.clear()
        before = await _redis_calls(redis)
        assert (await staff.get("/api/auth/me")).status_code == 200
        assert await _redis_calls(redis) == before  # no round trip at all
        for _ in range(3 * batch - 1):
            assert (await staff.get("/api/auth/me")).status_code == 200
        after = await _redis_calls(redis)
    finally:
        await _on_every_pooled_connection(lambda connection: connection.remove_query_logger(log))
    # 1 + 3 x batch calls: the first batch's batch - 1, then three more batches (the last one
    # just taken); Redis also counts the commands the script runs inside.
    script = {"cmdstat_incrby": 3, "cmdstat_pttl": 3}
    assert after - before == Counter({"cmdstat_evalsha": 3, **script})
    # The session and its `/me` answer are both remembered: no database work at all.
    assert queries == []
