"""SPEC §3: patient registration, email verification, password forgot/reset, throttles."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import msgspec
import pytest

from tests.api.account_mail import emailed_link, token_of
from tests.api.auth_fixtures import PASSWORD, SeededClinic, seed_clinic
from tests.conftest import client_for
from topsmile.config import Settings
from topsmile.core import clock, db
from topsmile.core.middleware import EdgeMiddleware


@pytest.fixture
async def clinic(app: EdgeMiddleware) -> SeededClinic:
    return await seed_clinic()


@pytest.fixture
async def fresh(app: EdgeMiddleware) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


def _registration(clinic: SeededClinic, email: str = "maria@example.com") -> dict[str, object]:
    return {
        "clinic": clinic.slug,
        "email": email,
        "password": PASSWORD,
        "firstName": "Maria",
        "lastName": "Silva",
        "phone": "+55 (11) 98765-4321",
        "dateOfBirth": "1990-04-02",
    }


async def test_register_creates_user_patient_and_session(
    fresh: httpx.AsyncClient, clinic: SeededClinic, settings: Settings
) -> None:
    response = await fresh.post(
        "/api/auth/register", json=_registration(clinic, "Maria@Example.com")
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["user"]["email"] == "maria@example.com"
    assert body["user"]["role"] == "patient"
    assert body["user"]["emailVerified"] is False
    assert body["patient"]["phone"] == "+5511987654321"
    assert body["patient"]["userId"] == body["user"]["id"]
    assert "notes" not in body["patient"]
    assert {"access_token", "refresh_token", "csrf_token"} <= set(fresh.cookies.keys())
    assert (await fresh.get("/api/auth/me")).json()["user"]["id"] == body["user"]["id"]
    link = await emailed_link(settings, clinic.id, "user.registered")
    assert link.startswith(f"{settings.app_url}/verify-email?token=")


async def test_register_rejects_duplicates_and_bad_input(
    fresh: httpx.AsyncClient, clinic: SeededClinic
) -> None:
    assert (await fresh.post("/api/auth/register", json=_registration(clinic))).status_code == 201
    again = await fresh.post("/api/auth/register", json=_registration(clinic, "MARIA@example.com"))
    assert again.status_code == 409
    cases = [
        ({"password": "short"}, "password"),
        ({"password": "password123"}, "password"),
        ({"password": "new@example.com"}, "password"),
        ({"phone": "12345"}, "phone"),
        ({"email": "not-an-email"}, "email"),
        ({"firstName": "x" * 101}, "firstName"),
        ({"dateOfBirth": "1990-02-30"}, "dateOfBirth"),
        ({"surprise": True}, "surprise"),
    ]
    for change, field in cases:
        body = {**_registration(clinic, "new@example.com"), **change}
        response = await fresh.post("/api/auth/register", json=body)
        assert response.status_code == 400, (change, response.text)
        assert response.json()["errors"][0]["field"] == field, (change, response.json())
    unknown = await fresh.post(
        "/api/auth/register", json={**_registration(clinic), "clinic": "nope-nope"}
    )
    assert unknown.status_code == 404


async def test_same_email_may_exist_in_two_clinics(
    fresh: httpx.AsyncClient, app: EdgeMiddleware
) -> None:
    one, two = await seed_clinic(()), await seed_clinic(())
    assert (await fresh.post("/api/auth/register", json=_registration(one))).status_code == 201
    async with client_for(app) as other:
        assert (await other.post("/api/auth/register", json=_registration(two))).status_code == 201


async def test_verify_email_is_single_use_and_expires(
    fresh: httpx.AsyncClient, clinic: SeededClinic, settings: Settings
) -> None:
    await fresh.post("/api/auth/register", json=_registration(clinic))
    token = token_of(await emailed_link(settings, clinic.id, "user.registered"))
    # Asked before: the session's memo of `/me` must not outlive the verification.
    assert (await fresh.get("/api/auth/me")).json()["user"]["emailVerified"] is False
    assert (await fresh.post("/api/auth/verify-email", json={"token": token})).status_code == 204
    assert (await fresh.get("/api/auth/me")).json()["user"]["emailVerified"] is True
    reused = await fresh.post("/api/auth/verify-email", json={"token": token})
    assert reused.status_code == 400
    assert reused.json()["errors"][0]["field"] == "token"
    for bad in ("nonsense", f"{uuid.uuid4().hex}.abc", ""):
        assert (await fresh.post("/api/auth/verify-email", json={"token": bad})).status_code == 400


async def test_verify_email_token_dies_after_24h(
    fresh: httpx.AsyncClient, clinic: SeededClinic, settings: Settings
) -> None:
    await fresh.post("/api/auth/register", json=_registration(clinic))
    token = token_of(await emailed_link(settings, clinic.id, "user.registered"))
    try:
        clock.travel(timedelta(hours=24, minutes=1))
        assert (
            await fresh.post("/api/auth/verify-email", json={"token": token})
        ).status_code == 400
    finally:
        clock.reset()


async def test_forgot_and_reset_password(
    clinic: SeededClinic, app: EdgeMiddleware, settings: Settings
) -> None:
    async with client_for(app) as browser, client_for(app) as other_device:
        for client in (browser, other_device):
            await client.post(
                "/api/auth/login",
                json={
                    "clinic": clinic.slug,
                    "email": clinic.email("patient"),
                    "password": PASSWORD,
                },
            )
        forgot = await browser.post(
            "/api/auth/password/forgot",
            json={"clinic": clinic.slug, "email": clinic.email("patient")},
        )
        assert forgot.status_code == 202
        link = await emailed_link(settings, clinic.id, "user.password_reset_requested")
        assert link.startswith(f"{settings.app_url}/reset-password?token=")
        token = token_of(link)
        weak = await browser.post(
            "/api/auth/password/reset", json={"token": token, "password": "123"}
        )
        assert weak.status_code == 400
        new_password = "Brand-New-Secret-77"
        reset = await browser.post(
            "/api/auth/password/reset", json={"token": token, "password": new_password}
        )
        assert reset.status_code == 204
        assert (await other_device.get("/api/auth/me")).status_code == 401  # all sessions revoked
        again = await browser.post(
            "/api/auth/password/reset", json={"token": token, "password": new_password}
        )
        assert again.status_code == 400
        relogin = await browser.post(
            "/api/auth/login",
            json={
                "clinic": clinic.slug,
                "email": clinic.email("patient"),
                "password": new_password,
            },
        )
        assert relogin.status_code == 200


async def test_reset_token_expires_after_30_minutes(
    fresh: httpx.AsyncClient, clinic: SeededClinic, settings: Settings
) -> None:
    await fresh.post(
        "/api/auth/password/forgot", json={"clinic": clinic.slug, "email": clinic.email("admin")}
    )
    token = token_of(await emailed_link(settings, clinic.id, "user.password_reset_requested"))
    try:
        clock.travel(timedelta(minutes=31))
        response = await fresh.post(
            "/api/auth/password/reset", json={"token": token, "password": "Brand-New-Secret-77"}
        )
        assert response.status_code == 400
    finally:
        clock.reset()


async def test_forgot_always_202_and_silent_over_throttle(
    fresh: httpx.AsyncClient, clinic: SeededClinic
) -> None:
    unknown = await fresh.post(
        "/api/auth/password/forgot", json={"clinic": clinic.slug, "email": "ghost@example.com"}
    )
    assert unknown.status_code == 202
    for _ in range(7):
        response = await fresh.post(
            "/api/auth/password/forgot",
            json={"clinic": clinic.slug, "email": clinic.email("admin")},
        )
        assert response.status_code == 202
    async with db.tenant_transaction(clinic.id):
        rows = await db.fetch(
            "SELECT count(*) AS n FROM event_outbox WHERE name = 'user.password_reset_requested'"
        )
    assert rows[0]["n"] == 5


@pytest.mark.parametrize("known", [True, False])
async def test_five_failures_lock_the_account_with_429(
    fresh: httpx.AsyncClient, clinic: SeededClinic, known: bool
) -> None:
    email = clinic.email("admin") if known else f"ghost-{uuid.uuid4().hex[:6]}@example.com"
    for _ in range(5):
        response = await fresh.post(
            "/api/auth/login",
            json={"clinic": clinic.slug, "email": email, "password": "Wrong-Password-1"},
        )
        assert response.status_code == 401
    locked = await fresh.post(
        "/api/auth/login", json={"clinic": clinic.slug, "email": email, "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert locked.json()["type"] == "/problems/rate-limited"
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60
    other = await fresh.post(
        "/api/auth/login",
        json={"clinic": clinic.slug, "email": clinic.email("patient"), "password": PASSWORD},
    )
    assert other.status_code == 200  # only that account is locked


async def test_login_is_throttled_per_ip(settings: Settings) -> None:
    from topsmile.app import create_app, lifespan
    from topsmile.config import Rate

    app = create_app(
        msgspec.structs.replace(settings, rate_login_per_ip=Rate(3, 900)), run_relay=False
    )
    async with lifespan(app.app), client_for(app) as client:
        clinic = await seed_clinic(("admin",))
        await app.app.state.redis.delete(
            *await app.app.state.redis.keys("throttle:login-ip:*") or ["-"]
        )
        statuses = []
        for _ in range(4):
            response = await client.post(
                "/api/auth/login",
                json={"clinic": clinic.slug, "email": clinic.email("admin"), "password": PASSWORD},
            )
            statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429]


async def test_registration_is_throttled_per_ip(settings: Settings) -> None:
    from topsmile.app import create_app, lifespan
    from topsmile.config import Rate

    app = create_app(
        msgspec.structs.replace(settings, rate_register_per_ip=Rate(10, 3600)), run_relay=False
    )
    async with lifespan(app.app), client_for(app) as client:
        clinic = await seed_clinic(())
        await app.app.state.redis.delete(
            *await app.app.state.redis.keys("throttle:register-ip:*") or ["-"]
        )
        statuses = [
            (
                await client.post(
                    "/api/auth/register",
                    json={**_registration(clinic, f"p{i}@example.com"), "phone": None},
                )
            ).status_code
            for i in range(11)
        ]
    assert statuses == [201] * 10 + [429]


async def test_login_rehashes_weaker_hashes(fresh: httpx.AsyncClient, clinic: SeededClinic) -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    async with db.tenant_transaction(clinic.id):
        await db.fetch(
            "UPDATE app_user SET password_hash = {} WHERE id = {}", weak, clinic.users["admin"]
        )
    await fresh.post(
        "/api/auth/login",
        json={"clinic": clinic.slug, "email": clinic.email("admin"), "password": PASSWORD},
    )
    async with db.tenant_transaction(clinic.id):
        [row] = await db.fetch(
            "SELECT password_hash FROM app_user WHERE id = {}", clinic.users["admin"]
        )
    assert row["password_hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_authenticated_calls_are_throttled_per_user(settings: Settings) -> None:
    from topsmile.app import create_app, lifespan
    from topsmile.config import Rate

    app = create_app(
        msgspec.structs.replace(settings, rate_api_per_user=Rate(3, 60)), run_relay=False
    )
    async with lifespan(app.app), client_for(app) as one, client_for(app) as two:
        clinic = await seed_clinic(("admin", "receptionist"))
        await one.post(
            "/api/auth/login",
            json={"clinic": clinic.slug, "email": clinic.email("admin"), "password": PASSWORD},
        )
        await two.post(
            "/api/auth/login",
            json={
                "clinic": clinic.slug,
                "email": clinic.email("receptionist"),
                "password": PASSWORD,
            },
        )
        statuses = [(await one.get("/api/auth/me")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert (await two.get("/api/auth/me")).status_code == 200  # another user is unaffected
