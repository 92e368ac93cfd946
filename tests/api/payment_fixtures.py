"""Payments against a local Stripe-compatible server (tests/support/stripe.py): an app whose
settings point at it, signed-in clients per role, a paid-for appointment, signed webhooks."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import msgspec
import pytest

from tests.api.appointment_fixtures import book, local_start, open_all_day
from tests.api.auth_fixtures import SeededClinic, csrf, login
from tests.api.patient_fixtures import link_patient
from tests.conftest import client_for
from tests.support.stripe import LocalStripe, event_body, signed
from topsmile.app import create_app, lifespan
from topsmile.config import Settings
from topsmile.core import db
from topsmile.core.middleware import EdgeMiddleware

ROLES = ("admin", "manager", "receptionist", "provider", "patient")
SECRET_KEY = "sk_test_topsmile"
WEBHOOK_SECRET = "whsec_topsmile_test"
PAYMENTS = "/api/payments"
WEBHOOK = "/api/payments/webhook"


@pytest.fixture
def stripe_api() -> Iterator[LocalStripe]:
    with LocalStripe(SECRET_KEY) as server:
        yield server


@pytest.fixture
async def pay_app(settings: Settings, stripe_api: LocalStripe) -> AsyncIterator[EdgeMiddleware]:
    configured = msgspec.structs.replace(
        settings,
        stripe_secret_key=SECRET_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=stripe_api.base_url,
    )
    asgi = create_app(configured, run_relay=False)
    async with lifespan(asgi.app):
        yield asgi


@pytest.fixture
async def payers(
    pay_app: EdgeMiddleware, clinic: SeededClinic
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with AsyncExitStack() as stack:
        clients = {role: await stack.enter_async_context(client_for(pay_app)) for role in ROLES}
        for role, client in clients.items():
            await login(client, clinic, role)
        yield clients


async def own_appointment(
    clinic: SeededClinic, clients: dict[str, httpx.AsyncClient], price: int = 15000
) -> str:
    """An appointment the clinic's patient user booked for themselves (they have an email)."""
    patient_id = await link_patient(clinic)
    async with db.tenant_transaction(clinic.id):
        await db.fetch("UPDATE patient SET email = 'paula@example.com' WHERE id = {}", patient_id)
    sid, pid = await open_all_day(clients["admin"], priceAmount=price)
    booked = await book(clients["patient"], sid, pid, local_start(4, 10))
    assert booked.status_code == 201, booked.text
    return str(booked.json()["id"])


async def create_intent(
    client: httpx.AsyncClient, appointment_id: str, key: str | None = None
) -> httpx.Response:
    headers = csrf(client) | ({"Idempotency-Key": key} if key else {})
    return await client.post(
        f"{PAYMENTS}/create-intent", json={"appointmentId": appointment_id}, headers=headers
    )


def intent_object(intent_id: str, status: str = "succeeded") -> dict[str, Any]:
    return {"id": intent_id, "object": "payment_intent", "status": status, "amount": 15000}


def charge_object(intent_id: str, amount_refunded: int) -> dict[str, Any]:
    return {
        "id": "ch_" + uuid.uuid4().hex[:24],
        "object": "charge",
        "payment_intent": intent_id,
        "amount": 15000,
        "amount_refunded": amount_refunded,
    }


async def deliver(
    client: httpx.AsyncClient,
    kind: str,
    obj: dict[str, Any],
    *,
    event_id: str | None = None,
    secret: str = WEBHOOK_SECRET,
    age_seconds: int = 0,
) -> httpx.Response:
    """POST one Stripe event, signed as Stripe signs it (no session, no CSRF header)."""
    body = event_body(event_id or "evt_" + uuid.uuid4().hex[:24], kind, obj)
    header = signed(body, secret, int(time.time()) - age_seconds)
    return await client.post(
        WEBHOOK,
        content=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


async def outbox_events(clinic_id: uuid.UUID, name: str, entity_id: str) -> list[dict[str, Any]]:
    async with db.tenant_transaction(clinic_id):
        return await db.fetch(
            "SELECT * FROM event_outbox WHERE name = {} AND entity_id = {} ORDER BY occurred_at",
            name,
            entity_id,
        )


async def paid_appointment(
    clients: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> tuple[str, str, str]:
    """(appointment id, payment id, intent id) of an appointment whose payment succeeded."""
    appointment_id = await own_appointment(clinic, clients)
    created = await create_intent(clients["patient"], appointment_id)
    assert created.status_code == 201, created.text
    payment_id = created.json()["paymentId"]
    intent_id = created.json()["clientSecret"].split("_secret_")[0]
    ok = await deliver(clients["patient"], "payment_intent.succeeded", intent_object(intent_id))
    assert ok.status_code == 200, ok.text
    return appointment_id, payment_id, intent_id
