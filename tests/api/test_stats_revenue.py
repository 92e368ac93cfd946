"""Stats revenue (SPEC §6) from the payments ledger: what succeeded and what Stripe
confirmed refunded, for the appointments starting in the range, in the clinic's currency."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from tests.api.auth_fixtures import SeededClinic, csrf
from tests.api.payment_fixtures import (
    PAYMENTS,
    charge_object,
    create_intent,
    deliver,
    intent_object,
    own_appointment,
)

STATS = "/api/scheduling/stats"


async def _revenue(client: httpx.AsyncClient, start: datetime, end: datetime) -> dict[str, object]:
    params = {"from": start.isoformat(), "to": end.isoformat()}
    response = await client.get(STATS, params=params)
    assert response.status_code == 200, response.text
    revenue: dict[str, object] = response.json()["revenue"]
    return revenue


async def test_revenue_counts_succeeded_payments_and_confirmed_refunds(
    payers: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin, patient = payers["admin"], payers["patient"]
    appointment_id = await own_appointment(clinic, payers)
    starts = datetime.fromisoformat(
        (await admin.get(f"/api/scheduling/appointments/{appointment_id}")).json()["start"]
    )
    day = (starts - timedelta(hours=1), starts + timedelta(hours=1))
    currency = (await admin.get("/api/clinic")).json()["currency"]

    created = await create_intent(patient, appointment_id)
    assert created.status_code == 201, created.text
    assert await _revenue(admin, *day) == {
        "paidAmount": 0,
        "refundedAmount": 0,
        "currency": currency,
    }  # an open intent is no revenue

    intent_id = created.json()["clientSecret"].split("_secret_")[0]
    payment_id = created.json()["paymentId"]
    assert (await deliver(patient, "payment_intent.succeeded", intent_object(intent_id))).is_success
    assert (await _revenue(admin, *day))["paidAmount"] == 15000

    refund = await admin.post(
        f"{PAYMENTS}/{payment_id}/refund", json={"amount": 5000}, headers=csrf(admin)
    )
    assert refund.status_code == 202, refund.text
    assert (await _revenue(admin, *day))["refundedAmount"] == 0  # asked, not yet confirmed
    await deliver(admin, "charge.refunded", charge_object(intent_id, 5000))
    assert await _revenue(admin, *day) == {
        "paidAmount": 15000,
        "refundedAmount": 5000,
        "currency": currency,
    }

    later = (starts + timedelta(hours=1), starts + timedelta(hours=3))
    assert (await _revenue(admin, *later))["paidAmount"] == 0  # another range, other appointments
