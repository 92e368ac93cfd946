"""SPEC §9: patient files — each allowed type stored and downloaded byte for byte, roles,
patients limited to their own files, staff downloads audited, soft delete, events."""

from __future__ import annotations

import uuid

import httpx
import msgspec
import pytest

from tests.api.auth_fixtures import SeededClinic, csrf
from tests.api.patient_fixtures import create, link_patient
from tests.api.upload_fixtures import FILES, PDF, PNG, UPLOADS, assert_problem, sha256, upload
from topsmile.core import db

Clients = dict[str, httpx.AsyncClient]


@pytest.fixture
async def patient_id(clinic: SeededClinic) -> uuid.UUID:
    """The record of the clinic's signed-in `patient` user."""
    return await link_patient(clinic)


@pytest.mark.parametrize("kind", list(FILES))
async def test_each_allowed_type_is_stored_and_downloads_byte_for_byte(
    as_role: Clients, patient_id: uuid.UUID, kind: str
) -> None:
    data, filename, declared, stored = FILES[kind]
    staff = as_role["receptionist"]
    response = await upload(
        staff,
        data,
        filename=filename,
        content_type=declared,
        patient_id=patient_id,
        category="xray",
    )
    body = response.json()
    assert set(body) == {
        "id",
        "patientId",
        "filename",
        "contentType",
        "size",
        "sha256",
        "category",
        "createdAt",
        "url",
    }
    assert body["patientId"] == str(patient_id)
    assert (body["filename"], body["contentType"]) == (filename, stored)
    assert (body["size"], body["sha256"], body["category"]) == (len(data), sha256(data), "xray")
    assert body["createdAt"].endswith("Z")
    assert body["url"] == f"{UPLOADS}/{body['id']}/content"
    assert (await staff.get(f"{UPLOADS}/{body['id']}")).json() == body

    download = await staff.get(body["url"])
    assert download.status_code == 200
    assert download.content == data
    assert sha256(download.content) == body["sha256"]
    assert download.headers["content-type"] == stored
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"] == (
        f"attachment; filename=\"{filename}\"; filename*=UTF-8''{filename}"
    )


async def test_a_non_ascii_name_downloads_under_its_exact_utf8_name(
    staff: httpx.AsyncClient, patient_id: uuid.UUID
) -> None:
    name = 'Raio-X São João "ç".pdf'
    body = (await upload(staff, PDF, filename=name, patient_id=patient_id)).json()
    assert body["filename"] == "Raio-X São João _ç_.pdf"  # quotes are not kept in names
    disposition = (await staff.get(body["url"])).headers["content-disposition"]
    assert disposition == (
        'attachment; filename="Raio-X S_o Jo_o ___.pdf"; '
        "filename*=UTF-8''Raio-X%20S%C3%A3o%20Jo%C3%A3o%20_%C3%A7_.pdf"
    )


async def test_roles_follow_the_spec(as_role: Clients, patient_id: uuid.UUID) -> None:
    """uploads: admin, manager, receptionist rw; provider r; patient own rw (SPEC §2)."""
    ids = []
    for role in ("admin", "manager", "receptionist"):
        ids.append((await upload(as_role[role], PDF, patient_id=patient_id)).json()["id"])
    ids.append(
        (await upload(as_role["patient"], PNG, filename="me.png", content_type="image/png")).json()[
            "id"
        ]
    )
    provider = as_role["provider"]
    assert_problem(
        await upload(provider, PDF, patient_id=patient_id, status=None), 403, "forbidden"
    )
    listed = (await provider.get(UPLOADS, params={"patientId": str(patient_id)})).json()
    assert sorted(item["id"] for item in listed["items"]) == sorted(ids)
    assert (listed["total"], listed["page"], listed["pageSize"]) == (4, 1, 20)
    assert (await provider.get(f"{UPLOADS}/{ids[0]}/content")).content == PDF
    refused = await provider.delete(f"{UPLOADS}/{ids[0]}", headers=csrf(provider))
    assert_problem(refused, 403, "forbidden")
    for role, upload_id in zip(("admin", "manager", "receptionist", "patient"), ids, strict=True):
        client = as_role[role]
        assert (
            await client.delete(f"{UPLOADS}/{upload_id}", headers=csrf(client))
        ).status_code == 204
    assert (await provider.get(UPLOADS)).json()["total"] == 0


async def test_a_patient_sees_only_their_own_files(
    as_role: Clients, staff: httpx.AsyncClient, patient_id: uuid.UUID
) -> None:
    patient = as_role["patient"]
    mine = (await upload(patient, PDF)).json()  # no patientId: their own record
    assert mine["patientId"] == str(patient_id)
    other = (await create(staff, firstName="Bia", lastName="Other"))["id"]
    theirs = (await upload(staff, PDF, patient_id=other)).json()

    listed = (await patient.get(UPLOADS)).json()
    assert [item["id"] for item in listed["items"]] == [mine["id"]]
    for path in (f"{UPLOADS}/{theirs['id']}", theirs["url"]):
        assert_problem(await patient.get(path), 404, "not-found")
    assert_problem(
        await patient.delete(f"{UPLOADS}/{theirs['id']}", headers=csrf(patient)), 404, "not-found"
    )
    assert_problem(await patient.get(UPLOADS, params={"patientId": other}), 404, "not-found")
    assert_problem(await upload(patient, PDF, patient_id=other, status=None), 404, "not-found")
    # Naming their own record is fine; the other patient's file is untouched.
    assert (await upload(patient, PDF, patient_id=patient_id)).json()["patientId"] == str(
        patient_id
    )
    assert (await staff.get(theirs["url"])).content == PDF


async def test_staff_must_name_an_existing_patient_of_their_clinic(
    staff: httpx.AsyncClient,
) -> None:
    missing = await upload(staff, PDF, status=None)
    assert_problem(missing, 400, "validation-error")
    assert missing.json()["errors"][0]["field"] == "patientId"
    assert_problem(await upload(staff, PDF, patient_id=uuid.uuid4(), status=None), 404, "not-found")
    assert_problem(
        await staff.get(UPLOADS, params={"patientId": str(uuid.uuid4())}), 404, "not-found"
    )


async def test_staff_downloads_are_audited_and_patients_are_not(
    as_role: Clients, clinic: SeededClinic, patient_id: uuid.UUID
) -> None:
    body = (await upload(as_role["patient"], PDF)).json()
    assert (await as_role["patient"].get(body["url"])).status_code == 200
    assert (await as_role["provider"].get(body["url"])).status_code == 200
    async with db.tenant_transaction(clinic.id):
        rows = await db.fetch(
            "SELECT actor_id, actor_role, entity_type, details FROM audit_log"
            " WHERE action = 'upload.downloaded' AND entity_id = {}",
            body["id"],
        )
    assert [(r["actor_id"], r["actor_role"], r["entity_type"]) for r in rows] == [
        (clinic.users["provider"], "provider", "upload")
    ]


async def test_soft_deleted_files_are_gone_from_the_api_but_kept(
    staff: httpx.AsyncClient, clinic: SeededClinic, patient_id: uuid.UUID
) -> None:
    body = (await upload(staff, PDF, patient_id=patient_id)).json()
    assert (await staff.delete(f"{UPLOADS}/{body['id']}", headers=csrf(staff))).status_code == 204
    for path in (f"{UPLOADS}/{body['id']}", body["url"]):
        assert_problem(await staff.get(path), 404, "not-found")
    assert_problem(
        await staff.delete(f"{UPLOADS}/{body['id']}", headers=csrf(staff)), 404, "not-found"
    )
    assert (await staff.get(UPLOADS, params={"patientId": str(patient_id)})).json()["total"] == 0
    async with db.tenant_transaction(clinic.id):
        [row] = await db.fetch("SELECT deleted_at FROM upload WHERE id = {}", uuid.UUID(body["id"]))
    assert row["deleted_at"] is not None


async def test_uploads_and_deletes_publish_events(
    staff: httpx.AsyncClient, clinic: SeededClinic, patient_id: uuid.UUID
) -> None:
    body = (await upload(staff, PDF, patient_id=patient_id, category="consent_form")).json()
    await staff.delete(f"{UPLOADS}/{body['id']}", headers=csrf(staff))
    async with db.tenant_transaction(clinic.id):
        events = await db.fetch(
            "SELECT name, actor_id, payload FROM event_outbox"
            " WHERE entity_type = 'upload' AND entity_id = {} ORDER BY occurred_at",
            body["id"],
        )
    assert [e["name"] for e in events] == ["upload.created", "upload.deleted"]
    assert all(e["actor_id"] == clinic.users["receptionist"] for e in events)
    payload = events[0]["payload"]
    created = msgspec.json.decode(payload) if isinstance(payload, str) else dict(payload)
    assert created == {
        "patient_id": str(patient_id),
        "category": "consent_form",
        "content_type": "application/pdf",
        "size": len(PDF),
        "sha256": sha256(PDF),
    }
