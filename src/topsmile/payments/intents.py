"""`POST /api/payments/create-intent` (SPEC §8): a PaymentIntent for an appointment's price.

0. 503 when Stripe is not configured.
1. In one tenant transaction, with the appointment locked (so two requests for it run one
   after the other): the rules (409 paid or cancelled, 422 nothing to pay), then the
   appointment's open payment, or a new `requires_payment` row.
2. Outside any transaction, Stripe: the row's intent again (200), or a new one created with
   the idempotency key `topsmile-pi-<paymentId>` (201). The key never changes for the row, so
   a retry after a Stripe outage or timeout (503, the row stays without an intent id) gets
   the same PaymentIntent back, never a second one.
3. The intent id is stored on the row (only if none was: a concurrent request stored the same).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from topsmile.config import Settings
from topsmile.core import db, rows
from topsmile.core.actor import Actor
from topsmile.core.context import current_request_id
from topsmile.core.errors import Conflict, NothingToPay
from topsmile.payments import gateway, queries
from topsmile.payments.schemas import IntentView
from topsmile.payments.tables import PaymentRow
from topsmile.scheduling.payment_status import locked_appointment

_SETTLED = frozenset({"paid", "partially_refunded"})
_OVER = frozenset({"cancelled", "no_show"})


@dataclass(frozen=True, slots=True)
class IntentResult:
    created: bool  # 201 when this call made the PaymentIntent, else 200
    view: IntentView


def intent_key(payment_id: uuid.UUID) -> str:
    return f"topsmile-pi-{payment_id}"


async def start_payment(actor: Actor, appointment_id: uuid.UUID) -> PaymentRow:
    """The appointment's open payment, or a new `requires_payment` one (no Stripe call)."""
    async with db.tenant_transaction(actor.clinic_id):
        appointment = await locked_appointment(actor, appointment_id)
        if appointment.payment_status in _SETTLED:
            raise Conflict("This appointment is already paid.")
        if appointment.status in _OVER:
            raise Conflict(f"A {appointment.status} appointment is not paid for.")
        if appointment.price_amount == 0:
            raise NothingToPay("This appointment has no price to pay.")
        found = await queries.open_payment(appointment.id)
        if found is not None:
            return found
        return await rows.fetch_only(
            PaymentRow,
            "INSERT INTO payment (clinic_id, appointment_id, amount, currency, request_id)"
            " VALUES ({}, {}, {}, {}, {}) RETURNING *",
            actor.clinic_id,
            appointment.id,
            appointment.price_amount,
            appointment.currency,
            current_request_id(),
        )


async def _record_intent(actor: Actor, payment: PaymentRow, intent_id: str) -> PaymentRow:
    async with db.tenant_transaction(actor.clinic_id):
        stored = await rows.fetch_one(
            PaymentRow,
            "UPDATE payment SET stripe_payment_intent_id = {}, updated_at = now()"
            " WHERE id = {} AND stripe_payment_intent_id IS NULL RETURNING *",
            intent_id,
            payment.id,
        )
        if stored is not None:
            return stored
        return await rows.fetch_only(PaymentRow, "SELECT * FROM payment WHERE id = {}", payment.id)


async def create_intent(
    actor: Actor, settings: Settings, appointment_id: uuid.UUID
) -> IntentResult:
    gateway.require_configured(settings)
    payment = await start_payment(actor, appointment_id)
    created = payment.stripe_payment_intent_id is None
    if payment.stripe_payment_intent_id is None:
        intent = await gateway.create_intent(
            settings,
            amount=payment.amount,
            currency=payment.currency,
            # The same parameters on every retry: Stripe refuses a key reused with others.
            metadata={
                "clinicId": str(payment.clinic_id),
                "appointmentId": str(payment.appointment_id),
                "paymentId": str(payment.id),
                "requestId": payment.request_id,
            },
            idempotency_key=intent_key(payment.id),
        )
        payment = await _record_intent(actor, payment, intent.id)
    else:
        intent = await gateway.retrieve_intent(settings, payment.stripe_payment_intent_id)
    view = IntentView(
        payment_id=payment.id,
        client_secret=intent.client_secret,
        amount=payment.amount,
        currency=payment.currency,
        status=payment.status,
    )
    return IntentResult(created, view)
