"""Helpers for the patient API tests: create, search and inspect patients of a clinic."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.api.auth_fixtures import SeededClinic, csrf
from topsmile.core import db

PATIENTS = "/api/patients"


async def create(client: httpx.AsyncClient, status: int = 201, **fields: Any) -> dict[str, Any]:
    body = {"firstName": "Ana", "lastName": "Silva", **fields}
    response = await client.post(PATIENTS, json=body, headers=csrf(client))
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


async def search(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get(PATIENTS, params=params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def names(client: httpx.AsyncClient, q: str, **params: Any) -> list[str]:
    """`First Last` of every match of `q`, in the listing's order."""
    page = await search(client, q=q, pageSize=100, **params)
    return [f"{p['firstName']} {p['lastName']}" for p in page["items"]]


def field_of(response: httpx.Response) -> str:
    """The field a 400 `validation-error` names."""
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "/problems/validation-error"
    field: str = response.json()["errors"][0]["field"]
    return field


async def link_patient(clinic: SeededClinic, notes: str | None = None) -> uuid.UUID:
    """The patient record of the clinic's `patient` user (what registration creates)."""
    async with db.tenant_transaction(clinic.id):
        [row] = await db.fetch(
            "INSERT INTO patient (clinic_id, user_id, first_name, last_name, notes)"
            " VALUES ({}, {}, 'Paula', 'Patient', {}) RETURNING id",
            clinic.id,
            clinic.users["patient"],
            notes,
        )
    patient_id: uuid.UUID = row["id"]
    return patient_id


async def events_of(clinic: SeededClinic, patient_id: str) -> list[dict[str, Any]]:
    """The outbox events published about one patient, oldest first."""
    async with db.tenant_transaction(clinic.id):
        return await db.fetch(
            "SELECT name, actor_id, actor_role, payload FROM event_outbox"
            " WHERE entity_type = 'patient' AND entity_id = {} ORDER BY occurred_at",
            patient_id,
        )
