"""SPEC §5: time off over live appointments answers 409 with their ids in `conflicts`."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.api.appointment_fixtures import act, add_patient, book, local_start, open_all_day
from tests.api.auth_fixtures import SeededClinic, csrf


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
