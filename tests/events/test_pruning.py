"""Delivered outbox rows are pruned after TOPSMILE_OUTBOX_RETENTION_DAYS; dead and pending
ones stay, and so do the audit and notifications logs (SPEC §7)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import msgspec
import pytest

from tests.events.conftest import FAST, reminder
from topsmile.audit.service import record
from topsmile.config import ConfigError, load_settings
from topsmile.core import clock, db
from topsmile.events.bus import ALL_EVENTS, Bus
from topsmile.events.outbox import publish
from topsmile.events.relay import Relay, relay_config
from topsmile.events.types import Event
from topsmile.notifications import log

pytestmark = pytest.mark.usefixtures("app")


async def _nothing(event: Event, attempt: int) -> None:
    return None


class Outbox:
    """Events of one clinic for two handlers, whose delivery states a test sets directly."""

    def __init__(self, bus: Bus) -> None:
        self.clinic = uuid.uuid4()
        suffix = uuid.uuid4().hex[:8]
        self.first, self.second = f"first-{suffix}", f"second-{suffix}"
        bus.subscribe(self.first, [ALL_EVENTS], _nothing)
        bus.subscribe(self.second, [ALL_EVENTS], _nothing)

    async def event(
        self, *, days_ago: float, first: str, second: str, ended_days_ago: float
    ) -> Event:
        occurred = clock.now() - timedelta(days=days_ago)
        event = msgspec.structs.replace(
            reminder(self.clinic), occurred_at=occurred, due_at=occurred
        )
        async with db.tenant_transaction(self.clinic):
            await publish(event)
            for handler, status in ((self.first, first), (self.second, second)):
                await db.fetch(
                    """
                    UPDATE event_delivery
                    SET status = {}, updated_at = now() - make_interval(days => {}),
                        delivered_at = CASE WHEN {} = 'delivered' THEN now() END
                    WHERE event_id = {} AND handler = {}
                    """,
                    status,
                    ended_days_ago,
                    status,
                    event.id,
                    handler,
                )
        return event

    async def kept(self) -> set[uuid.UUID]:
        async with db.tenant_transaction(self.clinic):
            rows = await db.fetch("SELECT id FROM event_outbox")
        return {row["id"] for row in rows}


async def _prune_all(relays: list[Relay]) -> None:
    while sum(await asyncio.gather(*(relay.prune() for relay in relays))):
        pass


async def test_old_delivered_rows_are_pruned_and_everything_else_is_kept(private_bus: Bus) -> None:
    outbox = Outbox(private_bus)
    delivered = await outbox.event(
        days_ago=31, first="delivered", second="delivered", ended_days_ago=31
    )
    cancelled = await outbox.event(
        days_ago=31, first="delivered", second="cancelled", ended_days_ago=31
    )
    recent = await outbox.event(days_ago=1, first="delivered", second="delivered", ended_days_ago=1)
    # A reminder scheduled long ago went out yesterday: its retention runs from then.
    late = await outbox.event(days_ago=40, first="delivered", second="delivered", ended_days_ago=1)
    dead = await outbox.event(days_ago=31, first="delivered", second="dead", ended_days_ago=31)
    pending = await outbox.event(
        days_ago=31, first="delivered", second="pending", ended_days_ago=31
    )
    async with db.tenant_transaction(outbox.clinic):
        await record(
            clinic_id=outbox.clinic,
            action=delivered.name,
            entity_type="appointment",
            event_id=delivered.id,
        )
        await log.write(
            delivered,
            channel="email",
            template="appointment_reminder",
            recipient="ana@example.com",
            status="sent",
            attempts=1,
        )

    # Several processes prune at once without errors (they take turns).
    await _prune_all([Relay(private_bus, FAST) for _ in range(3)])

    assert await outbox.kept() == {recent.id, late.id, dead.id, pending.id}
    async with db.tenant_transaction(outbox.clinic):
        deliveries = await db.fetch(
            "SELECT event_id FROM event_delivery WHERE event_id = ANY({}::uuid[])",
            [delivered.id, cancelled.id],
        )
        audit = await db.fetch("SELECT action FROM audit_log WHERE event_id = {}", delivered.id)
        notes = await db.fetch("SELECT status FROM notification WHERE event_id = {}", delivered.id)
    assert deliveries == []  # they went with their events
    assert [row["action"] for row in audit] == [delivered.name]
    assert [row["status"] for row in notes] == ["sent"]


async def test_retention_comes_from_settings_and_pruning_runs_at_most_every_interval(
    private_bus: Bus,
) -> None:
    outbox = Outbox(private_bus)
    settings = load_settings(environ={"TOPSMILE_OUTBOX_RETENTION_DAYS": "7"}, dotenv=None)
    config = msgspec.structs.replace(
        relay_config(settings), handler_timeout_seconds=1, send_timeout_seconds=0, lease_seconds=2
    )
    assert config.retention_days == 7
    week_old = await outbox.event(
        days_ago=8, first="delivered", second="delivered", ended_days_ago=8
    )
    relay = Relay(private_bus, config)
    await relay.housekeep()
    assert week_old.id not in await outbox.kept()

    later = await outbox.event(days_ago=8, first="delivered", second="delivered", ended_days_ago=8)
    await relay.housekeep()  # within housekeeping_seconds of the last: does nothing
    assert later.id in await outbox.kept()


def test_retention_defaults_to_30_days_and_refuses_nonsense() -> None:
    assert load_settings(environ={}, dotenv=None).outbox_retention_days == 30
    for value in ("0", "-3", "thirty"):
        with pytest.raises(ConfigError, match="TOPSMILE_OUTBOX_RETENTION_DAYS"):
            load_settings(environ={"TOPSMILE_OUTBOX_RETENTION_DAYS": value}, dotenv=None)
