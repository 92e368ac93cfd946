"""Publishing: the event and its deliveries are written in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

import msgspec

from topsmile.core import db
from topsmile.events import bus, catalogue
from topsmile.events.types import Event

_wakers: list[Callable[[], None]] = []


def on_publish(wake: Callable[[], None]) -> None:
    """Register a relay's wake-up, called after a publishing transaction commits."""
    _wakers.append(wake)


def forget(wake: Callable[[], None]) -> None:
    if wake in _wakers:
        _wakers.remove(wake)


def _wake_relays() -> None:
    for wake in list(_wakers):
        wake()


async def publish(event: Event) -> None:
    """Record `event` in the current transaction: nothing is delivered if it rolls back.

    An undeclared name or a payload that is not the declared type raises `InvalidEvent`
    here, before anything is written, so the caller's transaction rolls back with it.
    """
    await publish_all([event])


# Every event's row, and every (event, handler) delivery, in one statement each: a booking's
# three events (created and two reminders) cost two round trips, not six.
_OUTBOX = """
    INSERT INTO event_outbox (id, name, clinic_id, occurred_at, due_at, request_id,
        entity_type, entity_id, actor_id, actor_role, ip, payload)
    SELECT * FROM unnest({}::uuid[], {}::text[], {}::uuid[], {}::timestamptz[],
        {}::timestamptz[], {}::text[], {}::text[], {}::text[], {}::uuid[], {}::text[],
        {}::text[], {}::jsonb[])
"""
# An event for now is due by the database's clock, which the relay compares with (this
# process's clock may run ahead of it); a scheduled one at its time (a null `due` here).
_DELIVERIES = """
    INSERT INTO event_delivery (event_id, handler, next_attempt_at)
    SELECT event_id, handler, coalesce(due, now())
    FROM unnest({}::uuid[], {}::text[], {}::timestamptz[]) AS d (event_id, handler, due)
"""


async def publish_all(events: Sequence[Event]) -> None:
    """`publish` each of `events`, in this order, in two statements whatever their number:
    all are checked before anything is written."""
    deliveries: list[tuple[uuid.UUID, str, datetime | None]] = []
    for event in events:
        kind = catalogue.lookup(event.name)
        if event.entity_type != kind.entity_type:
            raise catalogue.InvalidEvent(
                f"{event.name} is about a {kind.entity_type}, not a {event.entity_type}"
            )
        kind.check(event.payload)
        due = event.due_at if event.due_at > event.occurred_at else None
        for handler in bus.installed().handlers_for(event.name):
            deliveries.append((event.id, handler, due))
    if not events:
        return
    columns = zip(
        *(
            (
                e.id,
                e.name,
                e.clinic_id,
                e.occurred_at,
                e.due_at,
                e.request_id,
                e.entity_type,
                e.entity_id,
                e.actor_id,
                e.actor_role,
                e.ip,
                msgspec.json.encode(e.payload).decode(),
            )
            for e in events
        ),
        strict=True,
    )
    await db.fetch(_OUTBOX, *map(list, columns))
    if deliveries:
        await db.fetch(_DELIVERIES, *map(list, zip(*deliveries, strict=True)))
    db.after_commit(_wake_relays)


async def cancel_scheduled(*, name: str, entity_type: str, entity_id: str | uuid.UUID) -> int:
    """Cancel pending deliveries of `name` events about one entity (e.g. old reminders).

    Runs in the caller's transaction, so row-level security limits it to the caller's clinic.
    """
    rows = await db.fetch(
        """
        UPDATE event_delivery d SET status = 'cancelled', updated_at = now()
        FROM event_outbox e
        WHERE d.event_id = e.id AND d.status = 'pending'
          AND e.name = {} AND e.entity_type = {} AND e.entity_id = {}
        RETURNING d.event_id
        """,
        name,
        entity_type,
        str(entity_id),
    )
    return len(rows)
