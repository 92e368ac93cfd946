"""The outbox and relay in one process: commit/rollback, retries, dead, scheduling, leases."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import asyncpg
import msgspec
import pytest

from tests.events.conftest import FAST, reminder
from topsmile.audit.service import audit_event
from topsmile.core import clock, db
from topsmile.events.bus import ALL_EVENTS, Bus
from topsmile.events.catalogue import InvalidEvent
from topsmile.events.outbox import cancel_scheduled, publish, publish_all
from topsmile.events.relay import Relay, RelayConfig, backoff
from topsmile.events.types import Event

pytestmark = pytest.mark.usefixtures("app")


class Recorder:
    def __init__(self, fail_times: int = 0) -> None:
        self.calls: Counter[uuid.UUID] = Counter()
        self.fail_times = fail_times

    async def __call__(self, event: Event, attempt: int) -> None:
        self.calls[event.id] += 1
        if self.calls[event.id] <= self.fail_times:
            raise ConnectionError(f"provider down (try {attempt})")


async def _delivery(event_id: uuid.UUID) -> dict[str, dict[str, object]]:
    async with db.tenant_transaction(None):
        rows = await db.fetch(
            "SELECT handler, status, attempts, last_error FROM event_delivery WHERE event_id = {}",
            event_id,
        )
    return {row["handler"]: row for row in rows}


async def _publish_reminder(**kwargs: Any) -> Event:
    """A reminder of a fresh clinic, published in a committed transaction."""
    clinic = uuid.uuid4()
    event = reminder(clinic, **kwargs)
    async with db.tenant_transaction(clinic):
        await publish(event)
    return event


async def _drain(relay: Relay, rounds: int = 100) -> None:
    for _ in range(rounds):
        if await relay.run_once() == 0:
            return


async def _wait_until_due(event: Event) -> None:
    """Sleep until the database's clock reaches `event.due_at`."""
    async with db.tenant_transaction(None):
        [row] = await db.fetch("SELECT {}::timestamptz - now() AS left", event.due_at)
    await asyncio.sleep(max(0.0, row["left"].total_seconds()) + 0.05)


async def test_committed_event_reaches_every_subscribed_handler(private_bus: Bus) -> None:
    first, second = Recorder(), Recorder()
    audit = f"audit-{uuid.uuid4().hex[:8]}"  # not the app's "audit": its backlog is not ours
    private_bus.subscribe(audit, [ALL_EVENTS], audit_event)
    private_bus.subscribe("first", ["appointment.reminder_due"], first)
    private_bus.subscribe("second", ["appointment.created"], second)
    event = await _publish_reminder()
    clinic = event.clinic_id
    await _drain(Relay(private_bus, FAST))

    assert first.calls[event.id] == 1
    assert second.calls == Counter()
    deliveries = await _delivery(event.id)
    assert set(deliveries) == {audit, "first"}
    assert all(d["status"] == "delivered" for d in deliveries.values())
    async with db.tenant_transaction(clinic):
        audit = await db.fetch("SELECT * FROM audit_log WHERE event_id = {}", event.id)
    assert len(audit) == 1
    assert audit[0]["action"] == "appointment.reminder_due"
    assert audit[0]["entity_type"] == "appointment"
    assert "recipient" not in audit[0]["details"]


async def test_rolled_back_event_reaches_nothing(private_bus: Bus) -> None:
    recorder = Recorder()
    private_bus.subscribe("rec", [ALL_EVENTS], recorder)
    clinic = uuid.uuid4()
    event = reminder(clinic)

    async def book_then_fail() -> None:
        async with db.tenant_transaction(clinic):
            await publish(event)
            raise RuntimeError("booking failed")

    with pytest.raises(RuntimeError, match="booking failed"):
        await book_then_fail()
    await _drain(Relay(private_bus, FAST))
    assert recorder.calls == Counter()
    async with db.tenant_transaction(None):
        assert await db.fetch("SELECT id FROM event_outbox WHERE id = {}", event.id) == []


async def test_flaky_handler_is_retried_and_delivered_once(private_bus: Bus) -> None:
    flaky, steady = Recorder(fail_times=2), Recorder()
    private_bus.subscribe("flaky", [ALL_EVENTS], flaky)
    private_bus.subscribe("steady", [ALL_EVENTS], steady)
    event = await _publish_reminder()
    await _drain(Relay(private_bus, FAST))

    assert flaky.calls[event.id] == 3
    assert steady.calls[event.id] == 1
    deliveries = await _delivery(event.id)
    assert deliveries["flaky"]["status"] == "delivered"
    assert deliveries["flaky"]["attempts"] == 3
    assert deliveries["steady"]["attempts"] == 1


async def test_failing_handler_ends_dead_and_others_deliver(private_bus: Bus) -> None:
    broken, steady = Recorder(fail_times=1000), Recorder()
    private_bus.subscribe("broken", [ALL_EVENTS], broken)
    private_bus.subscribe("steady", [ALL_EVENTS], steady)
    event = await _publish_reminder()
    await _drain(Relay(private_bus, FAST))

    assert broken.calls[event.id] == FAST.max_attempts
    assert steady.calls[event.id] == 1
    deliveries = await _delivery(event.id)
    assert deliveries["broken"]["status"] == "dead"
    assert "provider down" in str(deliveries["broken"]["last_error"])
    assert deliveries["steady"]["status"] == "delivered"


async def test_scheduled_event_waits_until_due_by_the_database_clock(
    private_bus: Bus, frozen_clock: None
) -> None:
    recorder = Recorder()
    private_bus.subscribe("rec", [ALL_EVENTS], recorder)
    event = await _publish_reminder(due_at=clock.now() + timedelta(seconds=1.5))
    relay = Relay(private_bus, FAST)
    await _drain(relay)
    clock.travel(timedelta(days=1))  # the app's clock says it is due; the database's does not
    await _drain(relay)
    assert recorder.calls[event.id] == 0
    await _wait_until_due(event)
    await _drain(relay)
    assert recorder.calls[event.id] == 1


async def test_event_published_while_the_app_clock_runs_ahead_is_due_at_once(
    private_bus: Bus, frozen_clock: None
) -> None:
    recorder = Recorder()
    private_bus.subscribe("rec", [ALL_EVENTS], recorder)
    clock.travel(timedelta(hours=3))
    event = await _publish_reminder()
    await _drain(Relay(private_bus, FAST))
    assert recorder.calls[event.id] == 1


async def test_publish_all_writes_every_event_and_its_own_deliveries(private_bus: Bus) -> None:
    """Several events in one publish: each row as `publish` writes it, each event with the
    deliveries of its own subscribers, a scheduled one due at its time, one for now at the
    database's now."""
    private_bus.subscribe("reminders", ["appointment.reminder_due"], Recorder())
    private_bus.subscribe("everything", [ALL_EVENTS], Recorder())
    private_bus.subscribe("nobody", ["appointment.created"], Recorder())
    clinic = uuid.uuid4()
    later = clock.now() + timedelta(days=3)
    now, scheduled = reminder(clinic), reminder(clinic, due_at=later)
    async with db.tenant_transaction(clinic):
        await publish_all([now, scheduled])
        [row] = await db.fetch("SELECT now() AS at")
    async with db.tenant_transaction(None):
        stored = await db.fetch(
            "SELECT id, name, clinic_id, due_at, entity_id, payload FROM event_outbox"
            " WHERE id = ANY({}::uuid[])",
            [now.id, scheduled.id],
        )
        due = await db.fetch(
            "SELECT event_id, handler, next_attempt_at FROM event_delivery"
            " WHERE event_id = ANY({}::uuid[])",
            [now.id, scheduled.id],
        )
    assert {r["id"]: (r["clinic_id"], r["due_at"], r["entity_id"]) for r in stored} == {
        e.id: (clinic, e.due_at, e.entity_id) for e in (now, scheduled)
    }
    as_json = {e.id: msgspec.json.decode(msgspec.json.encode(e.payload)) for e in (now, scheduled)}
    assert {r["id"]: msgspec.json.decode(r["payload"]) for r in stored} == as_json
    assert {(d["event_id"], d["handler"]): d["next_attempt_at"] for d in due} == {
        (now.id, "reminders"): row["at"],
        (now.id, "everything"): row["at"],
        (scheduled.id, "reminders"): later,
        (scheduled.id, "everything"): later,
    }


async def test_publish_all_checks_every_event_before_writing_any(private_bus: Bus) -> None:
    private_bus.subscribe("rec", [ALL_EVENTS], Recorder())
    clinic = uuid.uuid4()
    fine = reminder(clinic)
    wrong = msgspec.structs.replace(reminder(clinic), entity_type="provider")
    async with db.tenant_transaction(clinic):
        with pytest.raises(InvalidEvent, match="not a provider"):
            await publish_all([fine, wrong])
        assert await db.fetch("SELECT id FROM event_outbox WHERE id = {}", fine.id) == []


async def test_cancelled_schedule_never_goes_out(private_bus: Bus) -> None:
    recorder = Recorder()
    private_bus.subscribe("rec", [ALL_EVENTS], recorder)
    clinic = uuid.uuid4()
    event = reminder(clinic, due_at=clock.now() + timedelta(seconds=1))
    async with db.tenant_transaction(clinic):
        await publish(event)
    other_clinic = uuid.uuid4()
    async with db.tenant_transaction(other_clinic):  # RLS: another clinic cancels nothing
        assert (
            await cancel_scheduled(
                name=event.name, entity_type="appointment", entity_id=str(event.entity_id)
            )
            == 0
        )
    async with db.tenant_transaction(clinic):
        assert (
            await cancel_scheduled(
                name=event.name, entity_type="appointment", entity_id=str(event.entity_id)
            )
            == 1
        )
    await _wait_until_due(event)
    await _drain(Relay(private_bus, FAST))
    assert recorder.calls[event.id] == 0
    assert (await _delivery(event.id))["rec"]["status"] == "cancelled"


async def test_commit_wakes_a_running_relay_at_once(private_bus: Bus) -> None:
    recorder = Recorder()
    private_bus.subscribe("rec", [ALL_EVENTS], recorder)
    relay = Relay(private_bus, RelayConfig(sweep_seconds=60))
    relay.start()
    try:
        await asyncio.sleep(0.2)  # let its first sweep find nothing and go to sleep
        clinic = uuid.uuid4()
        event = reminder(clinic)
        async with db.tenant_transaction(clinic):
            await publish(event)
        started = time.monotonic()
        while recorder.calls[event.id] == 0:
            assert time.monotonic() - started < 5, "the relay was not woken by the commit"
            await asyncio.sleep(0.01)
    finally:
        await relay.stop()


async def _expire_leases(event_id: uuid.UUID) -> None:
    """What the database's clock does to a lease once `lease_seconds` have gone by."""
    async with db.tenant_transaction(None):
        await db.fetch(
            "UPDATE event_delivery SET claimed_until = clock_timestamp() - interval '1 second'"
            " WHERE event_id = {}",
            event_id,
        )


async def test_expired_lease_is_taken_over_and_late_finisher_cannot_mark_it(
    private_bus: Bus,
) -> None:
    recorder = Recorder()
    private_bus.subscribe("rec", [ALL_EVENTS], recorder)
    event = await _publish_reminder()
    slow = Relay(
        private_bus,
        RelayConfig(lease_seconds=10, handler_timeout_seconds=5, send_timeout_seconds=0),
    )
    claims = [c for c in await slow.claim(100) if c.event.id == event.id]
    assert len(claims) == 1
    await _expire_leases(event.id)  # the slow process's lease runs out
    fast = Relay(private_bus, FAST)
    await _drain(fast)
    assert recorder.calls[event.id] == 1
    assert await slow.deliver(claims[0]) is False  # its handler ran, but it may not commit
    assert (await _delivery(event.id))["rec"]["attempts"] == 2


async def test_lease_runs_on_the_database_clock_not_the_app_clock(
    private_bus: Bus, frozen_clock: None
) -> None:
    recorder = Recorder()
    private_bus.subscribe("rec", [ALL_EVENTS], recorder)
    event = await _publish_reminder()
    slow = Relay(
        private_bus,
        RelayConfig(lease_seconds=10, handler_timeout_seconds=5, send_timeout_seconds=0),
    )
    claims = [c for c in await slow.claim(100) if c.event.id == event.id]
    assert len(claims) == 1
    clock.travel(timedelta(hours=1))  # an app clock far ahead does not end the lease
    await _drain(Relay(private_bus, FAST))
    assert recorder.calls[event.id] == 0
    assert await slow.deliver(claims[0]) is True
    assert recorder.calls[event.id] == 1


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    config = RelayConfig(base_delay_seconds=2, max_delay_seconds=60)
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (10, 60)]:
        delays = {backoff(attempt, config) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1


async def test_audit_log_is_append_only_for_the_application(settings: object) -> None:
    clinic = uuid.uuid4()
    from topsmile.audit.service import record

    async with db.tenant_transaction(clinic):
        await record(clinic_id=clinic, action="patient.viewed", entity_type="patient")
    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(asyncpg.PostgresError):
            async with db.tenant_transaction(clinic):
                await db.fetch(statement)
    async with db.tenant_transaction(clinic):
        rows = await db.fetch("SELECT action FROM audit_log")
    assert [r["action"] for r in rows] == ["patient.viewed"]


async def test_audit_rows_are_invisible_to_other_clinics() -> None:
    from topsmile.audit.service import record

    mine, theirs = uuid.uuid4(), uuid.uuid4()
    async with db.tenant_transaction(mine):
        await record(clinic_id=mine, action="patient.viewed", entity_type="patient")
    async with db.tenant_transaction(theirs):
        assert await db.fetch("SELECT id FROM audit_log") == []
        with pytest.raises(asyncpg.PostgresError):  # nor may it write into mine
            await record(clinic_id=mine, action="patient.viewed", entity_type="patient")
