"""SPEC §1 `Idempotency-Key` on POST /api/scheduling/appointments: replay of the first
response, 422 for another body, 409 while the first is still running, per user."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.api.appointment_fixtures import (
    APPOINTMENTS,
    act,
    add_patient,
    local_start,
    open_all_day,
    provider_busy,
    until_someone_waits_for_a_lock,
)
from tests.api.auth_fixtures import SeededClinic, csrf
from tests.api.patient_fixtures import link_patient
from topsmile.core import db


async def _post(client: httpx.AsyncClient, body: dict[str, Any], key: str) -> httpx.Response:
    headers = {**csrf(client), "Idempotency-Key": key}
    return await client.post(APPOINTMENTS, json=body, headers=headers)


async def _count(clinic: SeededClinic, provider_id: str) -> int:
    async with db.tenant_transaction(clinic.id):
        [row] = await db.fetch(
            "SELECT count(*) AS n FROM appointment WHERE provider_id = {}", uuid.UUID(provider_id)
        )
    return int(row["n"])


async def test_same_key_and_body_replays_the_first_response(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin, patient = as_role["admin"], as_role["patient"]
    await link_patient(clinic)
    sid, pid = await open_all_day(admin)
    body = {"serviceId": sid, "providerId": pid, "start": local_start(3, 10).isoformat()}
    key = f"book-{uuid.uuid4()}"
    first = await _post(patient, body, key)
    assert first.status_code == 201, first.text
    again = await _post(patient, body, key)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert await _count(clinic, pid) == 1
    other = await _post(patient, {**body, "notes": "changed"}, key)
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"
    # Without the key the same body is new work: the slot is taken.
    fresh = await patient.post(APPOINTMENTS, json=body, headers=csrf(patient))
    assert fresh.status_code == 409
    assert await _count(clinic, pid) == 1


async def test_keys_belong_to_one_user_and_failures_are_not_kept(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin, staff = as_role["admin"], as_role["receptionist"]
    other = str(await add_patient(clinic))
    sid, pid = await open_all_day(admin)
    body = {"serviceId": sid, "providerId": pid, "start": local_start(3, 10).isoformat()}
    body["patientId"] = other
    key = "shared-key"
    assert (await _post(admin, body, key)).status_code == 201
    # The same key and body from another user is that user's own request: really tried.
    taken = await _post(staff, body, key)
    assert taken.status_code == 409
    assert taken.json()["type"] == "/problems/slot-unavailable"
    [blocker] = (await admin.get(APPOINTMENTS, params={"providerId": pid})).json()["items"]
    assert (await act(admin, blocker["id"], "cancel")).status_code == 200
    retried = await _post(staff, body, key)  # the 409 was not stored: the retry books
    assert retried.status_code == 201, retried.text
    assert retried.json()["id"] != blocker["id"]
    too_long = await _post(staff, body, "k" * 256)
    assert too_long.status_code == 400


async def test_a_duplicate_while_the_first_runs_is_409_request_in_progress(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin, patient = as_role["admin"], as_role["patient"]
    await link_patient(clinic)
    sid, pid = await open_all_day(admin)
    body = {"serviceId": sid, "providerId": pid, "start": local_start(3, 10).isoformat()}
    key = f"slow-{uuid.uuid4()}"
    async with provider_busy(clinic.id, pid):  # another booking of this provider runs
        first = asyncio.create_task(_post(patient, body, key))
        await until_someone_waits_for_a_lock()  # the first has claimed the key by now
        duplicate = await _post(patient, body, key)
        assert duplicate.status_code == 409
        assert duplicate.json()["type"] == "/problems/request-in-progress"
        assert not first.done()
    assert (await first).status_code == 201
    replay = await _post(patient, body, key)
    assert replay.status_code == 201
    assert replay.json() == (await first).json()
