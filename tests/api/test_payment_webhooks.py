"""SPEC §8 payment webhooks, against a local Stripe-compatible server: signatures, each
event applied once and never backwards (redelivered, late, concurrent), and what the
payment events reach."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import msgspec

from tests.api.appointment_fixtures import APPOINTMENTS
from tests.api.auth_fixtures import SeededClinic
from tests.api.payment_fixtures import (
    PAYMENTS,
    create_intent,
    deliver,
    intent_object,
    outbox_events,
    own_appointment,
    paid_appointment,
)
from tests.support.smtp import LocalSmtp
from topsmile.config import Settings
from topsmile.core import db, rows
from topsmile.events.relay import _event_from_row
from topsmile.events.tables import OutboxRow
from topsmile.notifications.email import SmtpEmailSender
from topsmile.notifications.handlers import Notifier
from topsmile.notifications.sms import sms_sender

Clients = dict[str, httpx.AsyncClient]


def problem(response: httpx.Response) -> str:
    return str(response.json()["type"]).removeprefix("/problems/")


async def test_webhook_signatures_missing_forged_or_expired_are_400(
    payers: Clients, clinic: SeededClinic
) -> None:
    _, payment_id, intent_id = await paid_appointment(payers, clinic)
    anyone = payers["provider"]  # the webhook ignores sessions; any client may post
    succeeded = intent_object(intent_id)
    unsigned = await anyone.post(f"{PAYMENTS}/webhook", content=b"{}")
    forged = await deliver(anyone, "payment_intent.payment_failed", succeeded, secret="whsec_x")
    expired = await deliver(anyone, "payment_intent.payment_failed", succeeded, age_seconds=301)
    for response in (unsigned, forged, expired):
        assert (response.status_code, problem(response)) == (400, "validation-error")
    unknown = await deliver(anyone, "customer.created", {"id": "cus_1", "object": "customer"})
    assert unknown.status_code == 200
    no_id = await deliver(anyone, "balance.available", {"object": "balance", "available": []})
    assert no_id.status_code == 200
    not_ours = await deliver(anyone, "payment_intent.succeeded", intent_object("pi_elsewhere"))
    assert not_ours.status_code == 200
    fresh = await deliver(anyone, "payment_intent.processing", succeeded, age_seconds=200)
    assert fresh.status_code == 200
    shown = await payers["admin"].get(f"{PAYMENTS}/{payment_id}")
    assert shown.json()["status"] == "succeeded"


async def test_one_event_delivered_five_times_is_applied_once_with_one_receipt(
    payers: Clients, clinic: SeededClinic, settings: Settings
) -> None:
    appointment_id = await own_appointment(clinic, payers)
    created = await create_intent(payers["patient"], appointment_id)
    payment_id = created.json()["paymentId"]
    intent_id = created.json()["clientSecret"].split("_secret_")[0]
    for _ in range(5):
        ok = await deliver(
            payers["patient"],
            "payment_intent.succeeded",
            intent_object(intent_id),
            event_id="evt_5x",
        )
        assert ok.status_code == 200, ok.text
    appointment = await payers["admin"].get(f"{APPOINTMENTS}/{appointment_id}")
    assert appointment.json()["paymentStatus"] == "paid"
    [event] = await outbox_events(clinic.id, "payment.succeeded", payment_id)
    async with db.tenant_transaction(clinic.id):
        row = await rows.fetch_only(
            OutboxRow, "SELECT * FROM event_outbox WHERE id = {}", event["id"]
        )
    async with LocalSmtp() as smtp:
        mail = msgspec.structs.replace(
            settings,
            email_backend="smtp",
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_starttls=False,
        )
        notifier = Notifier(SmtpEmailSender(mail), sms_sender(settings), settings)
        for attempt in (1, 2):  # the relay may hand the event over again
            async with db.tenant_transaction(clinic.id):
                await notifier.email(_event_from_row(row), attempt)
    [receipt] = smtp.received
    assert receipt.message["To"] == "paula@example.com"
    assert "receipt" in receipt.message["Subject"].lower()
    assert payment_id in receipt.message.get_body(preferencelist=("plain",)).get_content()


async def test_a_late_failure_or_processing_never_moves_a_paid_payment_back(
    payers: Clients, clinic: SeededClinic
) -> None:
    appointment_id, payment_id, intent_id = await paid_appointment(payers, clinic)
    for kind in (
        "payment_intent.payment_failed",
        "payment_intent.processing",
        "payment_intent.canceled",
    ):
        late = await deliver(
            payers["patient"], kind, intent_object(intent_id, "requires_payment_method")
        )
        assert late.status_code == 200
    assert (await payers["admin"].get(f"{PAYMENTS}/{payment_id}")).json()["status"] == "succeeded"
    appointment = await payers["admin"].get(f"{APPOINTMENTS}/{appointment_id}")
    assert appointment.json()["paymentStatus"] == "paid"
    assert await outbox_events(clinic.id, "payment.failed", payment_id) == []


async def test_failure_then_processing_follow_the_intent_on_the_appointment(
    payers: Clients, clinic: SeededClinic
) -> None:
    appointment_id = await own_appointment(clinic, payers)
    created = await create_intent(payers["patient"], appointment_id)
    intent_id = created.json()["clientSecret"].split("_secret_")[0]
    payment_id = created.json()["paymentId"]

    async def statuses() -> tuple[str, str]:
        payment = await payers["admin"].get(f"{PAYMENTS}/{payment_id}")
        appointment = await payers["admin"].get(f"{APPOINTMENTS}/{appointment_id}")
        return payment.json()["status"], appointment.json()["paymentStatus"]

    await deliver(payers["patient"], "payment_intent.payment_failed", intent_object(intent_id))
    assert await statuses() == ("failed", "failed")
    assert len(await outbox_events(clinic.id, "payment.failed", payment_id)) == 1
    # A failed intent can still be paid: it is the open one, returned again.
    again = await create_intent(payers["patient"], appointment_id)
    assert (again.status_code, again.json()["paymentId"]) == (200, payment_id)
    await deliver(payers["patient"], "payment_intent.processing", intent_object(intent_id))
    assert await statuses() == ("processing", "processing")


async def test_concurrent_deliveries_of_one_event_are_applied_once(
    payers: Clients, clinic: SeededClinic
) -> None:
    appointment_id = await own_appointment(clinic, payers)
    created = await create_intent(payers["patient"], appointment_id)
    payment_id = created.json()["paymentId"]
    intent_id = created.json()["clientSecret"].split("_secret_")[0]
    event_id = "evt_" + uuid.uuid4().hex[:20]
    answers = await asyncio.gather(
        *(
            deliver(
                payers[role],
                "payment_intent.succeeded",
                intent_object(intent_id),
                event_id=event_id,
            )
            for role in ("patient", "admin", "manager", "receptionist", "provider")
        )
    )
    assert [a.status_code for a in answers] == [200] * 5
    assert len(await outbox_events(clinic.id, "payment.succeeded", payment_id)) == 1
    async with db.tenant_transaction(clinic.id):
        stored = await db.fetch("SELECT id FROM stripe_event WHERE payment_id = {}", payment_id)
    assert [r["id"] for r in stored] == [event_id]


async def test_an_older_event_delivered_again_after_a_newer_one_changes_nothing(
    payers: Clients, clinic: SeededClinic
) -> None:
    appointment_id = await own_appointment(clinic, payers)
    created = await create_intent(payers["patient"], appointment_id)
    payment_id = created.json()["paymentId"]
    intent = intent_object(created.json()["clientSecret"].split("_secret_")[0])
    patient = payers["patient"]
    await deliver(patient, "payment_intent.payment_failed", intent, event_id="evt_old_failure")
    await deliver(patient, "payment_intent.processing", intent, event_id="evt_new_processing")
    # Stripe retries the old failure (its first answer was lost): it was applied already.
    await deliver(patient, "payment_intent.payment_failed", intent, event_id="evt_old_failure")
    shown = await payers["admin"].get(f"{PAYMENTS}/{payment_id}")
    assert shown.json()["status"] == "processing"
    assert len(await outbox_events(clinic.id, "payment.failed", payment_id)) == 1


async def test_payment_events_reach_email_audit_and_the_refund_handler(
    payers: Clients, clinic: SeededClinic
) -> None:
    _, payment_id, _ = await paid_appointment(payers, clinic)
    [event] = await outbox_events(clinic.id, "payment.succeeded", payment_id)
    async with db.tenant_transaction(clinic.id):
        handlers = await db.fetch(
            "SELECT handler FROM event_delivery WHERE event_id = {}", event["id"]
        )
    assert {h["handler"] for h in handlers} == {"audit", "email", "payments"}
    assert event["entity_type"] == "payment"
    assert event["actor_id"] is None  # Stripe acts through the system actor
