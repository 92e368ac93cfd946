"""The Stripe gateway: the only module that talks to Stripe's API (SPEC §8).

One `stripe.StripeClient` per call, on the async httpx transport, pointed at
`STRIPE_API_BASE` (tests run a local Stripe-compatible server). The SDK's own idempotency
key is random per call, so every write here takes a key derived from our records: a retry
after a timeout gets the same PaymentIntent or Refund back instead of a second one. A short
timeout and no SDK retries keep a Stripe outage from holding a request (or a refund's row
lock) for long; the caller answers 503 with Retry-After and the client retries.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import stripe

from topsmile.config import Settings
from topsmile.core.errors import ServiceUnavailable

log = logging.getLogger("topsmile.payments")

TIMEOUT_SECONDS = 5.0
RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True, slots=True)
class Intent:
    id: str
    client_secret: str
    status: str


def require_configured(settings: Settings) -> str:
    """The secret key, or 503: payments are off on a deployment without one."""
    if not settings.stripe_secret_key:
        raise ServiceUnavailable("Payments are not configured on this server.")
    return settings.stripe_secret_key


@asynccontextmanager
async def _client(settings: Settings) -> AsyncIterator[stripe.StripeClient]:
    key = require_configured(settings)
    transport = stripe.HTTPXClient(timeout=TIMEOUT_SECONDS)
    base = settings.stripe_api_base
    client = stripe.StripeClient(
        key,
        base_addresses={"api": base.rstrip("/")} if base else None,
        max_network_retries=0,
        http_client=transport,
    )
    try:
        yield client
    except stripe.StripeError as exc:
        # Outages, timeouts and refusals alike: nothing was recorded on our side, and a
        # retry sends the same idempotency key.
        log.warning("stripe call failed: %s %s", type(exc).__name__, exc.http_status)
        raise ServiceUnavailable(
            "The payment provider is unavailable; retry shortly.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None
    finally:
        await transport.close_async()  # type: ignore[no-untyped-call]


def _intent(found: stripe.PaymentIntent) -> Intent:
    return Intent(id=found.id, client_secret=found.client_secret or "", status=found.status)


async def create_intent(
    settings: Settings,
    *,
    amount: int,
    currency: str,
    metadata: dict[str, str],
    idempotency_key: str,
) -> Intent:
    async with _client(settings) as client:
        created = await client.v1.payment_intents.create_async(
            {
                "amount": amount,
                "currency": currency,
                "metadata": metadata,
                "automatic_payment_methods": {"enabled": True},
            },
            {"idempotency_key": idempotency_key},
        )
    return _intent(created)


async def retrieve_intent(settings: Settings, intent_id: str) -> Intent:
    async with _client(settings) as client:
        return _intent(await client.v1.payment_intents.retrieve_async(intent_id))


async def refund(
    settings: Settings,
    *,
    intent_id: str,
    amount: int,
    metadata: dict[str, str],
    idempotency_key: str,
) -> str:
    """Ask Stripe to refund `amount` of the intent's charge; the refund's id. The payment
    changes when Stripe confirms it (`charge.refunded`)."""
    async with _client(settings) as client:
        created = await client.v1.refunds.create_async(
            {"payment_intent": intent_id, "amount": amount, "metadata": metadata},
            {"idempotency_key": idempotency_key},
        )
    return created.id
