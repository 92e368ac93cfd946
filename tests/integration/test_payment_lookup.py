"""The webhook's tenant lookup (docs/SECURITY.md "Stripe webhooks"): the application role
finds a PaymentIntent's clinic through `payment_clinic_of_intent()` and nothing more; the
payment rows themselves stay behind forced row-level security."""

from __future__ import annotations

import uuid

import pytest

from tests.api.auth_fixtures import seed_clinic
from topsmile.core import db

pytestmark = pytest.mark.usefixtures("app")


async def _payment(clinic_id: uuid.UUID, intent_id: str) -> None:
    async with db.tenant_transaction(clinic_id):
        [patient] = await db.fetch(
            "INSERT INTO patient (clinic_id, first_name, last_name) VALUES ({}, 'Ana', 'Lima')"
            " RETURNING id",
            clinic_id,
        )
        [service] = await db.fetch(
            "INSERT INTO clinic_service (clinic_id, name, duration_minutes, price_amount)"
            " VALUES ({}, 'Cleaning', 30, 9000) RETURNING id",
            clinic_id,
        )
        [provider] = await db.fetch(
            "INSERT INTO provider (clinic_id, first_name, last_name) VALUES ({}, 'Rui', 'Reis')"
            " RETURNING id",
            clinic_id,
        )
        [appointment] = await db.fetch(
            "INSERT INTO appointment (clinic_id, patient_id, provider_id, service_id, starts_at,"
            " ends_at, occupied_start, occupied_end, status, price_amount, currency) VALUES"
            " ({}, {}, {}, {}, '2030-01-07T12:00Z', '2030-01-07T12:30Z', '2030-01-07T12:00Z',"
            " '2030-01-07T12:30Z', 'scheduled', 9000, 'brl') RETURNING id",
            clinic_id,
            patient["id"],
            provider["id"],
            service["id"],
        )
        await db.fetch(
            "INSERT INTO payment (clinic_id, appointment_id, amount, currency, request_id,"
            " stripe_payment_intent_id) VALUES ({}, {}, 9000, 'brl', 'req', {})",
            clinic_id,
            appointment["id"],
            intent_id,
        )


async def test_the_lookup_answers_only_the_clinic_and_rls_still_hides_the_rows() -> None:
    ours, theirs = await seed_clinic(), await seed_clinic()
    intent_id = "pi_" + uuid.uuid4().hex[:24]
    await _payment(theirs.id, intent_id)
    async with db.tenant_transaction(None):
        [found] = await db.fetch("SELECT payment_clinic_of_intent({}) AS clinic_id", intent_id)
        unknown = await db.fetch("SELECT payment_clinic_of_intent('pi_nobody') AS clinic_id")
        without_tenant = await db.fetch(
            "SELECT id FROM payment WHERE stripe_payment_intent_id = {}", intent_id
        )
    assert found["clinic_id"] == theirs.id
    assert unknown[0]["clinic_id"] is None
    assert without_tenant == []
    async with db.tenant_transaction(ours.id):
        other_clinic = await db.fetch(
            "SELECT id FROM payment WHERE stripe_payment_intent_id = {}", intent_id
        )
    assert other_clinic == []
    async with db.tenant_transaction(theirs.id):
        own = await db.fetch(
            "SELECT id FROM payment WHERE stripe_payment_intent_id = {}", intent_id
        )
    assert len(own) == 1
