"""SPEC §3 hardening of accounts (issue 8): registering over a staff-made record, the atomic
login-failure count, password and token hygiene, tokens never stored readable, and the
password-forgot limit per client IP."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import msgspec
import pytest

from tests.api.account_mail import emailed_link, token_of
from tests.api.auth_fixtures import PASSWORD, SeededClinic, csrf, seed_clinic
from tests.api.patient_fixtures import create
from tests.conftest import client_for
from topsmile.config import Rate, Settings
from topsmile.core import db
from topsmile.core.actor import Actor
from topsmile.core.errors import EmailNotVerified
from topsmile.core.middleware import EdgeMiddleware
from topsmile.patients.service import bookable_record
from topsmile.patients.tables import PatientRow

NEW_PASSWORD = "Brand-New-Secret-77"
WRONG = "Wrong-Password-1"


def registration(clinic: SeededClinic, email: str, **changes: Any) -> dict[str, Any]:
    body = {
        "clinic": clinic.slug,
        "email": email,
        "password": PASSWORD,
        "firstName": "Mallory",
        "lastName": "Intruder",
        "phone": "+55 11 91111-2222",
        "dateOfBirth": "1985-01-01",
    }
    return {**body, **changes}


def as_patient(clinic: SeededClinic, user_id: str) -> Actor:
    return Actor(clinic.id, uuid.UUID(user_id), "patient")


async def booking_check(clinic: SeededClinic, user_id: str) -> PatientRow:
    async with db.tenant_transaction(clinic.id):
        return await bookable_record(as_patient(clinic, user_id))


# --- 1. Registering over an existing patient record ------------------------------------------


async def test_registering_a_staff_made_email_gets_nothing_until_verified(
    app: EdgeMiddleware, staff: httpx.AsyncClient, clinic: SeededClinic, settings: Settings
) -> None:
    victim = await create(
        staff,
        firstName="Vera",
        lastName="Victim",
        email="victim@example.com",
        phone="+55 11 97777-6666",
        dateOfBirth="1970-03-04",
    )
    async with client_for(app) as attacker:
        response = await attacker.post(
            "/api/auth/register", json=registration(clinic, "Victim@Example.COM")
        )
        assert response.status_code == 201, response.text
        assert response.json()["patient"] is None
        for secret in (victim["id"], "+5511977776666", "1970-03-04", "Vera", "Victim"):
            assert secret not in response.text
        user_id = response.json()["user"]["id"]
        me = await attacker.get("/api/patients/me")
        assert me.status_code == 404
        assert victim["id"] not in me.text
        with pytest.raises(EmailNotVerified):
            await booking_check(clinic, user_id)
        # Through the API too: the account is refused before anything about the slot.
        booked = await attacker.post(
            "/api/scheduling/appointments",
            json={
                "serviceId": str(uuid.uuid4()),
                "providerId": str(uuid.uuid4()),
                "start": "2099-01-05T12:00:00Z",
            },
            headers=csrf(attacker),
        )
        assert booked.status_code == 403, booked.text
        assert booked.json()["type"] == "/problems/email-not-verified"

        # Whoever can read the victim's mailbox verifies; the record is then theirs, as the
        # clinic wrote it (the registration's names and phone do not overwrite it).
        link = await emailed_link(settings, clinic.id, "user.registered")
        verified = await attacker.post("/api/auth/verify-email", json={"token": token_of(link)})
        assert verified.status_code == 204
        own = (await attacker.get("/api/patients/me")).json()
        assert own["id"] == victim["id"]
        assert (own["firstName"], own["lastName"]) == ("Vera", "Victim")
        assert own["phone"] == "+5511977776666"
        assert (await booking_check(clinic, user_id)).id == uuid.UUID(victim["id"])


async def test_a_phone_of_another_patient_is_left_off_not_revealed(
    app: EdgeMiddleware, staff: httpx.AsyncClient, clinic: SeededClinic
) -> None:
    await create(staff, email="someone@example.com", phone="+55 11 95555-4444")
    async with client_for(app) as newcomer:
        response = await newcomer.post(
            "/api/auth/register",
            json=registration(clinic, "newcomer@example.com", phone="+55 (11) 95555-4444"),
        )
        assert response.status_code == 201, response.text
        patient = response.json()["patient"]
        assert patient is not None
        assert patient.get("phone") is None
        assert patient["email"] == "newcomer@example.com"
        assert (await newcomer.get("/api/patients/me")).json()["id"] == patient["id"]


async def test_a_record_linked_to_another_account_is_never_handed_over(
    app: EdgeMiddleware, staff: httpx.AsyncClient, clinic: SeededClinic, settings: Settings
) -> None:
    async with client_for(app) as first:
        created = await first.post(
            "/api/auth/register", json=registration(clinic, "first@example.com", phone=None)
        )
        record = created.json()["patient"]
    # Staff change that record's email: its account keeps its own, older email.
    patched = await staff.patch(
        f"/api/patients/{record['id']}",
        json={"email": "second@example.com"},
        headers={"X-CSRF-Token": staff.cookies.get("csrf_token", "")},
    )
    assert patched.status_code == 200, patched.text
    async with client_for(app) as second:
        response = await second.post(
            "/api/auth/register", json=registration(clinic, "second@example.com")
        )
        assert response.status_code == 201, response.text
        assert response.json()["patient"] is None
        link = await emailed_link(settings, clinic.id, "user.registered")
        assert (
            await second.post("/api/auth/verify-email", json={"token": token_of(link)})
        ).status_code == 204
        assert (await second.get("/api/patients/me")).status_code == 404
    async with db.tenant_transaction(clinic.id):
        [row] = await db.fetch("SELECT user_id FROM patient WHERE id = {}", record["id"])
    assert str(row["user_id"]) == created.json()["user"]["id"]


async def test_concurrent_registrations_of_one_email_give_one_account(
    app: EdgeMiddleware, clinic: SeededClinic
) -> None:
    clients = [client_for(app) for _ in range(4)]
    try:
        responses = await asyncio.gather(
            *(
                client.post(
                    "/api/auth/register",
                    json=registration(clinic, "race@example.com", phone=None),
                )
                for client in clients
            )
        )
    finally:
        for client in clients:
            await client.aclose()
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    async with db.tenant_transaction(clinic.id):
        rows = await db.fetch("SELECT 1 FROM patient WHERE email = 'race@example.com'")
    assert len(rows) == 1


# --- 2. Login failures are counted before the password is checked -----------------------------


async def test_concurrent_wrong_passwords_check_at_most_the_limit(
    client: httpx.AsyncClient, clinic: SeededClinic, settings: Settings
) -> None:
    body = {"clinic": clinic.slug, "email": clinic.email("admin"), "password": WRONG}
    responses = await asyncio.gather(
        *(client.post("/api/auth/login", json=body) for _ in range(15))
    )
    limit = settings.login_max_failures
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * limit + [429] * (15 - limit)
    assert all(int(r.headers["retry-after"]) > 0 for r in responses if r.status_code == 429)


async def test_a_successful_login_is_not_counted_as_a_failure(
    client: httpx.AsyncClient, clinic: SeededClinic, settings: Settings
) -> None:
    right = {"clinic": clinic.slug, "email": clinic.email("admin"), "password": PASSWORD}
    for _ in range(settings.login_max_failures + 2):
        assert (await client.post("/api/auth/login", json=right)).status_code == 200
    wrong = {**right, "password": WRONG}
    for _ in range(settings.login_max_failures):
        assert (await client.post("/api/auth/login", json=wrong)).status_code == 401
    assert (await client.post("/api/auth/login", json=right)).status_code == 429


# --- 3. Password and token hygiene -----------------------------------------------------------


async def _forgot(client: httpx.AsyncClient, clinic: SeededClinic, role: str) -> None:
    response = await client.post(
        "/api/auth/password/forgot", json={"clinic": clinic.slug, "email": clinic.email(role)}
    )
    assert response.status_code == 202


async def _fail_logins(client: httpx.AsyncClient, clinic: SeededClinic, n: int) -> list[int]:
    body = {"clinic": clinic.slug, "email": clinic.email("patient"), "password": WRONG}
    return [(await client.post("/api/auth/login", json=body)).status_code for _ in range(n)]


async def test_a_reset_voids_other_reset_links_and_clears_the_lock(
    client: httpx.AsyncClient, clinic: SeededClinic, settings: Settings
) -> None:
    await _forgot(client, clinic, "patient")
    older = token_of(await emailed_link(settings, clinic.id, "user.password_reset_requested"))
    await _forgot(client, clinic, "patient")
    newer = token_of(await emailed_link(settings, clinic.id, "user.password_reset_requested"))
    assert older != newer
    limit = settings.login_max_failures
    assert await _fail_logins(client, clinic, limit + 1) == [401] * limit + [429]

    reset = await client.post(
        "/api/auth/password/reset", json={"token": newer, "password": NEW_PASSWORD}
    )
    assert reset.status_code == 204
    stale = await client.post("/api/auth/password/reset", json={"token": older, "password": WRONG})
    assert stale.status_code == 400
    assert stale.json()["errors"][0]["field"] == "token"
    signed_in = await client.post(
        "/api/auth/login",
        json={"clinic": clinic.slug, "email": clinic.email("patient"), "password": NEW_PASSWORD},
    )
    assert signed_in.status_code == 200  # the lock went with the reset


async def test_a_change_voids_reset_links_and_clears_the_lock(
    client: httpx.AsyncClient, clinic: SeededClinic, settings: Settings
) -> None:
    await _forgot(client, clinic, "patient")
    token = token_of(await emailed_link(settings, clinic.id, "user.password_reset_requested"))
    signed_in = await client.post(
        "/api/auth/login",
        json={"clinic": clinic.slug, "email": clinic.email("patient"), "password": PASSWORD},
    )
    assert signed_in.status_code == 200
    limit = settings.login_max_failures
    assert await _fail_logins(client, clinic, limit - 1) == [401] * (limit - 1)
    changed = await client.post(
        "/api/auth/password/change",
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        headers={"X-CSRF-Token": client.cookies.get("csrf_token", "")},
    )
    assert changed.status_code == 204, changed.text
    stale = await client.post("/api/auth/password/reset", json={"token": token, "password": WRONG})
    assert stale.status_code == 400
    assert await _fail_logins(client, clinic, limit) == [401] * limit  # count started over


async def test_a_wrong_current_password_counts_as_a_login_failure(
    app: EdgeMiddleware, client: httpx.AsyncClient, clinic: SeededClinic, settings: Settings
) -> None:
    right = {"clinic": clinic.slug, "email": clinic.email("patient"), "password": PASSWORD}
    assert (await client.post("/api/auth/login", json=right)).status_code == 200
    headers = {"X-CSRF-Token": client.cookies.get("csrf_token", "")}
    statuses = [
        (
            await client.post(
                "/api/auth/password/change",
                json={"currentPassword": WRONG, "newPassword": NEW_PASSWORD},
                headers=headers,
            )
        ).status_code
        for _ in range(settings.login_max_failures + 1)
    ]
    assert statuses == [400] * settings.login_max_failures + [429]
    async with client_for(app) as other:
        assert (await other.post("/api/auth/login", json=right)).status_code == 429


# --- 4. Tokens are never stored readable --------------------------------------------------


async def _rows_as_text(table: str) -> list[str]:
    async with db.tenant_transaction(None):
        rows = await db.fetch(f"SELECT t::text AS row FROM {table} t")  # noqa: S608
    return [row["row"] for row in rows]


async def test_no_table_holds_a_token_or_its_link(
    app: EdgeMiddleware, clinic: SeededClinic, settings: Settings
) -> None:
    async with client_for(app) as client:
        registered = await client.post(
            "/api/auth/register", json=registration(clinic, "reader@example.com", phone=None)
        )
        assert registered.status_code == 201
        verify_link = await emailed_link(settings, clinic.id, "user.registered")
        await _forgot(client, clinic, "admin")
        reset_link = await emailed_link(settings, clinic.id, "user.password_reset_requested")
        secrets = [verify_link, reset_link, token_of(verify_link), token_of(reset_link)]
        tokens_only = [token_of(verify_link), token_of(reset_link)]
        for table in ("event_outbox", "notification", "email_token", "audit_log"):
            for row in await _rows_as_text(table):
                for secret in secrets:
                    assert secret not in row, (table, row)
                for token in tokens_only:
                    assert token.split(".", 1)[1] not in row, (table, row)

        # ...and the links that were emailed work.
        verified = await client.post(
            "/api/auth/verify-email", json={"token": token_of(verify_link)}
        )
        assert verified.status_code == 204
        reset = await client.post(
            "/api/auth/password/reset",
            json={"token": token_of(reset_link), "password": NEW_PASSWORD},
        )
        assert reset.status_code == 204


# --- 5. password/forgot per client IP ----------------------------------------------------


async def test_forgot_is_limited_per_ip_and_stays_silent(settings: Settings) -> None:
    from topsmile.app import create_app, lifespan

    app = create_app(
        msgspec.structs.replace(settings, rate_forgot_per_ip=Rate(3, 3600)), run_relay=False
    )
    async with lifespan(app.app), client_for(app) as client:
        clinic = await seed_clinic(("admin", "receptionist", "manager", "patient"))
        await app.app.state.redis.delete(
            *await app.app.state.redis.keys("throttle:forgot-ip:*") or ["-"]
        )
        for role in ("admin", "receptionist", "manager", "patient"):
            assert (
                await client.post(
                    "/api/auth/password/forgot",
                    json={"clinic": clinic.slug, "email": clinic.email(role)},
                )
            ).status_code == 202
    async with db.tenant_transaction(clinic.id):
        rows = await db.fetch(
            "SELECT entity_id FROM event_outbox WHERE name = 'user.password_reset_requested'"
        )
    assert len(rows) == 3
    assert str(clinic.users["patient"]) not in {row["entity_id"] for row in rows}


def test_the_forgot_per_ip_default_follows_the_spec() -> None:
    from topsmile.config import load_settings

    assert load_settings(environ={}, dotenv=None).rate_forgot_per_ip == Rate(30, 3600)
    changed = load_settings(environ={"TOPSMILE_RATE_FORGOT_PER_IP": "7/15m"}, dotenv=None)
    assert changed.rate_forgot_per_ip == Rate(7, 900)
