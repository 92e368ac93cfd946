"""Booking is locked on any number of processes (SPEC §6): two `topsmile serve` processes on
one PostgreSQL and Redis, receptionists on both racing overlapping bookings and reschedules
of one provider. Every answer is a success or a clean 409, and the database never holds two
live appointments of the provider whose occupied blocks overlap."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.api.appointment_fixtures import act, add_patient, book, local_start, open_all_day
from tests.api.auth_fixtures import login, seed_clinic
from tests.concurrency.bookings import assert_clean, live_blocks, overlapping
from tests.support.serve import serve_env, serving
from topsmile.config import Settings
from topsmile.core import db

pytestmark = pytest.mark.usefixtures("app")

STARTS = 12  # every 5 minutes across an hour; the service lasts 30 minutes
RACERS = 60  # five requests per start, spread over both processes


async def test_two_processes_racing_overlapping_bookings_and_reschedules_never_overlap(
    settings: Settings, tmp_path: Path
) -> None:
    clinic = await seed_clinic(("admin", "receptionist"))
    patient = str(await add_patient(clinic))
    env = serve_env(settings)
    async with AsyncExitStack() as stack:
        servers = [
            await stack.enter_async_context(serving(env, tmp_path / f"serve-{n}.log"))
            for n in range(2)
        ]
        admin = await stack.enter_async_context(httpx.AsyncClient(base_url=servers[0]))
        await login(admin, clinic, "admin")
        sid, pid = await open_all_day(admin)
        desks = []
        for base_url in servers:  # a receptionist signed in on each process
            desk = await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=60))
            await login(desk, clinic, "receptionist")
            desks.append(desk)

        # 1. Sixty bookings, starts every 5 minutes across an hour, each start asked of both
        # processes, all fired at once: most pairs of them overlap.
        first = local_start(3, 10)
        starts = [first + timedelta(minutes=5 * (i % STARTS)) for i in range(RACERS)]
        booked = await asyncio.gather(
            *(
                book(desks[(i // STARTS) % 2], sid, pid, start, patientId=patient)
                for i, start in enumerate(starts)
            )
        )
        statuses = assert_clean(booked, 201)
        blocks = await live_blocks(clinic, pid)
        assert overlapping(blocks) == []
        winners = {uuid.UUID(r.json()["id"]) for r in booked if r.status_code == 201}
        assert statuses[201] == len(blocks) >= 1
        assert {b[0] for b in blocks} == winners
        # A 409 was never a lost slot: each refused start overlaps a winner's block.
        half_hour = timedelta(minutes=30)
        for start, answer in zip(starts, booked, strict=True):
            if answer.status_code == 409:
                assert any(s < start + half_hour and start < e for _, s, e in blocks), start

        # 2. Twelve appointments an hour apart, each moved twice at once (once through each
        # process) into another overlapping hour, each target asked for twice.
        moving = []
        for k in range(STARTS):
            made = await book(desks[k % 2], sid, pid, local_start(4, 8 + k), patientId=patient)
            assert made.status_code == 201, made.text
            moving.append(made.json())
        target = local_start(5, 10)
        requests = [
            (k, j, target + timedelta(minutes=5 * ((k + 6 * j) % STARTS)))
            for k in range(STARTS)
            for j in range(2)
        ]
        moved = await asyncio.gather(
            *(
                act(desks[j], moving[k]["id"], "reschedule", {"start": at.isoformat()})
                for k, j, at in requests
            )
        )
        statuses = assert_clean(moved, 200)
        blocks = await live_blocks(clinic, pid)
        assert overlapping(blocks) == []
        assert len(blocks) == len(winners) + STARTS  # a move never adds or drops a row
        for k, appointment in enumerate(moving):
            got = await desks[1].get(f"/api/scheduling/appointments/{appointment['id']}")
            now_at = datetime.fromisoformat(got.json()["start"])
            won = [
                at
                for (i, _, at), r in zip(requests, moved, strict=True)
                if i == k and r.status_code == 200
            ]
            assert now_at in won if won else now_at == datetime.fromisoformat(appointment["start"])
        async with db.tenant_transaction(clinic.id):
            rows = await db.fetch(
                "SELECT count(*) AS n FROM appointment_history"
                " WHERE action = 'rescheduled' AND appointment_id = ANY({}::uuid[])",
                [uuid.UUID(a["id"]) for a in moving],
            )
        assert rows[0]["n"] == statuses[200] >= 1
