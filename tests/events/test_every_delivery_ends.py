"""Every delivery ends `delivered` or `dead`: a raising failure hook, a hanging handler, a
process that dies on the last attempt, a handler no process has any more."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from typing import Any

import msgspec
import pytest

from tests.events.conftest import FAST, reminder
from topsmile.core import db
from topsmile.events.bus import ALL_EVENTS, Bus
from topsmile.events.outbox import publish
from topsmile.events.relay import Relay
from topsmile.events.types import Event

pytestmark = pytest.mark.usefixtures("app")


async def _publish() -> Event:
    clinic = uuid.uuid4()
    event = reminder(clinic)
    async with db.tenant_transaction(clinic):
        await publish(event)
    return event


async def _delivery(event_id: uuid.UUID, handler: str) -> dict[str, Any]:
    async with db.tenant_transaction(None):
        [row] = await db.fetch(
            "SELECT status, attempts, last_error, claimed_until FROM event_delivery"
            " WHERE event_id = {} AND handler = {}",
            event_id,
            handler,
        )
    return row


async def _drain(relay: Relay) -> None:
    for _ in range(100):
        if await relay.run_once() == 0:
            return


async def _nothing(event: Event, attempt: int) -> None:
    return None


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_a_raising_failure_hook_still_ends_the_delivery_dead(
    private_bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    calls: Counter[str] = Counter()

    async def broken(event: Event, attempt: int) -> None:
        calls["handle"] += 1
        raise ConnectionError("provider down")

    async def broken_hook(event: Event, exc: BaseException, attempt: int, dead: bool) -> None:
        calls["hook"] += 1
        raise RuntimeError("the failure log is broken too")

    handler = _name("broken")
    private_bus.subscribe(handler, [ALL_EVENTS], broken, broken_hook)
    event = await _publish()
    caplog.set_level(logging.ERROR, logger="topsmile.relay")
    await _drain(Relay(private_bus, FAST))

    row = await _delivery(event.id, handler)
    assert (row["status"], row["attempts"]) == ("dead", FAST.max_attempts)
    assert "provider down" in row["last_error"]
    assert calls == Counter({"handle": FAST.max_attempts, "hook": FAST.max_attempts})
    assert [r.getMessage() for r in caplog.records].count(
        "delivery failure hook failed"
    ) == FAST.max_attempts


async def test_a_hanging_handler_times_out_within_its_lease_and_is_retried(
    private_bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    calls: Counter[uuid.UUID] = Counter()

    async def hangs_once(event: Event, attempt: int) -> None:
        calls[event.id] += 1
        if attempt == 1:
            await asyncio.sleep(3600)

    handler = _name("hangs")
    private_bus.subscribe(handler, [ALL_EVENTS], hangs_once)
    event = await _publish()
    config = msgspec.structs.replace(
        FAST, handler_timeout_seconds=0.2, send_timeout_seconds=0, lease_seconds=5
    )
    caplog.set_level(logging.WARNING, logger="topsmile.relay")
    await _drain(Relay(private_bus, config))

    row = await _delivery(event.id, handler)
    assert (row["status"], row["attempts"]) == ("delivered", 2)
    assert calls[event.id] == 2
    [failure] = [r for r in caplog.records if getattr(r, "handler", None) == handler]
    assert getattr(failure, "error", "").startswith("TimeoutError")


async def test_a_process_dying_on_the_last_attempt_leaves_the_delivery_dead(
    private_bus: Bus,
) -> None:
    async def never_reached(event: Event, attempt: int) -> None:
        raise AssertionError("a relay ran a delivery past its last attempt")

    handler = _name("doomed")
    private_bus.subscribe(handler, [ALL_EVENTS], never_reached)
    event = await _publish()
    relay = Relay(private_bus, msgspec.structs.replace(FAST, max_attempts=2))
    for _ in range(2):  # each claim's process dies: the lease simply runs out
        assert [c.event.id for c in await relay.claim(100) if c.handler == handler] == [event.id]
        async with db.tenant_transaction(None):
            await db.fetch(
                "UPDATE event_delivery SET claimed_until = clock_timestamp() - interval '1 s'"
                " WHERE event_id = {}",
                event.id,
            )
    assert [c for c in await relay.claim(100) if c.handler == handler] == []
    assert await relay.retire() >= 1

    row = await _delivery(event.id, handler)
    assert (row["status"], row["attempts"]) == ("dead", 2)
    assert row["last_error"] == "the lease of the last attempt ran out"


async def test_a_delivery_for_a_handler_no_process_has_ends_dead_after_a_day(
    private_bus: Bus,
) -> None:
    ghost = _name("ghost")
    private_bus.subscribe(ghost, [ALL_EVENTS], _nothing)
    old, recent = await _publish(), await _publish()
    async with db.tenant_transaction(None):
        await db.fetch(
            "UPDATE event_delivery SET next_attempt_at = now() - interval '25 hours'"
            " WHERE event_id = {}",
            old.id,
        )
    others = Bus()  # a process built without that handler (e.g. it was removed)
    others.subscribe(_name("other"), [ALL_EVENTS], _nothing)
    await Relay(others, FAST).retire()

    gone = await _delivery(old.id, ghost)
    assert (gone["status"], gone["last_error"]) == ("dead", "no handler of this name is installed")
    assert (await _delivery(recent.id, ghost))["status"] == "pending"  # a rolling deploy's
