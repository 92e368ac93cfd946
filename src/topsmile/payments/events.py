"""The `payment.*` events: published by the webhook in the transaction of the state change;
notifications render `payment.succeeded` as the receipt email, audit records all three."""

from __future__ import annotations

from topsmile.events.catalogue import declare
from topsmile.events.types import PaymentNotice

PAYMENT_SUCCEEDED = declare("payment.succeeded", "payment", PaymentNotice)
PAYMENT_FAILED = declare("payment.failed", "payment", PaymentNotice)
PAYMENT_REFUNDED = declare("payment.refunded", "payment", PaymentNotice)
