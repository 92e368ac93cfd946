"""Booking (SPEC §6 "Booking is locked"): book, reschedule, cancel and the status machine,
each in one tenant transaction, with history and events in it.

Competing writers for one provider are serialized by a transaction-scoped advisory lock on
the provider, taken before the blocking intervals are read: the slot check then sees every
committed booking and a loser gets a clean 409 `slot-unavailable`, on any number of
processes. The exclusion constraint `appointment_no_overlap` is the last wall: a writer that
skipped the lock gets the same 409 (core/constraints.py).

Book and reschedule check the start once before taking the lock too: a start that is never
valid (422) or already taken by a committed booking (409) is answered without queueing
behind every other writer of the provider. That answer is right whenever it is given (the
rows it read were committed); only a start that looks free goes on to the lock and the
check that decides. In a 100-way race for one slot, the requests that arrive after the
winner commits no longer wait in line (PERFORMANCE.md "Availability and booking").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec

from topsmile.clinics.schemas import ClinicSettings, clinic_view
from topsmile.clinics.tables import ClinicRow
from topsmile.core import clock, db, rows
from topsmile.core.actor import Actor
from topsmile.core.errors import (
    CancellationWindow,
    Forbidden,
    InvalidTransition,
    NotBookable,
    NotFound,
    SlotUnavailable,
    ValidationError,
)
from topsmile.events.types import AppointmentNotice
from topsmile.patients import queries as patients
from topsmile.patients.service import bookable_record
from topsmile.patients.tables import PatientRow
from topsmile.scheduling import appointment_events, events, queries
from topsmile.scheduling import availability as rules
from topsmile.scheduling.appointment_events import announce, cancel_reminders
from topsmile.scheduling.availability_service import (
    BLOCKING,
    Block,
    blocking_arguments,
    limits_for,
)
from topsmile.scheduling.schemas import AppointmentCreate, Cancel, Reschedule, StatusChange
from topsmile.scheduling.tables import (
    AppointmentRow,
    ProviderRow,
    ServiceRow,
)

# Allowed status changes (SPEC §6); completed, cancelled and no_show are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"scheduled", "cancelled"}),
    "scheduled": frozenset({"confirmed", "checked_in", "cancelled", "no_show"}),
    "confirmed": frozenset({"checked_in", "cancelled", "no_show"}),
    "checked_in": frozenset({"in_progress", "no_show"}),
    "in_progress": frozenset({"completed"}),
}
MOVABLE = frozenset({"pending", "scheduled", "confirmed"})
PATIENT_STATUSES = frozenset({"confirmed", "cancelled"})
# Blocks are read this far around a start: buffers reach out up to 240 minutes and the slot
# rules look one local day either side.
_MARGIN = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class _Booking:
    """What one booking decision reads: the clinic, the service, the provider."""

    clinic: ClinicRow
    settings: ClinicSettings
    service: ServiceRow
    provider: ProviderRow

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.clinic.timezone)

    def rules_service(self) -> rules.Service:
        buffers = rules.Buffers.of(
            self.service.buffer_before_minutes,
            self.service.buffer_after_minutes,
            self.provider.buffer_before_minutes,
            self.provider.buffer_after_minutes,
        )
        return rules.Service(self.service.duration_minutes, buffers)


async def _read(
    actor: Actor, service_id: uuid.UUID, provider_id: uuid.UUID, *, booked: bool = False
) -> _Booking:
    """The service and provider as the actor may see them (404 otherwise), with the clinic.
    `booked`: the service of an existing appointment, which its patient has seen anyway."""
    # One round trip for the three rows, each a whole row as a composite value (None when
    # there is no such id in this clinic).
    [found] = await db.fetch(
        "SELECT c AS clinic, s AS service, p AS provider FROM clinic c"
        " LEFT JOIN clinic_service s ON s.id = {} LEFT JOIN provider p ON p.id = {}"
        " WHERE c.id = {}",
        service_id,
        provider_id,
        actor.clinic_id,
    )
    service = None if found["service"] is None else ServiceRow(**found["service"])
    hidden = not actor.is_staff and not booked
    if service is None or (hidden and not (service.active and service.online_bookable)):
        raise NotFound("No such service.")
    provider = None if found["provider"] is None else ProviderRow(**found["provider"])
    if provider is None or (not actor.is_staff and not provider.active):
        raise NotFound("No such provider.")
    clinic = ClinicRow(**found["clinic"])
    return _Booking(clinic, clinic_view(clinic).settings, service, provider)


class _ProviderTime(rows.Row, frozen=True):
    offers: bool
    hours: str  # JSON: [[weekday, start minute, end minute], ...]
    blocks: str  # JSON: the `Block` rows of `blocking_intervals()`


_HOURS = msgspec.json.Decoder(list[tuple[int, int, int]])
_BLOCKS = msgspec.json.Decoder(list[Block])
# What the slot check reads, in one round trip: whether the provider offers the service, its
# weekly hours, and `blocking_intervals()` around the start (timestamps keep microseconds).
# BLOCKING is a constant and every value a parameter, hence the noqa.
_PROVIDER_TIME = (
    "SELECT EXISTS (SELECT 1 FROM provider_service WHERE provider_id = {}"  # noqa: S608
    " AND service_id = {}) AS offers,"
    " (SELECT coalesce(json_agg(json_build_array(weekday, start_minute, end_minute)), '[]')"
    " FROM working_hours WHERE provider_id = {})::text AS hours,"
    " (SELECT coalesce(json_agg(b), '[]') FROM (" + BLOCKING + ") b)::text AS blocks"
)


async def lock_provider(provider_id: uuid.UUID) -> None:
    """Serialize every booking write of one provider until this transaction ends."""
    await db.fetch(
        "SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtextextended('provider:' || {}, 0))",
        str(provider_id),
    )


async def _check(
    actor: Actor, booking: _Booking, start: datetime, *, moving: uuid.UUID | None = None
) -> rules.Span:
    """The occupied block of a booking at `start`, or 422 `not-bookable` / 409
    `slot-unavailable`. Call it holding the provider's lock."""
    if not 1900 <= start.year <= 9000:
        raise ValidationError.on("start", "This instant is out of range.")
    service, provider = booking.service, booking.provider
    found = await rows.fetch_only(
        _ProviderTime,
        _PROVIDER_TIME,
        provider.id,
        service.id,
        provider.id,
        *blocking_arguments([provider.id], start - _MARGIN, start + _MARGIN, moving),
    )
    if not (found.offers and service.active and provider.active):
        raise NotBookable("This provider does not offer this service.")
    if not (actor.is_staff or service.online_bookable):
        raise NotBookable("This service is booked by the clinic's staff.")
    blocks = _BLOCKS.decode(found.blocks)
    schedule = rules.Schedule(
        booking.zone,
        tuple(rules.WeeklyInterval(*h) for h in sorted(_HOURS.decode(found.hours))),
        busy=tuple(rules.Span(b.starts_at, b.ends_at) for b in blocks if b.kind == "busy"),
        closed=tuple(rules.Span(b.starts_at, b.ends_at) for b in blocks if b.kind == "closed"),
    )
    limits = limits_for(actor, booking.zone, booking.settings)
    verdict = rules.check(start, schedule, booking.rules_service(), limits)
    if verdict is rules.Verdict.NOT_BOOKABLE:
        raise NotBookable("This time is not a bookable slot.")
    if verdict is rules.Verdict.UNAVAILABLE:
        raise SlotUnavailable("This time is taken; choose another.")
    return rules.occupied_block(start, booking.rules_service())


async def _patient_for(actor: Actor, patient_id: uuid.UUID | None) -> PatientRow:
    if not actor.is_staff:
        own = await bookable_record(actor)
        if patient_id not in (None, own.id):
            raise NotFound("No such patient.")
        return own
    if patient_id is None:
        raise ValidationError.on("patientId", "Name the patient to book for.")
    patient = await patients.patient_by_id(patient_id)
    if patient is None:
        raise NotFound("No such patient.")
    return patient


def _notice_of(
    booking: _Booking, patient: PatientRow, row: AppointmentRow, **extra: object
) -> AppointmentNotice:
    return appointment_events.notice(
        booking.clinic, booking.service, booking.provider, patient, row, **extra
    )


async def _history(
    actor: Actor,
    appointment_id: uuid.UUID,
    action: str,
    *,
    from_status: str | None = None,
    to_status: str | None = None,
    old_start: datetime | None = None,
    new_start: datetime | None = None,
    reason: str | None = None,
) -> None:
    await db.fetch(
        "INSERT INTO appointment_history (clinic_id, appointment_id, actor_id, action,"
        " from_status, to_status, old_start, new_start, reason)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
        actor.clinic_id,
        appointment_id,
        actor.user_id,
        action,
        from_status,
        to_status,
        old_start,
        new_start,
        reason,
    )


async def book(actor: Actor, data: AppointmentCreate) -> AppointmentRow:
    """Patients book for themselves (patient rules), staff for any patient (staff rules)."""
    async with db.tenant_transaction(actor.clinic_id):
        patient = await _patient_for(actor, data.patient_id)
        booking = await _read(actor, data.service_id, data.provider_id)
        await _check(actor, booking, data.start)  # early answer, see the module's docstring
        await lock_provider(booking.provider.id)
        block = await _check(actor, booking, data.start)
        service = booking.service
        status = "pending" if service.requires_approval else "scheduled"
        start = data.start
        row = await rows.fetch_only(
            AppointmentRow,
            "INSERT INTO appointment (clinic_id, patient_id, provider_id, service_id, starts_at,"
            " ends_at, occupied_start, occupied_end, status, notes, price_amount, currency)"
            " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING *",
            actor.clinic_id,
            patient.id,
            booking.provider.id,
            service.id,
            start,
            start + timedelta(minutes=service.duration_minutes),
            block.start,
            block.end,
            status,
            data.notes,
            service.price_amount,
            booking.clinic.currency,
        )
        await _history(actor, row.id, "created", to_status=status, new_start=row.starts_at)
        notice = _notice_of(booking, patient, row)
        reminders = booking.settings.reminder_offsets_minutes
        await announce(actor, events.APPOINTMENT_CREATED, notice, reminders=reminders)
    return row


async def _patient_of(row: AppointmentRow) -> PatientRow:
    patient = await patients.patient_by_id(row.patient_id)
    assert patient is not None  # the foreign key keeps it
    return patient


def _inside_window(row: AppointmentRow, settings: ClinicSettings) -> bool:
    window = timedelta(hours=settings.cancellation_window_hours)
    return clock.now() > row.starts_at - window


async def reschedule(actor: Actor, appointment_id: uuid.UUID, data: Reschedule) -> AppointmentRow:
    """Same id, a new start (and maybe provider); its own old block does not block it."""
    async with db.tenant_transaction(actor.clinic_id):
        row = await queries.visible_appointment(actor, appointment_id, lock=True)
        if row.status not in MOVABLE:
            raise InvalidTransition(f"A {row.status} appointment cannot be rescheduled.")
        provider_id = data.provider_id or row.provider_id
        booking = await _read(actor, row.service_id, provider_id, booked=True)
        if not actor.is_staff and _inside_window(row, booking.settings):
            raise CancellationWindow("It is too late to reschedule this appointment.")
        await _check(actor, booking, data.start, moving=row.id)  # early answer
        await lock_provider(provider_id)
        block = await _check(actor, booking, data.start, moving=row.id)
        start = data.start
        moved = await rows.update_one(
            AppointmentRow,
            row.id,
            {
                "provider_id": provider_id,
                "starts_at": start,
                "ends_at": start + timedelta(minutes=booking.service.duration_minutes),
                "occupied_start": block.start,
                "occupied_end": block.end,
            },
        )
        await _history(
            actor,
            row.id,
            "rescheduled",
            old_start=row.starts_at,
            new_start=moved.starts_at,
            reason=data.reason,
        )
        # The row lock taken above orders the moves of one appointment: each counts one more.
        notice = _notice_of(
            booking,
            await _patient_of(row),
            moved,
            previous_start=row.starts_at,
            sequence=await queries.reschedule_count(row.id),
        )
        await cancel_reminders(row.id)
        reminders = booking.settings.reminder_offsets_minutes
        await announce(actor, events.APPOINTMENT_RESCHEDULED, notice, reminders=reminders)
    return moved


async def cancel(actor: Actor, appointment_id: uuid.UUID, data: Cancel) -> AppointmentRow:
    """Patients are refused inside the clinic's window; staff are not, and it is flagged."""
    async with db.tenant_transaction(actor.clinic_id):
        row = await queries.visible_appointment(actor, appointment_id, lock=True)
        return await _cancel(actor, row, data.reason)


async def _cancel(actor: Actor, row: AppointmentRow, reason: str | None) -> AppointmentRow:
    if "cancelled" not in TRANSITIONS.get(row.status, frozenset()):
        raise InvalidTransition(f"A {row.status} appointment cannot be cancelled.")
    booking = await _read(actor, row.service_id, row.provider_id, booked=True)
    late = _inside_window(row, booking.settings)
    if late and not actor.is_staff:
        raise CancellationWindow("It is too late to cancel this appointment online.")
    cancelled = await rows.update_one(
        AppointmentRow,
        row.id,
        {
            "status": "cancelled",
            "cancellation_reason": reason,
            "cancelled_at": clock.now(),
            "late_cancellation": late,
        },
    )
    await _history(
        actor, row.id, "cancelled", from_status=row.status, to_status="cancelled", reason=reason
    )
    await cancel_reminders(row.id)
    notice = _notice_of(booking, await _patient_of(row), cancelled, reason=reason)
    await announce(actor, events.APPOINTMENT_CANCELLED, notice)
    return cancelled


async def change_status(
    actor: Actor, appointment_id: uuid.UUID, data: StatusChange
) -> AppointmentRow:
    """The status machine (SPEC §6). Patients may only confirm or cancel their own."""
    if not actor.is_staff and data.status not in PATIENT_STATUSES:
        raise Forbidden("Patients may only confirm or cancel their appointments.")
    async with db.tenant_transaction(actor.clinic_id):
        row = await queries.visible_appointment(actor, appointment_id, lock=True)
        if data.status == "cancelled":
            return await _cancel(actor, row, data.note)
        if data.status not in TRANSITIONS.get(row.status, frozenset()):
            raise InvalidTransition(f"A {row.status} appointment cannot become {data.status}.")
        if data.status == "no_show" and clock.now() < row.starts_at:
            raise InvalidTransition("An appointment that has not started is not a no-show.")
        changed = await rows.update_one(AppointmentRow, row.id, {"status": data.status})
        await _history(
            actor,
            row.id,
            "status_changed",
            from_status=row.status,
            to_status=data.status,
            reason=data.note,
        )
        booking = await _read(actor, row.service_id, row.provider_id, booked=True)
        notice = _notice_of(booking, await _patient_of(row), changed, status=data.status)
        await announce(actor, events.APPOINTMENT_STATUS_CHANGED, notice)
    return changed
