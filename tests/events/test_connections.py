"""A relay holds at most `RelayConfig.connections` pooled connections. Every process that
relays adds that budget to its pool (app.py `lifespan`, cli.py `worker`), so deliveries in
flight never take the connections its requests need (docs/PERFORMANCE.md "Mixed load")."""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import pytest

from tests.api.auth_fixtures import seed_clinic
from tests.events.conftest import FAST, reminder
from topsmile.core import db
from topsmile.events.bus import Bus
from topsmile.events.outbox import publish
from topsmile.events.relay import Relay
from topsmile.events.types import Event
from topsmile.scheduling.events import APPOINTMENT_REMINDER_DUE

pytestmark = pytest.mark.usefixtures("app")

CONFIG = msgspec.structs.replace(FAST, concurrency=3)


def _busy() -> int:
    pool = db.DB.pool
    assert pool is not None
    return int(pool.get_size() - pool.get_idle_size())


async def test_a_relay_at_full_concurrency_holds_no_more_connections_than_its_budget(
    private_bus: Bus,
) -> None:
    inside = 0
    all_inside, release = asyncio.Event(), asyncio.Event()

    async def record() -> None:
        nonlocal inside
        inside += 1
        if inside == CONFIG.concurrency:
            all_inside.set()
        await release.wait()

    async def handle(event: Event, _attempt: int) -> None:
        # As the email and SMS handlers record a send: in a transaction of its own, inside
        # the delivery's (notifications/log.py).
        await db.in_own_transaction(event.clinic_id, record)

    private_bus.subscribe(f"hold-{uuid.uuid4().hex[:8]}", [APPOINTMENT_REMINDER_DUE.name], handle)
    clinic = await seed_clinic(("admin",))
    async with db.tenant_transaction(clinic.id):
        for _ in range(CONFIG.concurrency + 2):  # more due than the relay may run at once
            await publish(reminder(clinic.id))
    before = _busy()
    relay = Relay(private_bus, CONFIG)
    relay.start()
    try:
        await asyncio.wait_for(all_inside.wait(), 20)
        seen = []
        for _ in range(20):  # while the relay keeps sweeping with every slot taken
            seen.append(_busy() - before)
            await asyncio.sleep(0.02)
        assert max(seen) <= CONFIG.connections, seen
        # Each delivery really holds two: the budget is what the relay uses, not slack.
        assert min(seen) >= 2 * CONFIG.concurrency, seen
    finally:
        release.set()
        await relay.stop()
