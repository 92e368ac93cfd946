"""The `notification` log as the code reads it (core/rows.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from topsmile.core.rows import Row
from topsmile.notifications.log import Channel, Status


class NotificationRow(Row, frozen=True):
    __table__ = "notification"

    id: uuid.UUID
    clinic_id: uuid.UUID
    event_id: uuid.UUID
    request_id: str
    appointment_id: uuid.UUID | None
    patient_id: uuid.UUID | None
    channel: Channel
    template: str
    recipient: str
    status: Status
    attempts: int
    sent_at: datetime | None
    error: str | None
    provider_message_id: str | None
    created_at: datetime
    updated_at: datetime
