"""`POST /api/payments/webhook` (SPEC §8): Stripe's signed events move payments forward.

- Trust: the raw body must carry a valid `Stripe-Signature` for `STRIPE_WEBHOOK_SECRET`
  at most 300 s old (`stripe.Webhook.construct_event`), else 400; no secret, 503. No
  session, no CSRF: the signature is the authentication.
- Tenant: the event names a PaymentIntent; `payment_clinic_of_intent()` (a narrow SECURITY
  DEFINER function, docs/SECURITY.md) answers its clinic, and the change runs in that
  clinic's tenant transaction like any other write. An intent that is not ours is ignored.
- Once: the payment row is locked, then the event id is inserted into `stripe_event` with
  ON CONFLICT DO NOTHING in the same transaction as the change; a duplicate delivery (even a
  concurrent one, on another process) finds the id and changes nothing.
- Never backwards: a state change applies only from the states it may follow (`_FROM`), so
  a late `payment_failed` or `processing` never undoes `succeeded`; refunds follow the
  charge's cumulative `amount_refunded`, which only grows.
"""

from __future__ import annotations

import logging
import uuid

import msgspec
import stripe

from topsmile.clinics.queries import clinic_by_id
from topsmile.config import Settings
from topsmile.core import db, rows
from topsmile.core.actor import Actor
from topsmile.core.errors import ServiceUnavailable, ValidationError
from topsmile.events.catalogue import EventType
from topsmile.events.outbox import publish
from topsmile.events.types import PaymentNotice, new_event
from topsmile.patients import queries as patients
from topsmile.patients.notices import recipient_of
from topsmile.payments import events, queries
from topsmile.payments.tables import PaymentRow
from topsmile.scheduling import payment_status

log = logging.getLogger("topsmile.payments")

TOLERANCE_SECONDS = 300

# Stripe event type → (our status, the statuses it may follow).
_INTENT_EVENTS: dict[str, tuple[str, frozenset[str]]] = {
    "payment_intent.processing": ("processing", frozenset({"requires_payment", "failed"})),
    "payment_intent.payment_failed": ("failed", frozenset({"requires_payment", "processing"})),
    "payment_intent.canceled": (
        "canceled",
        frozenset({"requires_payment", "processing", "failed"}),
    ),
    "payment_intent.succeeded": (
        "succeeded",
        frozenset({"requires_payment", "processing", "failed", "canceled"}),
    ),
}
_REFUNDED = "charge.refunded"
_PUBLISHED: dict[str, EventType[PaymentNotice]] = {
    "succeeded": events.PAYMENT_SUCCEEDED,
    "failed": events.PAYMENT_FAILED,
    "refunded": events.PAYMENT_REFUNDED,
    "partially_refunded": events.PAYMENT_REFUNDED,
}


class _Object(msgspec.Struct, kw_only=True):
    """A PaymentIntent or a Charge: the few fields read here (others' objects may differ)."""

    id: str = ""
    payment_intent: str | None = None  # a Charge's intent
    amount_refunded: int = 0  # a Charge's cumulative refunds


class _Data(msgspec.Struct):
    object: _Object


class StripeEvent(msgspec.Struct, kw_only=True):
    id: str
    type: str
    data: _Data


def verified_event(settings: Settings, body: bytes, signature: str | None) -> StripeEvent:
    secret = settings.stripe_webhook_secret
    if not secret:
        raise ServiceUnavailable("Stripe webhooks are not configured on this server.")
    if not signature:
        raise ValidationError.on("Stripe-Signature", "The Stripe-Signature header is missing.")
    try:
        stripe.Webhook.construct_event(body, signature, secret, tolerance=TOLERANCE_SECONDS)
        return msgspec.json.decode(body, type=StripeEvent)
    except (stripe.SignatureVerificationError, ValueError, msgspec.ValidationError):
        raise ValidationError.on(
            "Stripe-Signature", "The signature is not valid for this body, or it expired."
        ) from None


class _Clinic(rows.Row, frozen=True):
    clinic_id: uuid.UUID | None


async def _clinic_of(intent_id: str) -> uuid.UUID | None:
    async with db.tenant_transaction(None):
        found = await rows.fetch_only(
            _Clinic, "SELECT payment_clinic_of_intent({}) AS clinic_id", intent_id
        )
    return found.clinic_id


def _next(payment: PaymentRow, event: StripeEvent) -> tuple[str, int] | None:
    """(status, amount refunded) after the event, or None when it changes nothing."""
    if event.type == _REFUNDED:
        refunded = min(
            payment.amount, max(payment.amount_refunded, event.data.object.amount_refunded)
        )
        if refunded == payment.amount_refunded:
            return None
        return ("refunded" if refunded == payment.amount else "partially_refunded"), refunded
    status, after = _INTENT_EVENTS[event.type]
    if payment.status not in after:
        return None
    return status, payment.amount_refunded


async def _notice(payment: PaymentRow, amount: int) -> PaymentNotice:
    appointment = await payment_status.appointment_by_id(payment.appointment_id)
    clinic = await clinic_by_id(payment.clinic_id)
    patient = await patients.patient_by_id(appointment.patient_id)
    assert patient is not None  # the appointment's foreign key keeps it
    return PaymentNotice(
        payment_id=payment.id,
        appointment_id=appointment.id,
        recipient=recipient_of(patient),
        clinic_name=clinic.name,
        timezone=clinic.timezone,
        service_name=await payment_status.service_name(appointment.service_id),
        start=appointment.starts_at,
        amount=amount,
        currency=payment.currency,
    )


async def apply(event: StripeEvent) -> None:
    """Apply one verified event (at most once per event id)."""
    if event.type == _REFUNDED:
        intent_id = event.data.object.payment_intent
    elif event.type in _INTENT_EVENTS:
        intent_id = event.data.object.id
    else:
        return  # not a type we act on: acknowledged and ignored
    clinic_id = await _clinic_of(intent_id) if intent_id else None
    if intent_id is None or clinic_id is None:
        log.info("stripe event for an unknown intent ignored", extra={"stripeEvent": event.id})
        return
    async with db.tenant_transaction(clinic_id):
        payment = await queries.payment_by_intent(intent_id)
        assert payment is not None  # the function above just found it
        first = await db.fetch(
            "INSERT INTO stripe_event (id, clinic_id, payment_id, type) VALUES ({}, {}, {}, {})"
            " ON CONFLICT (id) DO NOTHING RETURNING id",
            event.id,
            clinic_id,
            payment.id,
            event.type,
        )
        change = _next(payment, event) if first else None
        if change is None:
            return
        status, refunded = change
        updated = await rows.update_one(
            PaymentRow, payment.id, {"status": status, "amount_refunded": refunded}
        )
        await payment_status.follow_payment(payment.appointment_id, status)
        kind = _PUBLISHED.get(status)
        if kind is not None:
            amount = (
                refunded - payment.amount_refunded
                if kind is events.PAYMENT_REFUNDED
                else updated.amount
            )
            notice = await _notice(updated, amount)
            await publish(
                new_event(kind, notice, actor=Actor.system(clinic_id), entity_id=payment.id)
            )
