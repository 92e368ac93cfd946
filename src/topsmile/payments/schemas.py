"""Payments on the wire (SPEC §8)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from topsmile.core.schemas import Input, Output
from topsmile.core.validation import Reason
from topsmile.payments.tables import PaymentRow

# Stripe's limit for one charge is far below this; it keeps the amount a bigint.
Amount = Annotated[int, msgspec.Meta(ge=1, le=99_999_999)]


class CreateIntent(Input):
    appointment_id: uuid.UUID


class IntentView(Output):
    payment_id: uuid.UUID
    client_secret: str
    amount: int
    currency: str
    status: str


class RefundRequest(Input):
    amount: Amount | None = None  # minor units; the whole remaining amount when absent
    reason: Reason | None = None


class PaymentView(Output):
    id: uuid.UUID
    appointment_id: uuid.UUID
    amount: int
    amount_refunded: int
    currency: str
    status: str
    stripe_payment_intent_id: str | None
    created_at: datetime
    updated_at: datetime


def payment_view(row: PaymentRow) -> PaymentView:
    return PaymentView(
        id=row.id,
        appointment_id=row.appointment_id,
        amount=row.amount,
        amount_refunded=row.amount_refunded,
        currency=row.currency,
        status=row.status,
        stripe_payment_intent_id=row.stripe_payment_intent_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
