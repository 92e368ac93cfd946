"""SPEC §8 payments through the API, against a local Stripe-compatible server that the real
`stripe` SDK talks to: intents and their idempotency, the signed webhook applied once and
never backwards, refunds (asked and automatic on cancellation), Stripe outages, roles."""

from __future__ import annotations

import httpx
import msgspec

from tests.api.appointment_fixtures import APPOINTMENTS, act, add_patient, book, local_start
from tests.api.auth_fixtures import SeededClinic, csrf
from tests.api.payment_fixtures import (
    PAYMENTS,
    charge_object,
    create_intent,
    deliver,
    intent_object,
    outbox_events,
    own_appointment,
    paid_appointment,
)
from tests.support.stripe import LocalStripe
from topsmile.config import Settings
from topsmile.core import db, rows
from topsmile.events.relay import _event_from_row
from topsmile.events.tables import OutboxRow
from topsmile.payments.refunds import CancellationRefunds

Clients = dict[str, httpx.AsyncClient]


def problem(response: httpx.Response) -> str:
    return str(response.json()["type"]).removeprefix("/problems/")


async def test_intent_takes_the_price_and_a_key_derived_from_the_payment(
    payers: Clients, clinic: SeededClinic, stripe_api: LocalStripe
) -> None:
    patient, staff = payers["patient"], payers["receptionist"]
    appointment_id = await own_appointment(clinic, payers)
    created = await create_intent(patient, appointment_id)
    assert created.status_code == 201, created.text
    body = created.json()
    payment_id = body["paymentId"]
    assert (body["amount"], body["currency"], body["status"]) == (15000, "brl", "requires_payment")
    [intent] = stripe_api.intents
    assert body["clientSecret"] == intent["client_secret"]
    assert (intent["amount"], intent["currency"]) == (15000, "brl")
    assert intent["metadata"] == {
        "clinicId": str(clinic.id),
        "appointmentId": appointment_id,
        "paymentId": payment_id,
        "requestId": created.headers["X-Request-ID"],
    }
    [(method, path, key)] = stripe_api.requests
    assert (method, path, key) == ("POST", "/v1/payment_intents", f"topsmile-pi-{payment_id}")

    # The open intent again, for the patient and for the front desk: no second PaymentIntent.
    again = await create_intent(patient, appointment_id)
    by_staff = await create_intent(staff, appointment_id)
    assert (again.status_code, by_staff.status_code) == (200, 200)
    assert again.json() == body == by_staff.json()
    assert len(stripe_api.intents) == 1

    shown = await staff.get(f"{PAYMENTS}/{payment_id}")
    assert shown.status_code == 200
    assert shown.json()["stripePaymentIntentId"] == intent["id"]
    assert shown.json()["amountRefunded"] == 0
    listed = await patient.get(PAYMENTS, params={"appointmentId": appointment_id})
    assert [p["id"] for p in listed.json()["items"]] == [payment_id]
    assert listed.json()["total"] == 1


async def test_an_idempotency_key_replays_the_first_answer(
    payers: Clients, clinic: SeededClinic, stripe_api: LocalStripe
) -> None:
    appointment_id = await own_appointment(clinic, payers)
    first = await create_intent(payers["patient"], appointment_id, key="pay-1")
    replay = await create_intent(payers["patient"], appointment_id, key="pay-1")
    assert (first.status_code, replay.status_code) == (201, 201)
    assert first.json() == replay.json()
    assert len(stripe_api.intents) == 1


async def test_refusals_paid_free_cancelled_roles_and_others_appointments(
    payers: Clients, clinic: SeededClinic, client: httpx.AsyncClient
) -> None:
    appointment_id, _, _ = await paid_appointment(payers, clinic)
    paid = await create_intent(payers["patient"], appointment_id)
    assert (paid.status_code, problem(paid)) == (409, "conflict")
    provider = await create_intent(payers["provider"], appointment_id)
    assert (provider.status_code, problem(provider)) == (403, "forbidden")
    assert (await payers["provider"].get(PAYMENTS)).status_code == 403

    sid, pid = await _free_service(payers)
    free = await book(payers["patient"], sid, pid, local_start(5, 10))
    nothing = await create_intent(payers["patient"], free.json()["id"])
    assert (nothing.status_code, problem(nothing)) == (422, "nothing-to-pay")

    other = await add_patient(clinic, "Otto")
    booked = await book(
        payers["admin"], *(await _priced(payers)), local_start(6, 10), patientId=str(other)
    )
    theirs = booked.json()["id"]
    hidden = await create_intent(payers["patient"], theirs)
    assert (hidden.status_code, problem(hidden)) == (404, "not-found")
    cancelled = await act(payers["admin"], theirs, "cancel")
    assert cancelled.status_code == 200
    over = await create_intent(payers["admin"], theirs)
    assert (over.status_code, problem(over)) == (409, "conflict")
    # Nothing was recorded for any refusal.
    listed = await payers["admin"].get(PAYMENTS)
    assert listed.json()["total"] == 1


async def _free_service(clients: Clients) -> tuple[str, str]:
    from tests.api.appointment_fixtures import open_all_day

    return await open_all_day(clients["admin"], priceAmount=0)


async def _priced(clients: Clients) -> tuple[str, str]:
    from tests.api.appointment_fixtures import open_all_day

    return await open_all_day(clients["admin"], priceAmount=9000)


async def test_without_stripe_configured_payments_answer_503(
    as_role: Clients, clinic: SeededClinic
) -> None:
    appointment_id = await own_appointment(clinic, as_role)
    refused = await create_intent(as_role["patient"], appointment_id)
    assert (refused.status_code, problem(refused)) == (503, "service-unavailable")
    webhook = await as_role["patient"].post(
        f"{PAYMENTS}/webhook", content=b"{}", headers={"Stripe-Signature": "t=1,v1=00"}
    )
    assert (webhook.status_code, problem(webhook)) == (503, "service-unavailable")
    assert (await as_role["admin"].get(PAYMENTS)).json()["total"] == 0


async def test_a_stripe_500_or_hang_is_503_and_the_retry_reuses_the_same_intent(
    payers: Clients, clinic: SeededClinic, stripe_api: LocalStripe
) -> None:
    patient = payers["patient"]
    appointment_id = await own_appointment(clinic, payers)
    stripe_api.fail_next(1)
    down = await create_intent(patient, appointment_id)
    assert (down.status_code, problem(down)) == (503, "service-unavailable")
    assert int(down.headers["Retry-After"]) > 0
    [waiting] = (await payers["admin"].get(PAYMENTS)).json()["items"]
    assert (waiting["status"], waiting["stripePaymentIntentId"]) == ("requires_payment", None)

    # A hang past the client's timeout: Stripe made the intent, we never heard of it.
    stripe_api.delay(6.5)
    hung = await create_intent(patient, appointment_id)
    assert (hung.status_code, problem(hung)) == (503, "service-unavailable")
    stripe_api.delay(0)
    retried = await create_intent(patient, appointment_id)
    assert retried.status_code == 201, retried.text
    assert retried.json()["paymentId"] == waiting["id"]
    assert len(stripe_api.intents) == 1  # the one the hung call created, replayed
    keys = {key for method, _, key in stripe_api.requests if method == "POST"}
    assert keys == {f"topsmile-pi-{waiting['id']}"}
    assert retried.json()["clientSecret"] == stripe_api.intents[0]["client_secret"]


async def test_staff_refunds_with_cumulative_keys_and_stripe_confirms_them(
    payers: Clients, clinic: SeededClinic, stripe_api: LocalStripe
) -> None:
    appointment_id, payment_id, intent_id = await paid_appointment(payers, clinic)
    url = f"{PAYMENTS}/{payment_id}/refund"
    admin = payers["admin"]
    for role in ("receptionist", "provider", "patient"):
        refused = await payers[role].post(url, json={"amount": 100}, headers=csrf(payers[role]))
        assert refused.status_code == 403, role
    part = await admin.post(url, json={"amount": 5000, "reason": "Discount"}, headers=csrf(admin))
    assert part.status_code == 202, part.text
    assert part.json()["status"] == "succeeded"  # until Stripe confirms
    too_much = await admin.post(url, json={"amount": 10001}, headers=csrf(admin))
    assert (too_much.status_code, too_much.json()["errors"][0]["field"]) == (400, "amount")
    rest = await admin.post(url, headers=csrf(admin))  # no body: all that remains
    assert rest.status_code == 202, rest.text
    assert [r["amount"] for r in stripe_api.refunds] == [5000, 10000]
    refund_keys = [key for _, path, key in stripe_api.requests if path == "/v1/refunds"]
    assert refund_keys == [f"topsmile-re-{payment_id}-5000", f"topsmile-re-{payment_id}-15000"]
    nothing_left = await admin.post(url, headers=csrf(admin))
    assert (nothing_left.status_code, problem(nothing_left)) == (409, "conflict")

    await deliver(admin, "charge.refunded", charge_object(intent_id, 5000))
    shown = (await admin.get(f"{PAYMENTS}/{payment_id}")).json()
    assert (shown["status"], shown["amountRefunded"]) == ("partially_refunded", 5000)
    await deliver(admin, "charge.refunded", charge_object(intent_id, 15000))
    await deliver(admin, "charge.refunded", charge_object(intent_id, 5000))  # late, older
    shown = (await admin.get(f"{PAYMENTS}/{payment_id}")).json()
    assert (shown["status"], shown["amountRefunded"]) == ("refunded", 15000)
    appointment = await admin.get(f"{APPOINTMENTS}/{appointment_id}")
    assert appointment.json()["paymentStatus"] == "refunded"
    refunded = await outbox_events(clinic.id, "payment.refunded", payment_id)
    assert [msgspec.json.decode(e["payload"])["amount"] for e in refunded] == [5000, 10000]


async def _run_cancellation_handler(
    settings: Settings,
    clinic: SeededClinic,
    entity_id: str,
    *,
    commit: bool = True,
    name: str = "appointment.cancelled",
) -> None:
    """The `payments` handler on the clinic's `name` event of `entity_id`, as the relay runs
    it (in the clinic's transaction; `commit=False`: a relay that crashed before commit)."""
    [event] = await outbox_events(clinic.id, name, entity_id)
    async with db.tenant_transaction(clinic.id):
        row = await rows.fetch_only(
            OutboxRow, "SELECT * FROM event_outbox WHERE id = {}", event["id"]
        )
    handler = CancellationRefunds(settings)

    class Crash(Exception):
        pass

    try:
        async with db.tenant_transaction(clinic.id):
            await handler.handle(_event_from_row(row), 1)
            if not commit:
                raise Crash
    except Crash:
        pass


async def test_cancelling_a_paid_appointment_refunds_it_in_full_once(
    payers: Clients, clinic: SeededClinic, stripe_api: LocalStripe, pay_app: object
) -> None:
    appointment_id, payment_id, _ = await paid_appointment(payers, clinic)
    cancelled = await act(payers["patient"], appointment_id, "cancel", {"reason": "Travel"})
    assert cancelled.status_code == 200, cancelled.text
    configured = pay_app.app.state.runtime.settings  # type: ignore[attr-defined]
    # A relay that crashed before committing runs the handler again: the same refund key.
    await _run_cancellation_handler(configured, clinic, appointment_id, commit=False)
    await _run_cancellation_handler(configured, clinic, appointment_id)
    await _run_cancellation_handler(configured, clinic, appointment_id)
    assert [r["amount"] for r in stripe_api.refunds] == [15000]
    refund_keys = {key for _, path, key in stripe_api.requests if path == "/v1/refunds"}
    assert refund_keys == {f"topsmile-re-{payment_id}-15000"}


async def test_patients_see_only_their_own_payments(payers: Clients, clinic: SeededClinic) -> None:
    await own_appointment(clinic, payers)
    other = await add_patient(clinic, "Otto")
    booked = await book(
        payers["admin"], *(await _priced(payers)), local_start(6, 11), patientId=str(other)
    )
    theirs = await create_intent(payers["receptionist"], booked.json()["id"])
    assert theirs.status_code == 201, theirs.text
    their_payment = theirs.json()["paymentId"]
    patient = payers["patient"]
    assert (await patient.get(f"{PAYMENTS}/{their_payment}")).status_code == 404
    assert (await patient.get(PAYMENTS)).json() == {
        "items": [],
        "total": 0,
        "page": 1,
        "pageSize": 20,
    }
    assert (await payers["manager"].get(f"{PAYMENTS}/{their_payment}")).status_code == 200


async def test_a_payment_that_succeeds_after_its_appointment_was_cancelled_is_refunded(
    payers: Clients, clinic: SeededClinic, stripe_api: LocalStripe, pay_app: object
) -> None:
    appointment_id = await own_appointment(clinic, payers)
    created = await create_intent(payers["patient"], appointment_id)
    payment_id = created.json()["paymentId"]
    intent_id = created.json()["clientSecret"].split("_secret_")[0]
    assert (await act(payers["admin"], appointment_id, "cancel")).status_code == 200
    configured = pay_app.app.state.runtime.settings  # type: ignore[attr-defined]
    await _run_cancellation_handler(configured, clinic, appointment_id)
    assert stripe_api.refunds == []  # nothing was paid yet
    await deliver(payers["patient"], "payment_intent.succeeded", intent_object(intent_id))
    await _run_cancellation_handler(configured, clinic, payment_id, name="payment.succeeded")
    [refund] = stripe_api.refunds
    assert (refund["amount"], refund["payment_intent"]) == (15000, intent_id)
