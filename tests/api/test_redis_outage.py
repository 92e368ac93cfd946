"""A Redis outage never lets a revoked session or a rotated refresh token through, and
does not take login down (SPEC §3: PostgreSQL stays the source of truth)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from tests.api.appointment_fixtures import (
    APPOINTMENTS,
    add_patient,
    book,
    local_start,
    open_all_day,
)
from tests.api.auth_fixtures import csrf, login, seed_clinic
from tests.api.cache_fixtures import cache_of, claims_of, sign_in_on_both, until
from tests.conftest import client_for
from topsmile.app import create_app, lifespan
from topsmile.config import Settings
from topsmile.core.embedded import EmbeddedRedis


async def test_redis_stopped_during_refresh_and_logout(settings: Settings, tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path / "redis")
    redis.start()
    app = create_app(msgspec.structs.replace(settings, redis_url=redis.url), run_relay=False)
    try:
        async with lifespan(app.app), client_for(app) as owner, client_for(app) as thief:
            clinic = await seed_clinic(("admin", "receptionist"))
            await login(owner, clinic, "admin")
            stolen_refresh = owner.cookies.get("refresh_token")

            redis.stop()
            await login(thief, clinic, "receptionist")  # login still works without Redis
            assert (await owner.post("/api/auth/refresh")).status_code == 200
            assert (await owner.get("/api/auth/me")).status_code == 200
            rotated_access = owner.cookies.get("access_token")

            thief.cookies.set("refresh_token", stolen_refresh, path="/api/auth")
            assert (await thief.post("/api/auth/refresh")).status_code == 401  # reuse, from the DB
            assert (await owner.get("/api/auth/me")).status_code == 401  # whole session revoked

            await login(owner, clinic, "admin")
            logged_out_access = owner.cookies.get("access_token")
            assert (await owner.post("/api/auth/logout")).status_code == 204

            redis.start()
            for access in (rotated_access, logged_out_access):
                async with client_for(app) as replay:
                    replay.cookies.set("access_token", access)
                    assert (await replay.get("/api/auth/me")).status_code == 401
            async with client_for(app) as replay:
                replay.cookies.set("refresh_token", stolen_refresh, path="/api/auth")
                assert (await replay.post("/api/auth/refresh")).status_code == 401
    finally:
        redis.release()


async def test_redis_stopped_a_warm_session_cache_is_not_trusted(
    settings: Settings, tmp_path: Path
) -> None:
    """Two processes (app instances with their own caches) on a Redis that stops: the one
    holding the session in its cache still refuses it at once after a logout elsewhere, and a
    role change elsewhere still applies on the next request."""
    redis = EmbeddedRedis(tmp_path / "redis")
    redis.start()
    shared = msgspec.structs.replace(settings, redis_url=redis.url)
    a, b = create_app(shared, run_relay=False), create_app(shared, run_relay=False)
    try:
        async with lifespan(a.app), lifespan(b.app):
            cache_b = cache_of(b)
            clinic = await seed_clinic(("admin", "manager", "receptionist"))
            async with (
                client_for(a) as admin,
                client_for(a) as on_a,
                client_for(b) as on_b,
                client_for(b) as manager,
            ):
                await until(lambda: cache_b.live, "B's subscription")
                await login(admin, clinic, "admin")
                await sign_in_on_both(on_a, on_b, clinic, "receptionist")
                await login(manager, clinic, "manager")
                claims = claims_of(on_b, settings)
                assert (await on_b.get("/api/auth/me")).status_code == 200
                assert (await manager.get("/api/users")).status_code == 200
                cached = cache_b.get(claims.session_id, claims.user_id)
                assert cached is not None
                assert cached.role == "receptionist"

                redis.stop()
                await until(lambda: not cache_b.live, "B to notice the outage")
                assert cache_b.get(claims.session_id, claims.user_id) is None
                assert (await on_a.post("/api/auth/logout")).status_code == 204
                assert (await on_b.get("/api/auth/me")).status_code == 401
                demote = await admin.patch(
                    f"/api/users/{clinic.users['manager']}",
                    json={"role": "receptionist"},
                    headers=csrf(admin),
                )
                assert demote.status_code == 200, demote.text
                assert (await manager.get("/api/users")).status_code == 403

                redis.start()
                await until(lambda: cache_b.live, "B to subscribe again")
                assert (await on_b.get("/api/auth/me")).status_code == 401
                assert (await manager.get("/api/users")).status_code == 403
    finally:
        redis.release()


async def test_redis_stopped_a_request_with_an_idempotency_key_is_503_and_books_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    """Without Redis no key can be honoured: 503 rather than risking the work twice; a
    request without a key still books."""
    redis = EmbeddedRedis(tmp_path / "redis")
    redis.start()
    app = create_app(msgspec.structs.replace(settings, redis_url=redis.url), run_relay=False)
    try:
        async with lifespan(app.app), client_for(app) as admin:
            clinic = await seed_clinic(("admin",))
            await login(admin, clinic, "admin")
            sid, pid = await open_all_day(admin)
            patient_id = str(await add_patient(clinic))
            body = {"patientId": patient_id}
            redis.stop()
            headers = {**csrf(admin), "Idempotency-Key": "outage"}
            payload = {
                "serviceId": sid,
                "providerId": pid,
                "start": local_start(3, 10).isoformat(),
                **body,
            }
            refused = await admin.post(APPOINTMENTS, json=payload, headers=headers)
            assert refused.status_code == 503
            assert refused.json()["type"] == "/problems/service-unavailable"
            booked = await book(admin, sid, pid, local_start(3, 10), **body)
            assert booked.status_code == 201, booked.text
    finally:
        redis.release()
