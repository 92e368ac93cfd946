"""Seed a clinic with users straight through the services, and sign in over HTTP."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx
import msgspec

from topsmile.auth.passwords import Hasher
from topsmile.clinics.schemas import ClinicSettings
from topsmile.core import db
from topsmile.users.service import insert_user

PASSWORD = "Correct-Horse-Battery-9"
_hasher = Hasher()


@dataclass
class SeededClinic:
    id: uuid.UUID
    slug: str
    users: dict[str, uuid.UUID] = field(default_factory=dict)  # role -> user id

    def email(self, role: str) -> str:
        return f"{role}@{self.slug}.example.com"


async def seed_clinic(
    roles: tuple[str, ...] = ("admin", "receptionist", "patient"), slug: str | None = None
) -> SeededClinic:
    clinic = SeededClinic(id=uuid.uuid4(), slug=slug or f"c-{uuid.uuid4().hex[:12]}")
    password_hash = await _hasher.hash(PASSWORD)
    async with db.tenant_transaction(clinic.id):
        await db.fetch(
            "INSERT INTO clinic (id, name, slug, timezone, currency, settings)"
            " VALUES ({}, {}, {}, 'America/Sao_Paulo', 'brl', {}::jsonb)",
            clinic.id,
            f"Clinic {clinic.slug}",
            clinic.slug,
            msgspec.json.encode(ClinicSettings()).decode(),
        )
        for role in roles:
            row = await insert_user(
                clinic.id,
                email=clinic.email(role),
                password_hash=password_hash,
                first_name="Test",
                last_name=role.title(),
                role=role,
            )
            clinic.users[role] = row.id
    return clinic


async def login(client: httpx.AsyncClient, clinic: SeededClinic, role: str) -> httpx.Response:
    response = await client.post(
        "/api/auth/login",
        json={"clinic": clinic.slug, "email": clinic.email(role), "password": PASSWORD},
    )
    assert response.status_code == 200, response.text
    return response


def csrf(client: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies.get("csrf_token", "")}
