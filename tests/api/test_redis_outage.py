"""A Redis outage never lets a revoked session or a rotated refresh token through, and
does not take login down (SPEC §3: PostgreSQL stays the source of truth)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from tests.api.auth_fixtures import login, seed_clinic
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
