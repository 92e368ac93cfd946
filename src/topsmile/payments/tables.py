"""The payments tables as the code reads them (core/rows.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from topsmile.core.rows import Row


class PaymentRow(Row, frozen=True):
    __table__ = "payment"

    id: uuid.UUID
    clinic_id: uuid.UUID
    appointment_id: uuid.UUID
    amount: int
    amount_refunded: int  # confirmed by Stripe (charge.refunded)
    refund_requested: int  # asked of Stripe so far: the next refund's idempotency key
    currency: str
    status: str
    stripe_payment_intent_id: str | None
    request_id: str  # the request that created it: the intent's metadata `requestId`
    created_at: datetime
    updated_at: datetime


class StripeEventRow(Row, frozen=True):
    __table__ = "stripe_event"

    id: str
    clinic_id: uuid.UUID
    payment_id: uuid.UUID
    type: str
    processed_at: datetime
