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
    """Record the latest state of one event's message on one channel (upsert).

    `sent` is final: no later write changes it, and it is committed at once, outside the
    delivery's transaction, so that a relay that loses its lease after the provider took the
    message still leaves the record that stops the next relay from sending it again.
    """
    clinic_id = event.clinic_id
    if clinic_id is None:
        return

    async def upsert() -> None:
        await _upsert(
            event,
            clinic_id,
            channel=channel,
            template=template,
            recipient=recipient,
            status=status,
            attempts=attempts,
            appointment_id=appointment_id,
            patient_id=patient_id,
            error=error,
            provider_message_id=provider_message_id,
        )

    if status == "sent":
        await db.in_own_transaction(clinic_id, upsert)
    else:
        await upsert()


async def already_sent(event: Event, channel: Channel) -> bool:
    """Whether this event's message on `channel` has already reached the provider."""
    rows = await db.fetch(
        "SELECT 1 FROM notification WHERE event_id = {} AND channel = {} AND status = 'sent'",
        event.id,
        channel,
    )
    return bool(rows)


async def _upsert(
    event: Event,
    clinic_id: uuid.UUID,
    *,
    channel: Channel,
    template: str,
    recipient: str,
    status: Status,
    attempts: int,
    appointment_id: uuid.UUID | None,
    patient_id: uuid.UUID | None,
    error: str | None,
    provider_message_id: str | None,
) -> None:
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
        WHERE notification.status <> 'sent'
        """,
        clinic_id,
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
