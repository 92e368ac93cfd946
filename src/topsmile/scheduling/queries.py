"""Reads of appointments (SPEC §6): the listing, one appointment, its history. Patients see
only their own; another clinic's or another patient's ids are 404."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from topsmile.clinics.queries import clinic_by_id
from topsmile.core import db, rows
from topsmile.core.actor import Actor
from topsmile.core.errors import NotFound, ValidationError
from topsmile.core.ranges import offset_of, parse_range
from topsmile.patients import queries as patients
from topsmile.scheduling.schemas import MAX_OCCUPIED, STATUSES
from topsmile.scheduling.tables import AppointmentHistoryRow, AppointmentRow


@dataclass(frozen=True, slots=True)
class AppointmentFilter:
    from_: str | None = None
    to: str | None = None
    provider_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    status: str | None = None  # "a,b"
    page: int = 1
    page_size: int = 20


def _statuses(value: str | None) -> list[str] | None:
    if value is None or not value.strip():
        return None
    wanted = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [s for s in wanted if s not in STATUSES]
    if unknown:
        raise ValidationError.on("status", f"Unknown status; use {', '.join(STATUSES)}.")
    return wanted


_WHERE = (
    " WHERE ({}::timestamptz IS NULL OR starts_at >= {})"
    " AND ({}::timestamptz IS NULL OR starts_at < {})"
    " AND ({}::uuid IS NULL OR provider_id = {})"
    " AND ({}::uuid IS NULL OR patient_id = {})"
    " AND ({}::text[] IS NULL OR status = ANY({}::text[]))"
)


async def list_appointments(
    actor: Actor, query: AppointmentFilter
) -> tuple[list[AppointmentRow], int]:
    """One page of appointments starting in the range, by start, and the total."""
    statuses = _statuses(query.status)
    async with db.tenant_transaction(actor.clinic_id):
        clinic = await clinic_by_id(actor.clinic_id)
        start, end = parse_range(query.from_, query.to, clinic.timezone)
        patient_id = query.patient_id
        if not actor.is_staff:
            own = await patients.patient_of_user(actor.user_id)
            if own is None or patient_id not in (None, own.id):
                return [], 0
            patient_id = own.id
        args: tuple[object, ...] = (start, start, end, end, query.provider_id, query.provider_id)
        args += (patient_id, patient_id, statuses, statuses)
        # _WHERE is a constant of this module; every value is a parameter.
        total = await rows.count("SELECT count(*) AS n FROM appointment" + _WHERE, *args)  # noqa: S608
        found = await rows.fetch_all(
            AppointmentRow,
            "SELECT * FROM appointment" + _WHERE + " ORDER BY starts_at, id LIMIT {} OFFSET {}",  # noqa: S608
            *args,
            query.page_size,
            offset_of(query.page, query.page_size),
        )
    return found, total


async def visible_appointment(
    actor: Actor, appointment_id: uuid.UUID, *, lock: bool = False
) -> AppointmentRow:
    """One appointment as the actor may see it, in the caller's tenant transaction; a
    patient's view of another patient's appointment is 404. `lock`: FOR UPDATE (a change
    follows)."""
    sql = "SELECT * FROM appointment WHERE id = {}" + (" FOR UPDATE" if lock else "")  # noqa: S608
    row = await rows.fetch_one(AppointmentRow, sql, appointment_id)
    if row is not None and not actor.is_staff:
        own = await patients.patient_of_user(actor.user_id)
        if own is None or own.id != row.patient_id:
            row = None
    if row is None:
        raise NotFound("No such appointment.")
    return row


async def get_appointment(actor: Actor, appointment_id: uuid.UUID) -> AppointmentRow:
    async with db.tenant_transaction(actor.clinic_id):
        return await visible_appointment(actor, appointment_id)


async def history(actor: Actor, appointment_id: uuid.UUID) -> list[AppointmentHistoryRow]:
    async with db.tenant_transaction(actor.clinic_id):
        await visible_appointment(actor, appointment_id)
        return await rows.fetch_all(
            AppointmentHistoryRow,
            "SELECT * FROM appointment_history WHERE appointment_id = {} ORDER BY at, id",
            appointment_id,
        )


async def live_overlapping(
    provider_id: uuid.UUID, start: datetime, end: datetime
) -> list[uuid.UUID]:
    """Ids of the provider's live appointments whose occupied block overlaps `[start, end)`,
    by start, in the caller's transaction."""
    found = await rows.fetch_all(
        _Id,
        "SELECT id FROM appointment WHERE provider_id = {} AND occupied_start < {}"
        " AND occupied_start > {} AND occupied_end > {} AND status NOT IN ('cancelled', 'no_show')"
        " ORDER BY starts_at",
        provider_id,
        end,
        start - MAX_OCCUPIED,
        start,
    )
    return [row.id for row in found]


class _Id(rows.Row, frozen=True):
    id: uuid.UUID


async def reschedule_count(appointment_id: uuid.UUID) -> int:
    """How many times the appointment has moved, in the caller's transaction."""
    return await rows.count(
        "SELECT count(*) AS n FROM appointment_history"
        " WHERE appointment_id = {} AND action = 'rescheduled'",
        appointment_id,
    )
