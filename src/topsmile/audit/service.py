"""The append-only audit log: one row per event, plus staff reads recorded by services."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from topsmile.core import db
from topsmile.core.context import current_request_id
from topsmile.events.bus import ALL_EVENTS, Bus
from topsmile.events.types import Event

# Payload keys that never go into the audit trail: links carry tokens, recipients carry
# contact details that the audit log does not need to repeat.
_NOT_AUDITED = frozenset({"link", "token", "recipient"})


async def record(
    *,
    clinic_id: uuid.UUID,
    action: str,
    entity_type: str,
    entity_id: str | uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    actor_role: str | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
    event_id: uuid.UUID | None = None,
    request_id: str | None = None,
    at: datetime | None = None,
) -> None:
    """Append one audit row in the current transaction (e.g. `patient.viewed`)."""
    await db.fetch(
        """
        INSERT INTO audit_log (at, clinic_id, actor_id, actor_role, action, entity_type,
                               entity_id, request_id, ip, details, event_id)
        VALUES (coalesce({}, now()), {}, {}, {}, {}, {}, {}, {}, {}, {}::jsonb, {})
        ON CONFLICT (event_id) DO NOTHING
        """,
        at,
        clinic_id,
        actor_id,
        actor_role,
        action,
        entity_type,
        str(entity_id) if entity_id is not None else None,
        request_id if request_id is not None else current_request_id(),
        ip,
        msgspec.json.encode(details or {}).decode(),
        event_id,
    )


async def audit_event(event: Event, attempt: int) -> None:
    """The audit handler: every event of a clinic becomes one row (its action is the name)."""
    if event.clinic_id is None:
        return
    await record(
        clinic_id=event.clinic_id,
        action=event.name,
        entity_type=event.entity_type,
        entity_id=event.entity_id,
        actor_id=event.actor_id,
        actor_role=event.actor_role,
        ip=event.ip,
        details={k: v for k, v in event.payload.items() if k not in _NOT_AUDITED},
        event_id=event.id,
        request_id=event.request_id,
        at=event.occurred_at,
    )


def subscribe(bus: Bus) -> None:
    """Audit hears every event."""
    bus.subscribe("audit", [ALL_EVENTS], audit_event)
