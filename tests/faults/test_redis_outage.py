"""Redis stopped under load (issue 13): a real `topsmile serve` process on stores of its own,
8 clients reading availability and booking before, during and after. Redis comes back
EMPTY (its append-only file deleted while it was down), as one without persistence does."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.api.auth_fixtures import csrf
from tests.faults.harness import (
    CLIENT_TIMEOUT,
    Load,
    assert_clean,
    between,
    booked_ids,
    create_clinic,
    health,
    ok,
    open_clinic,
    own_stores,
    sign_in,
    store_env,
)
from tests.support.serve import serving

RECOVERY_SECONDS = 5.0


async def _me_with(base_url: str, access_token: str) -> int:
    async with httpx.AsyncClient(base_url=base_url, timeout=CLIENT_TIMEOUT) as replay:
        replay.cookies.set("access_token", access_token)
        return (await replay.get("/api/auth/me")).status_code


async def test_redis_stopped_under_load(tmp_path: Path) -> None:
    with own_stores() as (stores, urls):
        env = store_env(urls, tmp_path)
        clinic = create_clinic(env)
        async with serving(env, tmp_path / "serve.log") as base_url:
            await open_clinic(base_url, clinic)
            async with httpx.AsyncClient(base_url=base_url, timeout=CLIENT_TIMEOUT) as leaver:
                await sign_in(leaver, clinic)
                revoked = leaver.cookies["access_token"]
                assert (
                    await leaver.post("/api/auth/logout", headers=csrf(leaver))
                ).status_code == 204
            assert await _me_with(base_url, revoked) == 401

            load = Load(base_url, clinic)
            await load.start()
            await asyncio.sleep(2)

            stopped = time.monotonic()
            await asyncio.to_thread(stores.redis.stop)
            stores.redis.forget_data()
            await asyncio.sleep(1)
            down = await health(base_url)
            revoked_during = await _me_with(base_url, revoked)
            await asyncio.sleep(1)
            restarting = time.monotonic()
            await asyncio.to_thread(stores.redis.start)
            back = time.monotonic()
            while (healthy := await health(base_url)).status_code != 200:
                assert time.monotonic() - back < RECOVERY_SECONDS, healthy.text
                await asyncio.sleep(0.1)
            recovery = time.monotonic() - back
            revoked_after = await _me_with(base_url, revoked)
            await asyncio.sleep(2)
            outcomes = await load.stop()

        assert down.status_code == 503, down.text
        assert down.json()["checks"]["redis"]["status"] == "down"
        assert down.json()["checks"]["database"]["status"] == "ok"
        assert (revoked_during, revoked_after) == (401, 401)
        # Redis is a cache and a counter here, never the record: nothing waits for it.
        assert_clean(outcomes)
        assert all(ok(o) for o in outcomes), [o for o in outcomes if not ok(o)][:3]
        for start, end in ((0, stopped), (stopped + 0.5, restarting), (back, time.monotonic())):
            window = between(outcomes, start, end)
            assert any(o.kind == "booking" for o in window)
            assert any(o.kind == "availability" for o in window)
        print(f"redis: healthy {recovery:.2f} s after restart ({len(outcomes)} requests)")

        created = {o.appointment_id for o in outcomes if o.status == 201}
        assert created <= await booked_ids(urls, clinic)
