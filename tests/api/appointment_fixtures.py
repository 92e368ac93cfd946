"""Booking fixtures: a service and provider open all day, patients with records, and starts
on the clinic's grid (America/Sao_Paulo, a 15-minute interval)."""

from __future__ import annotations

import asyncio
import time as clock
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx

from tests.api.auth_fixtures import SeededClinic, csrf
from tests.api.test_availability import ALL_DAY, SAO_PAULO, local_today, new_provider, new_service
from topsmile.core import db
from topsmile.scheduling.booking import lock_provider

APPOINTMENTS = "/api/scheduling/appointments"


def local_start(days: int, hour: int, minute: int = 0) -> datetime:
    """`days` after today at `hour:minute` clinic time, as an aware UTC instant."""
    day = local_today() + timedelta(days=days)
    return datetime.combine(day, time(hour, minute), SAO_PAULO).astimezone(UTC)


def soon(minutes: int) -> datetime:
    """The first 5-minute boundary at least `minutes` from now (a valid staff start)."""
    at = datetime.now(UTC) + timedelta(minutes=minutes)
    return at.replace(second=0, microsecond=0) + timedelta(minutes=5 - at.minute % 5)


async def open_all_day(admin: httpx.AsyncClient, **service: Any) -> tuple[str, str]:
    """A 30-minute service and a provider offering it around the clock: (service, provider)."""
    sid = await new_service(admin, **service)
    return sid, await new_provider(admin, [sid], ALL_DAY)


async def add_patient(clinic: SeededClinic, first_name: str = "Pia") -> uuid.UUID:
    """A patient record without an account (staff book for them)."""
    async with db.tenant_transaction(clinic.id):
        [row] = await db.fetch(
            "INSERT INTO patient (clinic_id, first_name, last_name) VALUES ({}, {}, 'Doe')"
            " RETURNING id",
            clinic.id,
            first_name,
        )
    patient_id: uuid.UUID = row["id"]
    return patient_id


async def book(
    client: httpx.AsyncClient, sid: str, pid: str, start: datetime, **extra: Any
) -> httpx.Response:
    body = {"serviceId": sid, "providerId": pid, "start": start.isoformat(), **extra}
    return await client.post(APPOINTMENTS, json=body, headers=csrf(client))


async def act(
    client: httpx.AsyncClient, appointment_id: str, action: str, body: Any = None
) -> httpx.Response:
    url = f"{APPOINTMENTS}/{appointment_id}/{action}"
    if body is None:
        return await client.post(url, headers=csrf(client))
    return await client.post(url, json=body, headers=csrf(client))


@asynccontextmanager
async def provider_busy(clinic_id: uuid.UUID, provider_id: str) -> AsyncIterator[None]:
    """Hold the provider's booking lock (`booking.lock_provider`) from here, as another
    booking of that provider in progress would."""
    held, done = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with db.tenant_transaction(clinic_id):
            await lock_provider(uuid.UUID(provider_id))
            held.set()
            await done.wait()

    holder = asyncio.create_task(hold())
    await held.wait()
    try:
        yield
    finally:
        done.set()
        await holder


async def until_someone_waits_for_a_lock(seconds: float = 30.0) -> None:
    """Until a transaction waits for an advisory lock (a booking queued behind another)."""
    deadline = clock.monotonic() + seconds
    while True:
        rows = await db.fetch(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
            " AND NOT granted) AS waiting"
        )
        if rows[0]["waiting"]:
            return
        assert clock.monotonic() < deadline, "no request ever waited for the booking lock"
        await asyncio.sleep(0.01)
