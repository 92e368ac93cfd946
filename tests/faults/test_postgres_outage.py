"""PostgreSQL stopped and restarted under load (issue 13): a real `topsmile serve` process on
stores of its own, 8 clients reading availability and booking before, during and after."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.faults.harness import (
    Load,
    assert_clean,
    between,
    booked_ids,
    create_clinic,
    health,
    ok,
    open_clinic,
    own_stores,
    store_env,
    undelivered,
)
from tests.support.serve import serving

RECOVERY_SECONDS = 5.0


async def test_postgres_stopped_and_restarted_under_load(tmp_path: Path) -> None:
    with own_stores() as (stores, urls):
        env = store_env(urls, tmp_path)
        clinic = create_clinic(env)
        async with serving(env, tmp_path / "serve.log") as base_url:
            await open_clinic(base_url, clinic)
            load = Load(base_url, clinic)
            await load.start()
            await asyncio.sleep(2)

            stopped = time.monotonic()
            await asyncio.to_thread(stores.postgres.stop_server)
            await asyncio.sleep(1)
            down = await health(base_url)
            await asyncio.sleep(1)
            restarting = time.monotonic()
            await asyncio.to_thread(stores.postgres.restart_server)
            back = time.monotonic()
            await asyncio.sleep(RECOVERY_SECONDS + 1)
            outcomes = await load.stop()
            # The relay came back too: every booking's confirmation goes out.
            created = {o.appointment_id for o in outcomes if o.status == 201}
            pending, _ = await undelivered(urls, clinic, created, 15)

        assert down.status_code == 503, down.text
        assert down.json()["checks"]["database"]["status"] == "down"
        assert down.json()["checks"]["redis"]["status"] == "ok"
        assert_clean(outcomes)
        before = between(outcomes, 0, stopped)
        during = between(outcomes, stopped + 0.5, restarting)
        after = [o for o in outcomes if o.started >= back]
        assert any(o.kind == "booking" and ok(o) for o in before)
        assert any(o.kind == "availability" and ok(o) for o in before)
        assert any(o.status == 503 for o in during), "the outage was never seen"
        failed_after = [o.ended - back for o in after if not ok(o)]
        recovery = max(failed_after, default=0.0)
        assert recovery <= RECOVERY_SECONDS, f"recovered {recovery:.1f} s after the restart"
        settled = [o for o in after if o.started >= back + recovery]
        assert any(o.kind == "booking" and ok(o) for o in settled)
        assert any(o.kind == "availability" and ok(o) for o in settled)
        print(f"postgres recovery: {recovery:.2f} s after restart ({len(outcomes)} requests)")

        assert created
        assert created <= await booked_ids(urls, clinic)
        assert pending == [], f"{len(pending)} confirmations never delivered"
