"""SPEC §5 patients: create, read (audited), update, deactivate; validation; duplicates;
other clinics' ids. Search, roles and `/me` are in test_patient_search.py."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.api.auth_fixtures import SeededClinic, csrf, login, seed_clinic
from tests.api.patient_fixtures import PATIENTS, create, events_of, field_of, names, search
from tests.conftest import client_for
from topsmile.core import db
from topsmile.core.middleware import EdgeMiddleware

# --- Create and validation --------------------------------------------------------------------


async def test_create_normalizes_and_returns_the_record(
    staff: httpx.AsyncClient, clinic: SeededClinic
) -> None:
    created = await create(
        staff,
        email="  Ana.Silva@Example.COM ",
        phone="+55 (11) 98765-4321",
        dateOfBirth="1990-05-17",
        notes="Allergic to latex",
    )
    assert created["email"] == "ana.silva@example.com"
    assert created["phone"] == "+5511987654321"
    assert created["dateOfBirth"] == "1990-05-17"
    assert created["notes"] == "Allergic to latex"
    assert created["status"] == "active"
    assert created["smsOptIn"] is False
    assert created["emailOptIn"] is True
    assert created["createdAt"].endswith("Z")
    assert "userId" not in created
    uuid.UUID(created["id"])
    [event] = await events_of(clinic, created["id"])
    assert event["name"] == "patient.created"
    assert event["actor_id"] == clinic.users["receptionist"]
    assert "ana.silva" not in str(event["payload"])  # no contact details in the trail


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+55 (11) 98765-4321", "+5511987654321"),
        ("+55 11 98765 4321", "+5511987654321"),
        ("+5511987654321", "+5511987654321"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("+1.415.555.2671", "+14155552671"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
async def test_phones_in_usual_formats_become_e164(
    staff: httpx.AsyncClient, raw: str, e164: str
) -> None:
    assert (await create(staff, phone=raw))["phone"] == e164


@pytest.mark.parametrize("raw", ["98765-4321", "(11) 98765-4321", "+55 123", "call me", "+"])
async def test_bad_phones_are_400(staff: httpx.AsyncClient, raw: str) -> None:
    response = await staff.post(
        PATIENTS, json={"firstName": "A", "lastName": "B", "phone": raw}, headers=csrf(staff)
    )
    assert field_of(response) == "phone"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"firstName": "x" * 101}, "firstName"),
        ({"lastName": "y" * 101}, "lastName"),
        ({"firstName": "   "}, "firstName"),
        ({"notes": "n" * 2001}, "notes"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a" * 250 + "@x.com"}, "email"),
        ({"dateOfBirth": "1890-01-01"}, "dateOfBirth"),
        ({"dateOfBirth": "17/05/1990"}, "dateOfBirth"),
        ({"firstName": 123}, "firstName"),
        ({"smsOptIn": "true"}, "smsOptIn"),
        ({"emailOptIn": 1}, "emailOptIn"),
        ({"status": "inactive"}, "status"),
        ({"clinicId": str(uuid.uuid4())}, "clinicId"),
        ({"firstName": "A\x00"}, "firstName"),
        ({"notes": "x\x00y"}, "notes"),
    ],
)
async def test_create_validation(
    staff: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await staff.post(
        PATIENTS, json={"firstName": "Ana", "lastName": "Silva", **body}, headers=csrf(staff)
    )
    assert field_of(response) == field


async def test_limits_are_inclusive_and_required_fields_required(
    staff: httpx.AsyncClient,
) -> None:
    created = await create(staff, firstName="x" * 100, lastName="y" * 100, notes="n" * 2000)
    assert len(created["notes"]) == 2000
    missing = await staff.post(PATIENTS, json={"firstName": "Ana"}, headers=csrf(staff))
    assert missing.status_code == 400
    assert missing.json()["type"] == "/problems/validation-error"
    broken = await staff.post(
        PATIENTS,
        content=b'{"firstName": "Ana",',
        headers={**csrf(staff), "content-type": "application/json"},
    )
    assert broken.status_code == 400


async def test_date_of_birth_may_not_be_in_the_future(staff: httpx.AsyncClient) -> None:
    future = (date.today() + timedelta(days=2)).isoformat()
    response = await staff.post(
        PATIENTS,
        json={"firstName": "A", "lastName": "B", "dateOfBirth": future},
        headers=csrf(staff),
    )
    assert field_of(response) == "dateOfBirth"
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    assert (await create(staff, dateOfBirth=yesterday))["dateOfBirth"] == yesterday


# --- Duplicates -----------------------------------------------------------------------------


async def test_duplicate_active_email_or_phone_is_409(staff: httpx.AsyncClient) -> None:
    first = await create(staff, email="dup@example.com", phone="+5511987654321")
    same_email = await create(staff, 409, email="DUP@Example.com")
    assert same_email["type"] == "/problems/conflict"
    await create(staff, 409, phone="+55 (11) 98765-4321")
    other = await create(staff, email="other@example.com", phone="+5511912345678")
    for change in ({"email": "dup@example.com"}, {"phone": "+55 11 98765-4321"}):
        response = await staff.patch(f"{PATIENTS}/{other['id']}", json=change, headers=csrf(staff))
        assert response.status_code == 409, response.text
    # Re-sending a record's own email is no conflict.
    same = await staff.patch(
        f"{PATIENTS}/{first['id']}", json={"email": "dup@example.com"}, headers=csrf(staff)
    )
    assert same.status_code == 200


async def test_inactive_patients_do_not_count_as_duplicates(staff: httpx.AsyncClient) -> None:
    old = await create(staff, email="reuse@example.com", phone="+5511955554444")
    deleted = await staff.delete(f"{PATIENTS}/{old['id']}", headers=csrf(staff))
    assert deleted.status_code == 204
    new = await create(staff, email="reuse@example.com", phone="+5511955554444")
    assert new["status"] == "active"
    # Reactivating the old record would make two active patients with that email.
    back = await staff.patch(
        f"{PATIENTS}/{old['id']}", json={"status": "active"}, headers=csrf(staff)
    )
    assert back.status_code == 409
    assert (await staff.get(f"{PATIENTS}/{old['id']}")).json()["status"] == "inactive"


async def test_racing_creates_leave_one_active_patient(staff: httpx.AsyncClient) -> None:
    async def attempt() -> int:
        response = await staff.post(
            PATIENTS,
            json={"firstName": "Race", "lastName": "Twin", "email": "race@example.com"},
            headers=csrf(staff),
        )
        return response.status_code

    statuses = sorted(await asyncio.gather(*(attempt() for _ in range(6))))
    assert statuses == [201, 409, 409, 409, 409, 409]
    assert (await search(staff, q="race@"))["total"] == 1


# --- Read, update, deactivate -------------------------------------------------------------------


async def test_patch_changes_clears_and_keeps(
    staff: httpx.AsyncClient, clinic: SeededClinic
) -> None:
    created = await create(
        staff, email="p@example.com", phone="+5511987650000", dateOfBirth="1980-01-02", notes="n"
    )
    url = f"{PATIENTS}/{created['id']}"
    response = await staff.patch(
        url,
        json={"email": None, "phone": None, "dateOfBirth": None, "notes": None, "smsOptIn": True},
        headers=csrf(staff),
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    for key in ("email", "phone", "dateOfBirth", "notes"):
        assert patched.get(key) is None
    assert patched["smsOptIn"] is True
    assert patched["firstName"] == "Ana"  # absent keys stay
    assert patched["updatedAt"] > created["updatedAt"]
    renamed = await staff.patch(url, json={"lastName": " Souza "}, headers=csrf(staff))
    assert renamed.json()["lastName"] == "Souza"
    for body in ({"firstName": None}, {"status": "gone"}, {"notes": 5}, {"userId": None}):
        assert (await staff.patch(url, json=body, headers=csrf(staff))).status_code == 400
    names_ = [e["name"] for e in await events_of(clinic, created["id"])]
    assert names_ == ["patient.created", "patient.updated", "patient.updated"]
    updated = (await events_of(clinic, created["id"]))[1]
    assert sorted(json.loads(updated["payload"])["fields"]) == sorted(
        ["email", "phone", "dateOfBirth", "notes", "smsOptIn"]
    )


async def test_delete_deactivates_and_keeps_history(
    staff: httpx.AsyncClient, clinic: SeededClinic
) -> None:
    created = await create(staff, lastName="Gone")
    url = f"{PATIENTS}/{created['id']}"
    assert (await staff.delete(url, headers=csrf(staff))).status_code == 204
    assert (await staff.delete(url, headers=csrf(staff))).status_code == 204
    kept = (await staff.get(url)).json()
    assert kept["status"] == "inactive"
    assert kept["lastName"] == "Gone"
    assert await names(staff, "gone", status="active") == []
    assert await names(staff, "gone", status="inactive") == ["Ana Gone"]
    events = [e["name"] for e in await events_of(clinic, created["id"])]
    assert events == ["patient.created", "patient.deactivated"]


async def test_staff_read_is_audited(staff: httpx.AsyncClient, clinic: SeededClinic) -> None:
    created = await create(staff)
    await search(staff)  # listing is not a read of one record
    response = await staff.get(f"{PATIENTS}/{created['id']}")
    assert response.status_code == 200
    assert response.json()["id"] == created["id"]
    async with db.tenant_transaction(clinic.id):
        rows = await db.fetch(
            "SELECT * FROM audit_log WHERE action = 'patient.viewed' AND entity_id = {}",
            created["id"],
        )
    [row] = rows
    assert row["entity_type"] == "patient"
    assert row["actor_id"] == clinic.users["receptionist"]
    assert row["actor_role"] == "receptionist"
    assert row["ip"]
    assert row["request_id"] == response.headers["x-request-id"]


async def test_unknown_or_malformed_ids(staff: httpx.AsyncClient) -> None:
    assert (await staff.get(f"{PATIENTS}/{uuid.uuid4()}")).status_code == 404
    assert (await staff.get(f"{PATIENTS}/not-a-uuid")).status_code in (400, 404)


async def test_another_clinics_patient_is_404(
    app: EdgeMiddleware, staff: httpx.AsyncClient
) -> None:
    theirs = await seed_clinic(("admin",))
    async with client_for(app) as other:
        await login(other, theirs, "admin")
        foreign = await create(other, email="foreign@example.com", notes="private")
        url = f"{PATIENTS}/{foreign['id']}"
        assert (await staff.get(url)).status_code == 404
        patch_ = await staff.patch(url, json={"lastName": "Hacked"}, headers=csrf(staff))
        assert patch_.status_code == 404
        assert (await staff.delete(url, headers=csrf(staff))).status_code == 404
        assert (await search(staff, q="foreign"))["total"] == 0
        unchanged = (await other.get(url)).json()
        assert unchanged["lastName"] == "Silva"
        assert unchanged["status"] == "active"
        # The same email is free in another clinic.
        await create(staff, email="foreign@example.com")
