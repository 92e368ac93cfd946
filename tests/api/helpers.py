"""Helpers over the public API: sign up a clinic, add staff, sign in as a role, CSRF header."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from tests.api.auth_fixtures import csrf
from tests.conftest import client_for
from topsmile.audit.service import audit_event
from topsmile.core import db, rows
from topsmile.events.relay import _event_from_row
from topsmile.events.tables import OutboxRow

PASSWORD = "Correct-Horse-Battery-9"


@dataclass(frozen=True)
class Clinic:
    id: uuid.UUID
    slug: str
    admin_id: uuid.UUID
    admin_email: str

    def email(self, role: str) -> str:
        return f"{role}@{self.slug}.example.com"


def new_slug() -> str:
    return f"c-{uuid.uuid4().hex[:12]}"


def signup_body(slug: str | None = None, **overrides: Any) -> dict[str, Any]:
    slug = slug or new_slug()
    body: dict[str, Any] = {
        "name": "Sorriso Centro",
        "slug": slug,
        "timezone": "America/Sao_Paulo",
        "currency": "brl",
        "admin": {
            "email": f"admin@{slug}.example.com",
            "password": PASSWORD,
            "firstName": "Ana",
            "lastName": "Admin",
        },
    }
    body.update(overrides)
    return body


async def signup(client: httpx.AsyncClient, **overrides: Any) -> Clinic:
    """Sign up a new clinic; `client` then holds its admin's session cookies."""
    body = signup_body(**overrides)
    response = await client.post("/api/clinics", json=body)
    assert response.status_code == 201, response.text
    result = response.json()
    return Clinic(
        id=uuid.UUID(result["clinic"]["id"]),
        slug=result["clinic"]["slug"],
        admin_id=uuid.UUID(result["user"]["id"]),
        admin_email=result["user"]["email"],
    )


async def add_user(
    admin: httpx.AsyncClient, clinic: Clinic, role: str, email: str | None = None
) -> dict[str, Any]:
    response = await admin.post(
        "/api/users",
        json={
            "email": email or clinic.email(role),
            "password": PASSWORD,
            "firstName": "Test",
            "lastName": role.title(),
            "role": role,
        },
        headers=csrf(admin),
    )
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return user


async def login(
    client: httpx.AsyncClient, clinic: Clinic, email: str, password: str = PASSWORD
) -> httpx.Response:
    response = await client.post(
        "/api/auth/login", json={"clinic": clinic.slug, "email": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return response


@asynccontextmanager
async def signed_in_as(
    app: object, admin: httpx.AsyncClient, clinic: Clinic, role: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh client signed in as a new user of `role` (patients register themselves)."""
    async with client_for(app) as client:
        if role == "patient":
            response = await client.post(
                "/api/auth/register",
                json={
                    "clinic": clinic.slug,
                    "email": clinic.email("patient"),
                    "password": PASSWORD,
                    "firstName": "Paula",
                    "lastName": "Patient",
                },
            )
            assert response.status_code == 201, response.text
        else:
            await add_user(admin, clinic, role)
            await login(client, clinic, clinic.email(role))
        yield client


async def audit_pending_events(clinic_id: uuid.UUID) -> int:
    """Write the clinic's published events to its audit log now (what the relay's audit
    handler does), without draining other tests' deliveries."""
    async with db.tenant_transaction(clinic_id):
        events = await rows.fetch_all(
            OutboxRow, "SELECT * FROM event_outbox ORDER BY occurred_at, id"
        )
        for row in events:
            await audit_event(_event_from_row(row), 1)
    return len(events)


def decoded(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value
