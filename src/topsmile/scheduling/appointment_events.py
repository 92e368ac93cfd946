"""What an appointment change tells the outside: its `appointment.*` events, with the
`AppointmentNotice` snapshot notifications render, and its scheduled reminders. Published
in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta

from topsmile.clinics.tables import ClinicRow
from topsmile.core import clock
from topsmile.core.actor import Actor
from topsmile.events.catalogue import EventType
from topsmile.events.outbox import cancel_scheduled, publish_all
from topsmile.events.types import AppointmentNotice, new_event
from topsmile.patients.notices import recipient_of
from topsmile.patients.tables import PatientRow
from topsmile.scheduling import events
from topsmile.scheduling.tables import AppointmentRow, ProviderRow, ServiceRow


def notice(
    clinic: ClinicRow,
    service: ServiceRow,
    provider: ProviderRow,
    patient: PatientRow,
    row: AppointmentRow,
    **extra: object,
) -> AppointmentNotice:
    recipient = recipient_of(patient)
    return AppointmentNotice(
        appointment_id=row.id,
        recipient=recipient,
        clinic_name=clinic.name,
        timezone=clinic.timezone,
        service_name=service.name,
        provider_name=f"{provider.first_name} {provider.last_name}",
        start=row.starts_at,
        end=row.ends_at,
        **extra,  # type: ignore[arg-type]
    )


async def announce(
    actor: Actor,
    kind: EventType[AppointmentNotice],
    notice: AppointmentNotice,
    *,
    reminders: Iterable[int] = (),
) -> None:
    """Publish the change and, with `reminders` (the clinic's offsets in minutes), one
    `appointment.reminder_due` per offset, due at start - offset (none past): one publish."""
    now = clock.now()
    changed = new_event(kind, notice, actor=actor, entity_id=notice.appointment_id)
    due = [
        new_event(
            events.APPOINTMENT_REMINDER_DUE,
            notice,
            actor=actor,
            entity_id=notice.appointment_id,
            due_at=at,
        )
        for at in (notice.start - timedelta(minutes=offset) for offset in reminders)
        if at > now
    ]
    await publish_all([changed, *due])


async def cancel_reminders(appointment_id: uuid.UUID) -> None:
    """Void the reminders still pending (the appointment moved or was cancelled)."""
    await cancel_scheduled(
        name=events.APPOINTMENT_REMINDER_DUE.name,
        entity_type="appointment",
        entity_id=appointment_id,
    )
