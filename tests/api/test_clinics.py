"""SPEC §4: clinic sign-up, the caller's clinic and its settings."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import msgspec
import pytest

from tests.api.helpers import (
    PASSWORD,
    csrf,
    decoded,
    new_slug,
    signed_in_as,
    signup,
    signup_body,
)
from tests.conftest import client_for
from topsmile.app import create_app, lifespan
from topsmile.config import Rate, Settings
from topsmile.core import db
from topsmile.core.middleware import EdgeMiddleware

DEFAULT_SETTINGS = {
    "slotIntervalMinutes": 15,
    "minNoticeMinutes": 120,
    "bookingHorizonDays": 90,
    "cancellationWindowHours": 24,
    "reminderOffsetsMinutes": [1440, 120],
    "requireVerifiedEmailToBook": False,
}


def _set_cookie_names(response: httpx.Response) -> set[str]:
    return {h.split("=", 1)[0] for h in response.headers.get_list("set-cookie")}


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{code}"
    return body


def _fields(response: httpx.Response) -> list[str]:
    return [e["field"] for e in _problem(response, 400, "validation-error")["errors"]]


# --- Sign-up -------------------------------------------------------------------------------


async def test_signup_creates_clinic_and_signs_the_admin_in(client: httpx.AsyncClient) -> None:
    slug = new_slug()
    body = signup_body(slug.upper(), currency="BRL")
    body["admin"]["email"] = f"Admin@{slug}.Example.com"
    response = await client.post("/api/clinics", json=body)

    assert response.status_code == 201, response.text
    assert {"access_token", "refresh_token", "csrf_token"} <= _set_cookie_names(response)
    result = response.json()
    assert set(result) == {"clinic", "user"}
    clinic, user = result["clinic"], result["user"]
    assert set(clinic) == {"id", "name", "slug", "timezone", "currency", "settings"}
    assert clinic["slug"] == slug
    assert clinic["currency"] == "brl"
    assert clinic["timezone"] == "America/Sao_Paulo"
    assert clinic["settings"] == DEFAULT_SETTINGS
    assert user["email"] == f"admin@{slug}.example.com"
    assert user["role"] == "admin"
    assert user["clinicId"] == clinic["id"]
    assert user["active"] is True
    assert "token" not in response.text.lower()

    me = await client.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json()["user"]["id"] == user["id"]
    async with db.tenant_transaction(uuid.UUID(clinic["id"])):
        events = await db.fetch("SELECT name, entity_type FROM event_outbox")
    assert ("clinic.created", "clinic") in [(e["name"], e["entity_type"]) for e in events]


async def test_duplicate_slug_is_409(client: httpx.AsyncClient, app: EdgeMiddleware) -> None:
    clinic = await signup(client)
    async with client_for(app) as other:
        again = await other.post("/api/clinics", json=signup_body(clinic.slug))
        shouted = await other.post("/api/clinics", json=signup_body(clinic.slug.upper()))
    _problem(again, 409, "conflict")
    _problem(shouted, 409, "conflict")
    assert not _set_cookie_names(again) & {"access_token"}


async def test_concurrent_signups_for_one_slug_give_one_clinic(app: EdgeMiddleware) -> None:
    slug = new_slug()
    async with client_for(app) as first, client_for(app) as second:
        responses = await asyncio.gather(
            first.post("/api/clinics", json=signup_body(slug)),
            second.post("/api/clinics", json=signup_body(slug)),
        )
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    async with db.tenant_transaction(None):
        rows = await db.fetch("SELECT id FROM clinic WHERE slug = {}", slug)
    assert len(rows) == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "america/sao_paulo"}, "timezone"),
        ({"currency": "xyz"}, "currency"),
        ({"currency": "reais"}, "currency"),
        ({"slug": "-bad-"}, "slug"),
        ({"slug": "has space"}, "slug"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 123}, "name"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_signup_rejects_bad_fields(
    client: httpx.AsyncClient, overrides: dict[str, Any], field: str
) -> None:
    body = signup_body(**overrides)
    body["admin"]["email"] = "admin@clinic.example.com"  # not derived from a bad slug
    response = await client.post("/api/clinics", json=body)
    assert field in _fields(response)
    assert "access_token" not in _set_cookie_names(response)


@pytest.mark.parametrize(
    ("admin", "field"),
    [
        ({"password": "short1!"}, "admin.password"),
        ({"password": "password123"}, "admin.password"),
        ({"password": "QWERTYUIOP"}, "admin.password"),
        ({"email": "not-an-email"}, "admin.email"),
        ({"firstName": ""}, "admin.firstName"),
        ({"role": "admin"}, "admin.role"),
    ],
)
async def test_signup_rejects_bad_admin(
    client: httpx.AsyncClient, admin: dict[str, Any], field: str
) -> None:
    body = signup_body()
    body["admin"].update(admin)
    response = await client.post("/api/clinics", json=body)
    assert field in _fields(response)


async def test_password_equal_to_email_is_refused(client: httpx.AsyncClient) -> None:
    body = signup_body()
    body["admin"]["password"] = body["admin"]["email"]
    assert "admin.password" in _fields(await client.post("/api/clinics", json=body))


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/clinics", content=b"{not json", headers={"content-type": "application/json"}
    )
    _problem(response, 400, "validation-error")


async def test_signup_disabled_is_403(settings: Settings) -> None:
    closed = msgspec.structs.replace(settings, allow_signup=False)
    app = create_app(closed, run_relay=False)
    async with lifespan(app.app), client_for(app) as client:
        response = await client.post("/api/clinics", json=signup_body())
    _problem(response, 403, "forbidden")


async def test_signup_is_throttled_per_ip(settings: Settings) -> None:
    tight = msgspec.structs.replace(settings, rate_signup_per_ip=Rate(2, 3600))
    app = create_app(tight, run_relay=False)
    async with lifespan(app.app), client_for(app) as client:
        await app.app.state.runtime.redis.flushdb()
        statuses = [
            (await client.post("/api/clinics", json=signup_body())).status_code for _ in range(3)
        ]
        refused = await client.post("/api/clinics", json=signup_body())
    assert statuses == [201, 201, 429]
    _problem(refused, 429, "rate-limited")
    assert int(refused.headers["retry-after"]) > 0


# --- GET / PATCH /api/clinic --------------------------------------------------------------


async def test_any_signed_in_role_reads_its_clinic(
    client: httpx.AsyncClient, app: EdgeMiddleware
) -> None:
    clinic = await signup(client)
    for role in ("receptionist", "patient"):
        async with signed_in_as(app, client, clinic, role) as other:
            response = await other.get("/api/clinic")
            assert response.status_code == 200, response.text
            assert response.json()["id"] == str(clinic.id)
            assert response.json()["settings"] == DEFAULT_SETTINGS
    async with client_for(app) as anonymous:
        _problem(await anonymous.get("/api/clinic"), 401, "unauthenticated")


async def test_patch_settings_merges_only_the_keys_sent(client: httpx.AsyncClient) -> None:
    clinic = await signup(client)
    first = await client.patch(
        "/api/clinic", json={"settings": {"slotIntervalMinutes": 30}}, headers=csrf(client)
    )
    assert first.status_code == 200, first.text
    assert first.json()["settings"] == {**DEFAULT_SETTINGS, "slotIntervalMinutes": 30}

    second = await client.patch(
        "/api/clinic",
        json={
            "name": "Sorriso Norte",
            "timezone": "Europe/Lisbon",
            "currency": "EUR",
            "settings": {"reminderOffsetsMinutes": [60], "requireVerifiedEmailToBook": True},
        },
        headers=csrf(client),
    )
    assert second.status_code == 200, second.text
    body = second.json()
    assert (body["name"], body["timezone"], body["currency"]) == (
        "Sorriso Norte",
        "Europe/Lisbon",
        "eur",
    )
    assert body["settings"] == {
        **DEFAULT_SETTINGS,
        "slotIntervalMinutes": 30,
        "reminderOffsetsMinutes": [60],
        "requireVerifiedEmailToBook": True,
    }
    assert (await client.get("/api/clinic")).json() == body
    async with db.tenant_transaction(clinic.id):
        rows = await db.fetch("SELECT payload FROM event_outbox WHERE name = 'clinic.updated'")
    fields = [decoded(r["payload"])["fields"] for r in rows]
    assert ["settings.slotIntervalMinutes"] in fields


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"slotIntervalMinutes": 4}, "settings.slotIntervalMinutes"),
        ({"slotIntervalMinutes": 121}, "settings.slotIntervalMinutes"),
        ({"slotIntervalMinutes": "30"}, "settings.slotIntervalMinutes"),
        ({"slotIntervalMinutes": None}, "settings.slotIntervalMinutes"),
        ({"minNoticeMinutes": -1}, "settings.minNoticeMinutes"),
        ({"bookingHorizonDays": 731}, "settings.bookingHorizonDays"),
        ({"cancellationWindowHours": 721}, "settings.cancellationWindowHours"),
        ({"reminderOffsetsMinutes": [1, 2, 3, 4, 5, 6]}, "settings.reminderOffsetsMinutes"),
        ({"reminderOffsetsMinutes": [0]}, "settings.reminderOffsetsMinutes[0]"),
        ({"requireVerifiedEmailToBook": "yes"}, "settings.requireVerifiedEmailToBook"),
        ({"colour": "blue"}, "settings.colour"),
    ],
)
async def test_patch_rejects_bad_settings(
    client: httpx.AsyncClient, changes: dict[str, Any], field: str
) -> None:
    await signup(client)
    response = await client.patch("/api/clinic", json={"settings": changes}, headers=csrf(client))
    assert _fields(response) == [field]
    assert (await client.get("/api/clinic")).json()["settings"] == DEFAULT_SETTINGS


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"timezone": "Nowhere/Town"}, "timezone"),
        ({"currency": "zzz"}, "currency"),
        ({"name": ""}, "name"),
        ({"settings": None}, "settings"),
        ({"slug": "new-slug"}, "slug"),
    ],
)
async def test_patch_rejects_bad_fields(
    client: httpx.AsyncClient, patch: dict[str, Any], field: str
) -> None:
    await signup(client)
    response = await client.patch("/api/clinic", json=patch, headers=csrf(client))
    assert field in _fields(response)


@pytest.mark.parametrize("role", ["manager", "receptionist", "provider", "patient"])
async def test_only_admins_patch_the_clinic(
    client: httpx.AsyncClient, app: EdgeMiddleware, role: str
) -> None:
    clinic = await signup(client)
    async with signed_in_as(app, client, clinic, role) as other:
        response = await other.patch(
            "/api/clinic", json={"name": "Taken Over"}, headers=csrf(other)
        )
    _problem(response, 403, "forbidden")
    assert (await client.get("/api/clinic")).json()["name"] == "Sorriso Centro"


async def test_patch_needs_the_csrf_header(client: httpx.AsyncClient) -> None:
    await signup(client)
    response = await client.patch("/api/clinic", json={"name": "No Token"})
    _problem(response, 403, "csrf-failed")


async def test_login_works_for_the_signed_up_admin(
    client: httpx.AsyncClient, app: EdgeMiddleware
) -> None:
    clinic = await signup(client)
    async with client_for(app) as fresh:
        response = await fresh.post(
            "/api/auth/login",
            json={"clinic": clinic.slug, "email": clinic.admin_email, "password": PASSWORD},
        )
    assert response.status_code == 200, response.text
    assert response.json()["clinic"]["slug"] == clinic.slug
