"""Bookings, idempotency and event delivery hold across processes (issue 13; SPEC §1, §6,
§7): two `topsmile serve` processes and a `topsmile worker` (tests/concurrency/deployment.py).
An Idempotency-Key books once whichever server each copy reaches; overlapping bookings raced
through both servers never overlap; confirmations booked through both servers, relayed by
three competing relays, reach the SMTP server exactly once each."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.api.appointment_fixtures import (
    APPOINTMENTS,
    add_patient,
    book,
    local_start,
    open_all_day,
    provider_busy,
    until_someone_waits_for_a_lock,
)
from tests.api.auth_fixtures import SeededClinic, csrf, seed_clinic
from tests.concurrency.bookings import assert_clean, live_blocks, overlapping
from tests.concurrency.deployment import Deployment, problem_type
from tests.support.smtp import ReceivedMail
from topsmile.core import db

pytestmark = pytest.mark.usefixtures("app")

CONFIRMATIONS = 20


async def _post(client: httpx.AsyncClient, body: dict[str, Any], key: str) -> httpx.Response:
    return await client.post(
        APPOINTMENTS, json=body, headers={**csrf(client), "Idempotency-Key": key}
    )


async def _rows(clinic: SeededClinic, provider_id: str) -> int:
    async with db.tenant_transaction(clinic.id):
        [row] = await db.fetch(
            "SELECT count(*) AS n FROM appointment WHERE provider_id = {}", uuid.UUID(provider_id)
        )
    return int(row["n"])


async def test_an_idempotency_key_books_once_whichever_server_each_copy_reaches(
    deployment: Deployment,
) -> None:
    a = deployment.servers[0]
    clinic = await seed_clinic(("admin", "receptionist"))
    patient = str(await add_patient(clinic))
    async with AsyncExitStack() as stack:
        admin = await deployment.signed_in(stack, a, clinic, "admin")
        sid, pid = await open_all_day(admin)
        desk_a, desk_b = await deployment.signed_in_on_both(stack, clinic, "receptionist")

        def body(hour: int) -> dict[str, Any]:
            start = local_start(3, hour).isoformat()
            return {"serviceId": sid, "providerId": pid, "start": start, "patientId": patient}

        # One after the other: B replays what A answered; another body under the key is 422.
        key = f"seq-{uuid.uuid4()}"
        first = await _post(desk_a, body(8), key)
        assert first.status_code == 201, first.text
        replay = await _post(desk_b, body(8), key)
        assert (replay.status_code, replay.json()) == (201, first.json())
        reused = await _post(desk_b, {**body(8), "notes": "changed"}, key)
        assert reused.status_code == 422, reused.text
        assert problem_type(reused) == "/problems/idempotency-key-reused"

        # While A still works on a key, B answers 409 request-in-progress, then replays A's.
        key = f"busy-{uuid.uuid4()}"
        async with provider_busy(clinic.id, pid):
            waiting = asyncio.create_task(_post(desk_a, body(9), key))
            await until_someone_waits_for_a_lock()
            busy = await _post(desk_b, body(9), key)
            assert busy.status_code == 409, busy.text
            assert problem_type(busy) == "/problems/request-in-progress"
        done = await waiting
        assert done.status_code == 201, done.text
        assert (await _post(desk_b, body(9), key)).json() == done.json()

        # Both copies of each key at once: one booking, any second 201 is its replay.
        keys = [f"race-{uuid.uuid4()}" for _ in range(4)]
        pairs = await asyncio.gather(
            *(
                asyncio.gather(_post(desk_a, body(10 + n), k), _post(desk_b, body(10 + n), k))
                for n, k in enumerate(keys)
            )
        )
        for pair in pairs:
            made = [r.json() for r in pair if r.status_code == 201]
            assert made, [r.text for r in pair]
            assert all(m == made[0] for m in made)
            for other in pair:
                if other.status_code != 201:
                    assert problem_type(other) == "/problems/request-in-progress", other.text
    assert await _rows(clinic, pid) == 2 + len(keys)


async def test_overlapping_bookings_raced_through_both_servers_never_overlap(
    deployment: Deployment,
) -> None:
    a, b = deployment.servers
    clinic = await seed_clinic(("admin", "receptionist"))
    patient = str(await add_patient(clinic))
    async with AsyncExitStack() as stack:
        admin = await deployment.signed_in(stack, a, clinic, "admin")
        sid, pid = await open_all_day(admin)
        desks = [await deployment.signed_in(stack, s, clinic, "receptionist") for s in (a, b)]
        # Sixteen 30-minute bookings, a start every 5 minutes, each asked of both servers.
        starts = [local_start(4, 10) + timedelta(minutes=5 * (n % 8)) for n in range(16)]
        raced = await asyncio.gather(
            *(book(desks[n % 2], sid, pid, at, patientId=patient) for n, at in enumerate(starts))
        )
    statuses = assert_clean(raced, 201)
    blocks = await live_blocks(clinic, pid)
    assert overlapping(blocks) == []
    assert statuses[201] == len(blocks) >= 1
    assert {b[0] for b in blocks} == {
        uuid.UUID(r.json()["id"]) for r in raced if r.status_code == 201
    }


async def _patients_with_email(clinic: SeededClinic, count: int) -> dict[str, str]:
    """Patient records with an email address and no phone: {id: email}."""
    patients = {}
    async with db.tenant_transaction(clinic.id):
        for n in range(count):
            address = f"p{n}-{uuid.uuid4().hex[:8]}@example.com"
            [row] = await db.fetch(
                "INSERT INTO patient (clinic_id, first_name, last_name, email)"
                " VALUES ({}, {}, 'Doe', {}) RETURNING id",
                clinic.id,
                f"Pat{n}",
                address,
            )
            patients[str(row["id"])] = address
    return patients


async def _deliveries(clinic: SeededClinic, appointment_ids: list[str]) -> list[Any]:
    """Every delivery row of these appointments' `appointment.created` events."""
    async with db.tenant_transaction(clinic.id):
        return await db.fetch(
            "SELECT e.entity_id, d.event_id, d.handler, d.status, d.attempts"
            " FROM event_delivery d JOIN event_outbox e ON e.id = d.event_id"
            " WHERE e.name = 'appointment.created' AND e.entity_id = ANY({}::text[])",
            appointment_ids,
        )


async def _wait_all_delivered(clinic: SeededClinic, appointment_ids: list[str]) -> list[Any]:
    deadline = time.monotonic() + 60
    while True:
        rows = await _deliveries(clinic, appointment_ids)
        open_rows = [r for r in rows if r["status"] != "delivered"]
        if rows and not open_rows:
            return rows
        assert time.monotonic() < deadline, f"{len(open_rows)} deliveries still open"
        await asyncio.sleep(0.2)


async def _wait_for_mails(
    deployment: Deployment, addresses: set[str], count: int
) -> list[ReceivedMail]:
    """The confirmations to these addresses, once at least `count` have arrived."""
    deadline = time.monotonic() + 60
    while True:
        mails = [
            m
            for m in deployment.smtp.received
            if set(m.recipients) & addresses
            and str(m.message["Subject"]).startswith("Appointment confirmed")
        ]
        if len(mails) >= count:
            return mails
        assert time.monotonic() < deadline, f"{len(mails)} of {count} confirmations arrived"
        await asyncio.sleep(0.2)


async def test_confirmations_booked_on_both_servers_go_out_once_through_three_relays(
    deployment: Deployment,
) -> None:
    a, b = deployment.servers
    clinic = await seed_clinic(("admin", "receptionist"))
    patients = await _patients_with_email(clinic, CONFIRMATIONS)
    async with AsyncExitStack() as stack:
        admin = await deployment.signed_in(stack, a, clinic, "admin")
        sid, pid = await open_all_day(admin)
        desk = await deployment.signed_in(stack, b, clinic, "receptionist")
        first = local_start(3, 8)
        booked = await asyncio.gather(
            *(
                book((admin, desk)[n % 2], sid, pid, first + timedelta(minutes=30 * n), patientId=p)
                for n, p in enumerate(patients)
            )
        )
    assert [r.status_code for r in booked] == [201] * CONFIRMATIONS, [r.text for r in booked]
    made = {r.json()["id"]: r.json()["patientId"] for r in booked}

    # Serve A, serve B and the worker all relay: each (event, handler) was claimed once.
    rows = await _wait_all_delivered(clinic, list(made))
    events = {r["entity_id"]: r["event_id"] for r in rows}
    assert set(events) == set(made)
    assert Counter(r["handler"] for r in rows)["email"] == CONFIRMATIONS
    assert [r for r in rows if r["attempts"] != 1] == []

    mails = await _wait_for_mails(deployment, set(patients.values()), CONFIRMATIONS)
    assert Counter(m.recipients[0] for m in mails) == Counter(patients.values())
    for appointment_id, patient_id in made.items():
        [mail] = [m for m in mails if m.recipients == [patients[patient_id]]]
        assert mail.message["X-Event-ID"] == str(events[appointment_id])
    async with db.tenant_transaction(clinic.id):
        sent = await db.fetch(
            "SELECT event_id, status FROM notification"
            " WHERE event_id = ANY({}::uuid[]) AND channel = 'email'",
            list(events.values()),
        )
        audited = await db.fetch(
            "SELECT event_id FROM audit_log WHERE event_id = ANY({}::uuid[])",
            list(events.values()),
        )
    assert sorted(r["event_id"] for r in sent) == sorted(events.values())
    assert {r["status"] for r in sent} == {"sent"}
    assert sorted(r["event_id"] for r in audited) == sorted(events.values())
