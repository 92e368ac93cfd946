"""The outbox tables as the code reads them (core/rows.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from topsmile.core.rows import Row


class OutboxColumns(Row, frozen=True):
    """An event's columns in the outbox. `OutboxRow` is the table's whole row; the relay's
    claim (events/relay.py) is these plus the claimed delivery's handler and attempt."""

    id: uuid.UUID
    name: str
    clinic_id: uuid.UUID | None
    occurred_at: datetime
    due_at: datetime
    request_id: str
    entity_type: str
    entity_id: str | None
    actor_id: uuid.UUID | None
    actor_role: str | None
    ip: str | None
    payload: str  # jsonb arrives as JSON text


class OutboxRow(OutboxColumns, frozen=True):
    __table__ = "event_outbox"


class DeliveryRow(Row, frozen=True):
    __table__ = "event_delivery"

    event_id: uuid.UUID
    handler: str
    status: str
    attempts: int
    next_attempt_at: datetime
    claim_token: uuid.UUID | None
    claimed_until: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    updated_at: datetime
