"""Operators' view of the outbox: dead deliveries and retrying them."""

from __future__ import annotations

import uuid
from typing import Any

from topsmile.core import db


async def dead_deliveries(limit: int = 100) -> list[dict[str, Any]]:
    async with db.tenant_transaction(None):
        return await db.fetch(
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
        rows = await db.fetch(
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
    return len(rows)
