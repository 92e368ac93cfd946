"""Operators' view of the outbox: dead deliveries and retrying them."""

from __future__ import annotations

import uuid
from datetime import datetime

from topsmile.core import db, rows
from topsmile.core.rows import Row


class DeadDelivery(Row, frozen=True):
    """A delivery that ran out of attempts, with its event's name and clinic."""

    event_id: uuid.UUID
    handler: str
    name: str
    clinic_id: uuid.UUID | None
    attempts: int
    last_error: str | None
    updated_at: datetime


async def dead_deliveries(limit: int = 100) -> list[DeadDelivery]:
    async with db.tenant_transaction(None):
        return await rows.fetch_all(
            DeadDelivery,
            """
            SELECT d.event_id, d.handler, e.name, e.clinic_id, d.attempts, d.last_error,
                   d.updated_at
            FROM event_delivery d JOIN event_outbox e ON e.id = d.event_id
            WHERE d.status = 'dead'
            ORDER BY d.updated_at DESC
            LIMIT {}
            """,
            limit,
        )


async def retry(event_id: uuid.UUID, handler: str | None = None) -> int:
    """Give dead deliveries of one event a fresh set of attempts, due now."""
    async with db.tenant_transaction(None):
        retried = await db.fetch(
            """
            UPDATE event_delivery
            SET status = 'pending', attempts = 0, next_attempt_at = now(),
                claimed_until = NULL, updated_at = now()
            WHERE event_id = {} AND status = 'dead' AND ({}::text IS NULL OR handler = {})
            RETURNING handler
            """,
            event_id,
            handler,
            handler,
        )
    return len(retried)
