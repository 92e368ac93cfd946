"""Booking is locked (SPEC §6): racing requests for one slot give exactly one 201 and clean
409s, and the database's exclusion constraint alone refuses overlapping live appointments."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from datetime import datetime, timedelta

import asyncpg
import httpx
import pytest

from tests.api.appointment_fixtures import add_patient, book, local_start, open_all_day
from tests.api.auth_fixtures import PASSWORD, SeededClinic, _hasher, login, seed_clinic
from tests.conftest import client_for
from topsmile.core import db
from topsmile.core.constraints import constraint_problem
from topsmile.core.middleware import EdgeMiddleware
from topsmile.users.service import insert_user

RACERS = 100


async def _patients_signed_in(
    app: EdgeMiddleware, clinic: SeededClinic, stack: AsyncExitStack, count: int
) -> list[httpx.AsyncClient]:
    """`count` patient accounts with records, each signed in on its own client."""
    password_hash = await _hasher.hash(PASSWORD)
    emails = [f"racer{i}@{clinic.slug}.example.com" for i in range(count)]
    async with db.tenant_transaction(clinic.id):
        for email in emails:
            user = await insert_user(
                clinic.id,
                email=email,
                password_hash=password_hash,
                first_name="Racer",
                last_name="Patient",
                role="patient",
                email_verified=True,
            )
            await db.fetch(
                "INSERT INTO patient (clinic_id, user_id, first_name, last_name, email)"
                " VALUES ({}, {}, 'Racer', 'Patient', {})",
                clinic.id,
                user.id,
                email,
            )
    clients = []
    for email in emails:
        client = await stack.enter_async_context(client_for(app))
        response = await client.post(
            "/api/auth/login", json={"clinic": clinic.slug, "email": email, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        clients.append(client)
    return clients


async def test_a_hundred_patients_race_for_one_slot(app: EdgeMiddleware) -> None:
    clinic = await seed_clinic(("admin",))
    async with AsyncExitStack() as stack:
        admin = await stack.enter_async_context(client_for(app))
        await login(admin, clinic, "admin")
        sid, pid = await open_all_day(admin)
        racers = await _patients_signed_in(app, clinic, stack, RACERS)
        start = local_start(3, 10)
        responses = await asyncio.gather(*(book(c, sid, pid, start) for c in racers))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: RACERS - 1}
    losers = {r.json()["type"] for r in responses if r.status_code == 409}
    assert losers == {"/problems/slot-unavailable"}
    async with db.tenant_transaction(clinic.id):
        live = await db.fetch(
            "SELECT id FROM appointment WHERE provider_id = {} AND status = 'scheduled'",
            uuid.UUID(pid),
        )
    assert len(live) == 1


_INSERT = (
    "INSERT INTO appointment (clinic_id, patient_id, provider_id, service_id, starts_at,"
    " ends_at, occupied_start, occupied_end, status, price_amount, currency)"
    " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, 0, 'brl')"
)


async def _insert(
    clinic: SeededClinic,
    ids: tuple[uuid.UUID, uuid.UUID, uuid.UUID],
    start: datetime,
    status: str = "scheduled",
) -> None:
    """An appointment written straight to the database: no app lock, no slot check."""
    patient, provider, service = ids
    end = start + timedelta(minutes=30)
    async with db.tenant_transaction(clinic.id):
        await db.fetch(
            _INSERT, clinic.id, patient, provider, service, start, end, start, end, status
        )


async def _catalogue(app: EdgeMiddleware, clinic: SeededClinic) -> tuple[uuid.UUID, uuid.UUID]:
    async with client_for(app) as admin:
        await login(admin, clinic, "admin")
        sid, pid = await open_all_day(admin)
    return uuid.UUID(sid), uuid.UUID(pid)


async def test_the_exclusion_constraint_alone_refuses_overlapping_live_blocks(
    app: EdgeMiddleware,
) -> None:
    clinic = await seed_clinic(("admin",))
    sid, pid = await _catalogue(app, clinic)
    _, other_pid = await _catalogue(app, clinic)
    patient = await add_patient(clinic)
    start = local_start(3, 10)
    await _insert(clinic, (patient, pid, sid), start)
    with pytest.raises(asyncpg.ExclusionViolationError) as refused:
        await _insert(clinic, (patient, pid, sid), start + timedelta(minutes=29))
    answer = constraint_problem(refused.value)
    assert (answer.status, answer.code) == (409, "slot-unavailable")
    # Touching blocks, another provider, and cancelled or no-show appointments do not clash.
    await _insert(clinic, (patient, pid, sid), start + timedelta(minutes=30))
    await _insert(clinic, (patient, other_pid, sid), start)
    await _insert(clinic, (patient, pid, sid), start, status="cancelled")
    await _insert(clinic, (patient, pid, sid), start, status="no_show")


async def test_unlocked_concurrent_writers_still_get_one_winner(app: EdgeMiddleware) -> None:
    """The same race with the application's lock and check bypassed: raw inserts of
    overlapping blocks on separate connections; the constraint lets exactly one commit."""
    clinic = await seed_clinic(("admin",))
    sid, pid = await _catalogue(app, clinic)
    patient = await add_patient(clinic)
    start = local_start(3, 10)
    offsets = [timedelta(minutes=5 * i) for i in range(5)]  # every pair overlaps
    results = await asyncio.gather(
        *(_insert(clinic, (patient, pid, sid), start + o) for o in offsets),
        return_exceptions=True,
    )
    assert sum(r is None for r in results) == 1
    # A loser is refused by the constraint, or (inserts checking each other's uncommitted
    # rows) rolled back by PostgreSQL's deadlock detector: either way it wrote nothing. The
    # app's per-provider lock keeps its own bookings out of the second case.
    refused = (asyncpg.ExclusionViolationError, asyncpg.exceptions.DeadlockDetectedError)
    assert all(isinstance(r, refused) for r in results if r is not None), results
