"""The `audit_log` table as the code reads it (core/rows.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from topsmile.core.rows import Row


class AuditRow(Row, frozen=True):
    __table__ = "audit_log"

    id: uuid.UUID
    clinic_id: uuid.UUID
    at: datetime
    actor_id: uuid.UUID | None
    actor_role: str | None
    action: str
    entity_type: str
    entity_id: str | None
    request_id: str
    ip: str | None
    details: str  # jsonb arrives as JSON text
    event_id: uuid.UUID | None
