"""What payments need of appointments: the appointment being paid (locked, as its caller may
see it) and its `paymentStatus` (SPEC §6), which only payments change."""

from __future__ import annotations

import uuid

from topsmile.core import db, rows
from topsmile.core.actor import Actor
from topsmile.scheduling import queries
from topsmile.scheduling.tables import AppointmentRow, ServiceRow

# What a payment's status makes of its appointment's `paymentStatus`.
BY_PAYMENT = {
    "requires_payment": "unpaid",
    "processing": "processing",
    "succeeded": "paid",
    "failed": "failed",
    "canceled": "unpaid",
    "refunded": "refunded",
    "partially_refunded": "partially_refunded",
}
# A paid appointment stays paid whatever happens to another, unfinished payment of it.
_SETTLED = ("paid", "partially_refunded")
_FROM_SETTLEMENT = frozenset({"succeeded", "refunded", "partially_refunded"})


async def locked_appointment(actor: Actor, appointment_id: uuid.UUID) -> AppointmentRow:
    """The appointment, locked until the transaction ends; a patient's view of another
    patient's appointment is 404. Call it in a tenant transaction."""
    return await queries.visible_appointment(actor, appointment_id, lock=True)


async def appointment_by_id(appointment_id: uuid.UUID) -> AppointmentRow:
    row = await rows.fetch_one(
        AppointmentRow, "SELECT * FROM appointment WHERE id = {}", appointment_id
    )
    assert row is not None  # a payment's foreign key keeps it
    return row


async def service_name(service_id: uuid.UUID) -> str:
    service = await rows.fetch_one(
        ServiceRow, "SELECT * FROM clinic_service WHERE id = {}", service_id
    )
    return service.name if service is not None else ""


async def follow_payment(appointment_id: uuid.UUID, payment_status: str) -> None:
    """Set the appointment's `paymentStatus` from one of its payments' new status."""
    status = BY_PAYMENT[payment_status]
    if payment_status in _FROM_SETTLEMENT:
        await db.fetch(
            "UPDATE appointment SET payment_status = {}, updated_at = now() WHERE id = {}",
            status,
            appointment_id,
        )
        return
    await db.fetch(
        "UPDATE appointment SET payment_status = {}, updated_at = now()"
        " WHERE id = {} AND payment_status <> ALL({}::text[])",
        status,
        appointment_id,
        list(_SETTLED),
    )
