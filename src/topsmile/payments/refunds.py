"""Refunds (SPEC §8): asked by staff (`POST /api/payments/{id}/refund`, 202) or made in full
when a paid appointment is cancelled (or a payment succeeds for a cancelled one). Stripe
confirms with `charge.refunded`, and only then does the payment change (payments/webhooks.py).

Each refund asks Stripe with the idempotency key `topsmile-re-<paymentId>-<cumulative>`,
where `cumulative` is the total asked so far including this one: a retry of the same
request (a timeout, the relay running the cancellation handler again after a crash) sends
the same key and gets the same refund back, while a later refund has a new total and so a
new key. The payment row stays locked while Stripe answers, so refunds of one payment run
one after another and the total cannot be overtaken.
"""

from __future__ import annotations

import uuid

from topsmile.config import Settings
from topsmile.core import db, rows
from topsmile.core.actor import Actor
from topsmile.core.errors import Conflict, ValidationError
from topsmile.events.bus import Bus
from topsmile.events.catalogue import lookup
from topsmile.events.types import AppointmentNotice, Event, PaymentNotice
from topsmile.payments import events, gateway, queries
from topsmile.payments.schemas import RefundRequest
from topsmile.payments.tables import PaymentRow
from topsmile.scheduling import events as scheduling_events
from topsmile.scheduling import payment_status


def refund_key(payment_id: uuid.UUID, cumulative: int) -> str:
    return f"topsmile-re-{payment_id}-{cumulative}"


def _remaining(payment: PaymentRow) -> int:
    return payment.amount - max(payment.refund_requested, payment.amount_refunded)


async def _ask(
    settings: Settings, payment: PaymentRow, amount: int, reason: str | None
) -> PaymentRow:
    """Ask Stripe for `amount` back and record the new total asked (row locked)."""
    assert payment.stripe_payment_intent_id is not None  # a paid payment has its intent
    cumulative = payment.amount - _remaining(payment) + amount
    # Only what a retry sends again: Stripe refuses a key reused with other parameters, so
    # no request id here (a retry is a new request); the request's log line carries it.
    metadata = {
        "clinicId": str(payment.clinic_id),
        "appointmentId": str(payment.appointment_id),
        "paymentId": str(payment.id),
    }
    if reason:
        metadata["reason"] = reason
    await gateway.refund(
        settings,
        intent_id=payment.stripe_payment_intent_id,
        amount=amount,
        metadata=metadata,
        idempotency_key=refund_key(payment.id, cumulative),
    )
    return await rows.update_one(PaymentRow, payment.id, {"refund_requested": cumulative})


async def refund(
    actor: Actor, settings: Settings, payment_id: uuid.UUID, data: RefundRequest
) -> PaymentRow:
    """Staff ask for `amount` (default: all that remains) back; at most what remains."""
    async with db.tenant_transaction(actor.clinic_id):
        payment = await queries.visible_payment(actor, payment_id, lock=True)
        if payment.status not in queries.PAID:
            raise Conflict(f"A {payment.status} payment has nothing to refund.")
        remaining = _remaining(payment)
        if remaining == 0:
            raise Conflict("This payment is already refunded in full.")
        amount = data.amount if data.amount is not None else remaining
        if amount > remaining:
            raise ValidationError.on("amount", f"At most {remaining} remains to refund.")
        gateway.require_configured(settings)
        return await _ask(settings, payment, amount, data.reason)


class CancellationRefunds:
    """The handler refunding in full the money held for a cancelled appointment: on
    `appointment.cancelled` (its paid payments), and on `payment.succeeded` when the
    appointment was cancelled while its intent was still open. A patient may cancel only
    outside the clinic's window (booking refuses it inside), and a cancellation by staff is
    the clinic's own: every cancellation that happened is refunded."""

    EVENTS = (scheduling_events.APPOINTMENT_CANCELLED.name, events.PAYMENT_SUCCEEDED.name)

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def handle(self, event: Event, attempt: int) -> None:
        notice: AppointmentNotice | PaymentNotice = lookup(event.name).check(event.payload)
        # The relay runs this in the event clinic's transaction (joined here).
        async with db.tenant_transaction(event.clinic_id):
            if isinstance(notice, PaymentNotice):
                appointment = await payment_status.appointment_by_id(notice.appointment_id)
                if appointment.status != "cancelled":
                    return
            for payment in await queries.paid_payments(notice.appointment_id):
                remaining = _remaining(payment)
                if remaining > 0:
                    await _ask(self._settings, payment, remaining, "appointment cancelled")

    def subscribe(self, bus: Bus) -> None:
        bus.subscribe("payments", self.EVENTS, self.handle)


def subscribe(bus: Bus, settings: Settings) -> None:
    CancellationRefunds(settings).subscribe(bus)
