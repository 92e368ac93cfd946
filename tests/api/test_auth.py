"""SPEC §3: login, refresh rotation and reuse, logout, sessions, cookies, CSRF, tokens."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import jwt
import pytest

from tests.api.auth_fixtures import PASSWORD, SeededClinic, csrf, login, seed_clinic
from tests.conftest import client_for
from topsmile.auth import tokens
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


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


async def test_login_sets_three_cookies_with_spec_flags(
    fresh: httpx.AsyncClient, clinic: SeededClinic
) -> None:
    response = await login(fresh, clinic, "admin")
    body = response.json()
    assert body["user"]["email"] == clinic.email("admin")
    assert body["user"]["role"] == "admin"
    assert body["clinic"]["slug"] == clinic.slug
    assert body["clinic"]["settings"]["slotIntervalMinutes"] == 15
    assert "token" not in response.text.lower().replace("csrf", "")
    cookies = _set_cookies(response)
    access, refresh, csrf_cookie = (
        cookies["access_token"],
        cookies["refresh_token"],
        cookies["csrf_token"],
    )
    assert "HttpOnly" in access
    assert "SameSite=lax" in access.replace("Lax", "lax")
    assert "Path=/" in access
    assert "Max-Age=900" in access
    assert "HttpOnly" in refresh
    assert "SameSite=strict" in refresh.replace("Strict", "strict")
    assert "Path=/api/auth" in refresh
    assert f"Max-Age={7 * 24 * 3600}" in refresh
    assert "HttpOnly" not in csrf_cookie
    for header in cookies.values():
        assert "Secure" not in header  # development: plain-http localhost works
    for name in ("authorization", "x-access-token"):
        assert name not in response.headers


@pytest.mark.parametrize(
    ("slug", "email", "password"),
    [
        ("no-such-clinic", "admin@x.example.com", PASSWORD),
        (None, "nobody@example.com", PASSWORD),
        (None, None, "Wrong-Password-123"),
    ],
)
async def test_bad_credentials_are_one_401(
    fresh: httpx.AsyncClient,
    clinic: SeededClinic,
    slug: str | None,
    email: str | None,
    password: str,
) -> None:
    response = await fresh.post(
        "/api/auth/login",
        json={
            "clinic": slug or clinic.slug,
            "email": email or clinic.email("admin"),
            "password": password,
        },
    )
    assert response.status_code == 401
    assert response.json()["type"] == "/problems/unauthenticated"
    assert response.json()["detail"] == "The clinic, email or password is not right."
    assert "set-cookie" not in response.headers


async def test_inactive_user_gets_the_same_401(
    fresh: httpx.AsyncClient, clinic: SeededClinic
) -> None:
    async with db.tenant_transaction(clinic.id):
        await db.fetch(
            "UPDATE app_user SET active = false WHERE id = {}", clinic.users["receptionist"]
        )
    response = await fresh.post(
        "/api/auth/login",
        json={"clinic": clinic.slug, "email": clinic.email("receptionist"), "password": PASSWORD},
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "The clinic, email or password is not right."


async def test_email_is_case_insensitive(fresh: httpx.AsyncClient, clinic: SeededClinic) -> None:
    response = await fresh.post(
        "/api/auth/login",
        json={"clinic": clinic.slug, "email": clinic.email("admin").upper(), "password": PASSWORD},
    )
    assert response.status_code == 200


async def test_me_requires_a_session(fresh: httpx.AsyncClient, clinic: SeededClinic) -> None:
    assert (await fresh.get("/api/auth/me")).status_code == 401
    await login(fresh, clinic, "patient")
    me = await fresh.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json()["user"]["role"] == "patient"
    assert me.headers["cache-control"] == "no-store"


async def test_refresh_rotates_and_reuse_revokes_the_whole_session(
    fresh: httpx.AsyncClient, clinic: SeededClinic, app: EdgeMiddleware
) -> None:
    await login(fresh, clinic, "admin")
    first_refresh = fresh.cookies.get("refresh_token")
    rotated = await fresh.post("/api/auth/refresh")
    assert rotated.status_code == 200
    assert set(_set_cookies(rotated)) == {"access_token", "refresh_token", "csrf_token"}
    second_refresh = fresh.cookies.get("refresh_token")
    assert second_refresh != first_refresh
    assert (await fresh.get("/api/auth/me")).status_code == 200

    async with client_for(app) as thief:
        thief.cookies.set("refresh_token", first_refresh, path="/api/auth")
        replay = await thief.post("/api/auth/refresh")
    assert replay.status_code == 401
    # The legitimate holder's tokens die with the session.
    assert (await fresh.get("/api/auth/me")).status_code == 401
    assert (await fresh.post("/api/auth/refresh")).status_code == 401
    async with db.tenant_transaction(clinic.id):
        actions = [
            r["action"]
            for r in await db.fetch(
                "SELECT e.name AS action FROM event_outbox e WHERE e.clinic_id = {}", clinic.id
            )
        ]
    assert "auth.refresh_reuse_detected" in actions


async def test_logout_stops_the_access_token_at_once(
    fresh: httpx.AsyncClient, clinic: SeededClinic, app: EdgeMiddleware
) -> None:
    await login(fresh, clinic, "admin")
    access = fresh.cookies.get("access_token")
    response = await fresh.post("/api/auth/logout")
    assert response.status_code == 204
    assert all("Max-Age=0" in h for h in _set_cookies(response).values())
    async with client_for(app) as replay:
        replay.cookies.set("access_token", access)
        assert (await replay.get("/api/auth/me")).status_code == 401


async def test_logout_all_revokes_every_session(clinic: SeededClinic, app: EdgeMiddleware) -> None:
    async with client_for(app) as laptop, client_for(app) as phone:
        await login(laptop, clinic, "admin")
        await login(phone, clinic, "admin")
        assert (await laptop.post("/api/auth/logout-all")).status_code == 403  # CSRF
        assert (await laptop.post("/api/auth/logout-all", headers=csrf(laptop))).status_code == 204
        assert (await phone.get("/api/auth/me")).status_code == 401
        assert (await laptop.get("/api/auth/me")).status_code == 401


async def test_sessions_list_and_revoke(clinic: SeededClinic, app: EdgeMiddleware) -> None:
    async with client_for(app) as laptop, client_for(app) as phone:
        await login(laptop, clinic, "admin")
        await login(phone, clinic, "admin")
        listed = (await laptop.get("/api/auth/sessions")).json()
        assert len(listed) == 2
        assert sum(s["current"] for s in listed) == 1
        assert set(listed[0]) == {"id", "createdAt", "lastUsedAt", "userAgent", "ip", "current"}
        other = next(s["id"] for s in listed if not s["current"])
        revoked = await laptop.delete(f"/api/auth/sessions/{other}", headers=csrf(laptop))
        assert revoked.status_code == 204
        assert (await phone.get("/api/auth/me")).status_code == 401
        again = await laptop.delete(f"/api/auth/sessions/{other}", headers=csrf(laptop))
        assert again.status_code == 404
        unknown = await laptop.delete(f"/api/auth/sessions/{uuid.uuid4()}", headers=csrf(laptop))
        assert unknown.status_code == 404


async def test_another_users_session_is_404(clinic: SeededClinic, app: EdgeMiddleware) -> None:
    async with client_for(app) as admin, client_for(app) as patient:
        await login(admin, clinic, "admin")
        await login(patient, clinic, "patient")
        [mine] = (await patient.get("/api/auth/sessions")).json()
        response = await admin.delete(f"/api/auth/sessions/{mine['id']}", headers=csrf(admin))
        assert response.status_code == 404
        assert (await patient.get("/api/auth/me")).status_code == 200


async def test_csrf_is_required_and_bound_to_the_session(
    clinic: SeededClinic, app: EdgeMiddleware
) -> None:
    async with client_for(app) as one, client_for(app) as two:
        await login(one, clinic, "admin")
        await login(two, clinic, "admin")
        body = {"currentPassword": PASSWORD, "newPassword": "Another-Strong-Pass-42"}
        missing = await one.post("/api/auth/password/change", json=body)
        assert missing.status_code == 403
        assert missing.json()["type"] == "/problems/csrf-failed"
        foreign = await one.post("/api/auth/password/change", json=body, headers=csrf(two))
        assert foreign.json()["type"] == "/problems/csrf-failed"
        ok = await one.post("/api/auth/password/change", json=body, headers=csrf(one))
        assert ok.status_code == 204, ok.text


async def test_password_change_keeps_this_session_only(
    clinic: SeededClinic, app: EdgeMiddleware
) -> None:
    async with client_for(app) as here, client_for(app) as there:
        await login(here, clinic, "receptionist")
        await login(there, clinic, "receptionist")
        wrong = await here.post(
            "/api/auth/password/change",
            json={"currentPassword": "not-it-at-all", "newPassword": "Another-Strong-Pass-42"},
            headers=csrf(here),
        )
        assert wrong.status_code == 400
        assert wrong.json()["errors"][0]["field"] == "currentPassword"
        weak = await here.post(
            "/api/auth/password/change",
            json={"currentPassword": PASSWORD, "newPassword": "password"},
            headers=csrf(here),
        )
        assert weak.status_code == 400
        assert weak.json()["errors"][0]["field"] == "newPassword"
        ok = await here.post(
            "/api/auth/password/change",
            json={"currentPassword": PASSWORD, "newPassword": "Another-Strong-Pass-42"},
            headers=csrf(here),
        )
        assert ok.status_code == 204
        assert (await here.get("/api/auth/me")).status_code == 200
        assert (await there.get("/api/auth/me")).status_code == 401
        relogin = await here.post(
            "/api/auth/login",
            json={
                "clinic": clinic.slug,
                "email": clinic.email("receptionist"),
                "password": "Another-Strong-Pass-42",
            },
        )
        assert relogin.status_code == 200


async def test_tampered_and_alg_none_tokens_are_rejected(
    fresh: httpx.AsyncClient, clinic: SeededClinic, settings: Settings
) -> None:
    await login(fresh, clinic, "admin")
    good = fresh.cookies.get("access_token")
    claims = jwt.decode(good, options={"verify_signature": False})
    forged_role = jwt.encode(
        {**claims, "role": "admin", "cid": str(uuid.uuid4())},
        tokens.derive_key(settings.secret_key, "jwt"),
        algorithm="HS256",
    )
    unsigned = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    other_key = jwt.encode(claims, "x" * 32, algorithm="HS256")
    header, payload, signature = good.split(".")
    flipped = (
        f"{header}.{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"
    )
    for token in (unsigned, other_key, flipped, forged_role, "garbage", ""):
        fresh.cookies.set("access_token", token)
        assert (await fresh.get("/api/auth/me")).status_code == 401, token


async def test_expired_access_token_is_rejected_after_leeway(
    fresh: httpx.AsyncClient, clinic: SeededClinic
) -> None:
    await login(fresh, clinic, "admin")
    # Verified now, so the process remembers the verification: expiry is still checked.
    assert (await fresh.get("/api/auth/me")).status_code == 200
    try:
        clock.travel(timedelta(minutes=15, seconds=20))  # within the 30 s leeway
        assert (await fresh.get("/api/auth/me")).status_code == 200
        clock.travel(timedelta(seconds=20))
        assert (await fresh.get("/api/auth/me")).status_code == 401
        assert (await fresh.post("/api/auth/refresh")).status_code == 200  # refresh still valid
        assert (await fresh.get("/api/auth/me")).status_code == 200
    finally:
        clock.reset()


async def test_refresh_token_expires_after_seven_days(
    fresh: httpx.AsyncClient, clinic: SeededClinic
) -> None:
    await login(fresh, clinic, "admin")
    try:
        clock.travel(timedelta(days=7, minutes=1))
        assert (await fresh.post("/api/auth/refresh")).status_code == 401
    finally:
        clock.reset()


async def test_refresh_without_a_cookie_is_401(fresh: httpx.AsyncClient) -> None:
    assert (await fresh.post("/api/auth/refresh")).status_code == 401
    fresh.cookies.set("refresh_token", "nonsense", path="/api/auth")
    assert (await fresh.post("/api/auth/refresh")).status_code == 401
