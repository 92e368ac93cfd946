"""SPEC §5: time off over live appointments answers 409 with their ids in `conflicts`."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import asyncpg
import httpx
import pytest

from tests.api.appointment_fixtures import act, add_patient, book, local_start, open_all_day
from tests.api.auth_fixtures import SeededClinic, csrf
from topsmile.core import db
from topsmile.scheduling.booking import lock_provider
from topsmile.scheduling.schemas import MAX_OCCUPIED


async def test_time_off_over_live_appointments_is_409_with_their_ids(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin, staff = as_role["admin"], as_role["receptionist"]
    patient = str(await add_patient(clinic))
    sid, pid = await open_all_day(admin, bufferAfterMinutes=15)
    first = (await book(staff, sid, pid, local_start(3, 9), patientId=patient)).json()["id"]
    second = (await book(staff, sid, pid, local_start(3, 11), patientId=patient)).json()["id"]
    cancelled = (await book(staff, sid, pid, local_start(3, 14), patientId=patient)).json()["id"]
    assert (await act(staff, cancelled, "cancel")).status_code == 200
    url = f"/api/scheduling/providers/{pid}/time-off"

    async def time_off(start: int, end: int, minute: int = 0) -> httpx.Response:
        body = {
            "start": local_start(3, start, minute).isoformat(),
            "end": local_start(3, end).isoformat(),
        }
        return await admin.post(url, json=body, headers=csrf(admin))

    clash = await time_off(8, 12)
    assert clash.status_code == 409
    assert clash.json()["type"] == "/problems/conflict"
    assert clash.json()["conflicts"] == [first, second]
    # The 09:00 appointment's cleanup buffer runs to 09:45: that counts too.
    buffer = await time_off(9, 10, minute=40)
    assert buffer.status_code == 409
    assert buffer.json()["conflicts"] == [first]
    assert (await admin.get(url)).json() == []  # nothing was stored
    # A cancelled appointment does not stand in the way, nor does the end of a block.
    free = await time_off(13, 16)
    assert free.status_code == 201, free.text
    after = await admin.post(
        url,
        json={
            "start": (local_start(3, 9) + timedelta(minutes=45)).isoformat(),
            "end": local_start(3, 10).isoformat(),
        },
        headers=csrf(admin),
    )
    assert after.status_code == 201, after.text


async def test_time_off_racing_a_booking_waits_for_it_and_sees_it(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    """A booking holds the provider's lock and then inserts (its foreign key share-locks the
    provider row); time off arriving meanwhile waits for the lock before locking the row, so
    the two never deadlock, and it then sees the new appointment: 409 with its id."""
    admin = as_role["admin"]
    patient = await add_patient(clinic)
    sid, pid = await open_all_day(admin)
    waiting, go = asyncio.Event(), asyncio.Event()
    start = local_start(3, 9)

    async def booking_in_progress() -> uuid.UUID:
        async with db.tenant_transaction(clinic.id):
            await lock_provider(uuid.UUID(pid))
            waiting.set()
            await go.wait()
            [row] = await db.fetch(
                "INSERT INTO appointment (clinic_id, patient_id, provider_id, service_id,"
                " starts_at, ends_at, occupied_start, occupied_end, status, price_amount,"
                " currency) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, 'scheduled', 0, 'brl')"
                " RETURNING id",
                clinic.id,
                patient,
                uuid.UUID(pid),
                uuid.UUID(sid),
                start,
                start + timedelta(minutes=30),
                start,
                start + timedelta(minutes=30),
            )
        appointment_id: uuid.UUID = row["id"]
        return appointment_id

    booking = asyncio.create_task(booking_in_progress())
    await waiting.wait()
    body = {"start": local_start(3, 8).isoformat(), "end": local_start(3, 12).isoformat()}
    url = f"/api/scheduling/providers/{pid}/time-off"
    time_off = asyncio.create_task(admin.post(url, json=body, headers=csrf(admin)))
    for _ in range(500):  # until the time off waits for the provider's lock
        if await _waits_for_a_lock():
            break
        await asyncio.sleep(0.01)
    go.set()
    appointment_id = await booking
    answer = await time_off
    assert answer.status_code == 409, answer.text
    assert answer.json()["conflicts"] == [str(appointment_id)]


async def _waits_for_a_lock() -> bool:
    rows = await db.fetch(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)"
        " AS waiting"
    )
    return bool(rows[0]["waiting"])


async def test_the_longest_block_reaches_time_off_that_starts_near_its_end(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    """Reads of a provider's blocks start at most `MAX_OCCUPIED` (16 h) before the window:
    the longest block the catalogue allows (480 min + two 240-min buffers) still counts."""
    admin, staff = as_role["admin"], as_role["receptionist"]
    patient = str(await add_patient(clinic))
    longest = {"durationMinutes": 480, "bufferBeforeMinutes": 240, "bufferAfterMinutes": 240}
    sid, pid = await open_all_day(admin, **longest)
    booked = await book(staff, sid, pid, local_start(3, 8), patientId=patient)
    assert booked.status_code == 201, booked.text  # occupies 04:00 to 20:00
    body = {"start": local_start(3, 19, 30).isoformat(), "end": local_start(3, 21).isoformat()}
    clash = await admin.post(
        f"/api/scheduling/providers/{pid}/time-off", json=body, headers=csrf(admin)
    )
    assert clash.status_code == 409, clash.text
    assert clash.json()["conflicts"] == [booked.json()["id"]]


async def test_no_block_longer_than_max_occupied_can_be_stored(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    """The database holds every row, however written, to the bound the block reads rely on."""
    patient = await add_patient(clinic)
    sid, pid = await open_all_day(as_role["admin"])
    start = local_start(3, 2)

    async def insert(length: timedelta) -> None:
        async with db.tenant_transaction(clinic.id):
            await db.fetch(
                "INSERT INTO appointment (clinic_id, patient_id, provider_id, service_id,"
                " starts_at, ends_at, occupied_start, occupied_end, status, price_amount,"
                " currency) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, 'cancelled', 0, 'brl')",
                *(clinic.id, patient, uuid.UUID(pid), uuid.UUID(sid)),
                *(start, start + timedelta(minutes=30), start, start + length),
            )

    await insert(MAX_OCCUPIED)
    with pytest.raises(asyncpg.CheckViolationError) as refused:
        await insert(MAX_OCCUPIED + timedelta(microseconds=1))
    assert refused.value.constraint_name == "appointment_block_length_check"
