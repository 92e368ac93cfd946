"""Reads of payments. Patients see only the payments of their
own appointments; anything else is 404 (SPEC §2)."""

from __future__ import annotations

import uuid
from datetime import datetime

from topsmile.core import db, rows
from topsmile.core.actor import Actor
from topsmile.core.errors import NotFound
from topsmile.core.ranges import offset_of
from topsmile.patients import queries as patients
from topsmile.payments.tables import PaymentRow

OPEN = ("requires_payment", "processing", "failed")  # its intent can still be paid
PAID = ("succeeded", "partially_refunded")  # money held that a refund can return

# Staff: every payment of the clinic (row-level security); a patient: their appointments'.
_VISIBLE = (
    " WHERE ({}::uuid IS NULL OR p.appointment_id = {})"
    " AND ({}::uuid IS NULL OR EXISTS (SELECT 1 FROM appointment a"
    " WHERE a.id = p.appointment_id AND a.patient_id = {}))"
)


async def _viewer(actor: Actor) -> tuple[uuid.UUID | None, bool]:
    """(the patient whose payments the actor may see, or None for all; whether any)."""
    if actor.is_staff:
        return None, True
    own = await patients.patient_of_user(actor.user_id)
    return (own.id, True) if own is not None else (None, False)


async def list_payments(
    actor: Actor, appointment_id: uuid.UUID | None, page: int, page_size: int
) -> tuple[list[PaymentRow], int]:
    async with db.tenant_transaction(actor.clinic_id):
        patient_id, sees_any = await _viewer(actor)
        if not sees_any:
            return [], 0
        args = (appointment_id, appointment_id, patient_id, patient_id)
        total = await rows.count("SELECT count(*) AS n FROM payment p" + _VISIBLE, *args)  # noqa: S608
        found = await rows.fetch_all(
            PaymentRow,
            "SELECT p.* FROM payment p" + _VISIBLE + " ORDER BY p.created_at DESC, p.id"  # noqa: S608
            " LIMIT {} OFFSET {}",
            *args,
            page_size,
            offset_of(page, page_size),
        )
    return found, total


async def get_payment(actor: Actor, payment_id: uuid.UUID) -> PaymentRow:
    async with db.tenant_transaction(actor.clinic_id):
        return await visible_payment(actor, payment_id)


async def visible_payment(actor: Actor, payment_id: uuid.UUID, *, lock: bool = False) -> PaymentRow:
    """One payment as the actor may see it (404 otherwise), in the caller's transaction;
    `lock`: FOR UPDATE."""
    patient_id, sees_any = await _viewer(actor)
    # _VISIBLE is a constant of this module; every value is a parameter.
    sql = "SELECT p.* FROM payment p" + _VISIBLE + " AND p.id = {}"  # noqa: S608
    found = await rows.fetch_one(
        PaymentRow,
        sql + (" FOR UPDATE" if lock else ""),
        None,
        None,
        patient_id,
        patient_id,
        payment_id,
    )
    if found is None or not sees_any:
        raise NotFound("No such payment.")
    return found


async def open_payment(appointment_id: uuid.UUID) -> PaymentRow | None:
    return await rows.fetch_one(
        PaymentRow,
        "SELECT * FROM payment WHERE appointment_id = {} AND status = ANY({}::text[])",
        appointment_id,
        list(OPEN),
    )


async def paid_payments(appointment_id: uuid.UUID) -> list[PaymentRow]:
    """The appointment's payments holding money, locked for a refund."""
    return await rows.fetch_all(
        PaymentRow,
        "SELECT * FROM payment WHERE appointment_id = {} AND status = ANY({}::text[])"
        " ORDER BY created_at FOR UPDATE",
        appointment_id,
        list(PAID),
    )


async def payment_by_intent(intent_id: str) -> PaymentRow | None:
    """The payment of a PaymentIntent, locked (the webhook's change follows)."""
    return await rows.fetch_one(
        PaymentRow,
        "SELECT * FROM payment WHERE stripe_payment_intent_id = {} FOR UPDATE",
        intent_id,
    )


class _Revenue(rows.Row, frozen=True):
    paid: int
    refunded: int


async def revenue(start: datetime, end: datetime, currency: str) -> tuple[int, int]:
    """(taken, given back) in minor units for the appointments starting in [start, end), in
    the caller's transaction: taken = every payment that succeeded (whatever was refunded of
    it since), given back = what Stripe confirmed refunded. Only payments in `currency` (the
    clinic's today) count: a sum across currencies would mean nothing."""
    found = await rows.fetch_only(
        _Revenue,
        "SELECT coalesce(sum(p.amount) FILTER (WHERE p.status = ANY({}::text[])), 0)::bigint"
        " AS paid, coalesce(sum(p.amount_refunded), 0)::bigint AS refunded"
        " FROM payment p JOIN appointment a"
        " ON a.clinic_id = p.clinic_id AND a.id = p.appointment_id"
        " WHERE a.starts_at >= {} AND a.starts_at < {} AND p.currency = {}",
        [*PAID, "refunded"],
        start,
        end,
        currency,
    )
    return found.paid, found.refunded
