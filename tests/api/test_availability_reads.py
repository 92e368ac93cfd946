"""Availability's reads (issue 10): one query in one transaction, and what it reads is what
booking wrote: a booked start and its neighbours leave the list at once and come back when
the appointment is cancelled."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.api.appointment_fixtures import act, add_patient, book, local_start, open_all_day
from tests.api.auth_fixtures import SeededClinic
from tests.api.test_availability import instants, local_today, slots_of
from tests.api.test_request_path import _on_every_pooled_connection


def minutes_after(start: datetime, *offsets: int) -> set[datetime]:
    return {start + timedelta(minutes=m) for m in offsets}


async def test_a_booking_hides_its_neighbours_and_a_cancellation_frees_them(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin, patient, staff = as_role["admin"], as_role["patient"], as_role["receptionist"]
    sid, pid = await open_all_day(admin, bufferAfterMinutes=10)
    other = await open_all_day(admin)  # a second provider's booking must not matter
    day = (local_today() + timedelta(days=3)).isoformat()
    asked = {"serviceId": sid, "from": day, "to": day}
    before = set(instants(await slots_of(patient, providerId=pid, **asked)))
    start = local_start(3, 10)
    assert start in before
    someone = str(await add_patient(clinic))
    booked = await book(staff, sid, pid, start, patientId=someone)
    assert booked.status_code == 201, booked.text
    assert (await book(staff, other[0], other[1], start, patientId=someone)).status_code == 201
    # Occupied [10:00, 10:40): every 30-minute start whose block meets it is gone.
    taken = minutes_after(start, -30, -15, 0, 15, 30)
    for answer in (
        await slots_of(patient, providerId=pid, **asked),
        await slots_of(patient, **asked),
        await slots_of(staff, providerId=pid, **asked),
    ):
        listed = set(instants(answer))
        assert not listed & taken
        assert before - taken <= listed
    assert set(instants(await slots_of(patient, providerId=pid, **asked))) == before - taken
    cancelled = await act(staff, booked.json()["id"], "cancel", {"reason": "Moved away"})
    assert cancelled.status_code == 200, cancelled.text
    assert set(instants(await slots_of(patient, providerId=pid, **asked))) == before


async def test_availability_is_one_query_in_one_transaction(
    as_role: dict[str, httpx.AsyncClient],
) -> None:
    admin, staff = as_role["admin"], as_role["receptionist"]
    sid, pid = await open_all_day(admin)
    queries: list[str] = []

    def log(query: Any) -> None:
        queries.append(query.query)

    await _on_every_pooled_connection(lambda connection: connection.add_query_logger(log))
    try:
        for params in ({"providerId": pid}, {}):
            assert (await slots_of(staff, serviceId=sid, **params))["slots"]  # warms caches
            queries.clear()
            assert (await slots_of(staff, serviceId=sid, **params))["slots"]
            assert len(queries) == 3, queries
            assert queries[0].startswith("BEGIN; SELECT set_config('app.clinic_id', ")
            assert queries[1].startswith("WITH staff AS MATERIALIZED")
            assert queries[2] == "COMMIT"
    finally:
        await _on_every_pooled_connection(lambda connection: connection.remove_query_logger(log))
