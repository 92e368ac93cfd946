"""The notifications log: what was sent to whom, written by the email and SMS handlers."""

from __future__ import annotations

import uuid
from typing import Literal

from topsmile.core import db
from topsmile.events.types import Event

Channel = Literal["email", "sms"]
Status = Literal["queued", "sent", "failed", "dead", "skipped"]


async def write(
    event: Event,
    *,
    channel: Channel,
    template: str,
    recipient: str,
    status: Status,
    attempts: int,
    appointment_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    error: str | None = None,
    provider_message_id: str | None = None,
) -> None:
    """Record the latest state of one event's message on one channel (upsert)."""
    if event.clinic_id is None:
        return
    await db.fetch(
        """
        INSERT INTO notification (clinic_id, event_id, request_id, appointment_id, patient_id,
            channel, template, recipient, status, attempts, sent_at, error, provider_message_id)
        VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {},
                CASE WHEN {} = 'sent' THEN now() END, {}, {})
        ON CONFLICT (event_id, channel) DO UPDATE SET
            status = EXCLUDED.status, attempts = EXCLUDED.attempts, sent_at = EXCLUDED.sent_at,
            error = EXCLUDED.error, provider_message_id = EXCLUDED.provider_message_id,
            updated_at = now()
        """,
        event.clinic_id,
        event.id,
        event.request_id,
        appointment_id,
        patient_id,
        channel,
        template,
        recipient,
        status,
        attempts,
        status,
        error,
        provider_message_id,
    )
