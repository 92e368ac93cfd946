"""Booking fixtures: a service and provider open all day, patients with records, and starts
on the clinic's grid (America/Sao_Paulo, a 15-minute interval)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx

from tests.api.auth_fixtures import SeededClinic, csrf
from tests.api.test_availability import ALL_DAY, SAO_PAULO, local_today, new_provider, new_service
from topsmile.core import db

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
