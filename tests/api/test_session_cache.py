"""The per-process session cache never outlives a revocation, a role change or a
deactivation made on another process (SPEC §3, §4). Two app instances in one test process
stand in for two processes: each has its own runtime and cache, both share Redis and the
database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from tests.api.auth_fixtures import csrf, login, seed_clinic
from tests.api.cache_fixtures import cache_of, claims_of, sign_in_on_both, until
from tests.conftest import client_for
from topsmile.app import create_app, lifespan
from topsmile.config import Settings
from topsmile.core import clock
from topsmile.core.middleware import EdgeMiddleware


@pytest.fixture
async def other_process(settings: Settings) -> AsyncIterator[EdgeMiddleware]:
    app = create_app(settings, run_relay=False)
    async with lifespan(app.app):
        await until(lambda: cache_of(app).live, "the second app's subscription")
        yield app


async def test_a_session_is_served_from_the_cache_once_read(
    app: EdgeMiddleware, other_process: EdgeMiddleware, settings: Settings
) -> None:
    clinic = await seed_clinic(("receptionist",))
    async with client_for(app) as on_a, client_for(other_process) as on_b:
        await sign_in_on_both(on_a, on_b, clinic, "receptionist")
        claims = claims_of(on_a, settings)
        cache = cache_of(other_process)
        assert cache.get(claims.session_id, claims.user_id) is None
        assert (await on_b.get("/api/auth/me")).status_code == 200
        entry = cache.get(claims.session_id, claims.user_id)
        assert entry is not None
        assert entry.role == "receptionist"


async def test_logout_on_one_process_is_refused_at_once_on_another(
    app: EdgeMiddleware, other_process: EdgeMiddleware, settings: Settings
) -> None:
    clinic = await seed_clinic(("admin", "receptionist"))
    async with client_for(app) as on_a, client_for(other_process) as on_b:
        await sign_in_on_both(on_a, on_b, clinic, "receptionist")
        claims = claims_of(on_a, settings)
        assert (await on_b.get("/api/auth/me")).status_code == 200  # cached on B
        assert cache_of(other_process).get(claims.session_id, claims.user_id) is not None
        assert (await on_a.post("/api/auth/logout")).status_code == 204
        assert (await on_b.get("/api/auth/me")).status_code == 401


async def test_role_change_and_deactivation_take_effect_at_once_on_another_process(
    app: EdgeMiddleware, other_process: EdgeMiddleware, settings: Settings
) -> None:
    clinic = await seed_clinic(("admin", "manager"))
    manager_id = clinic.users["manager"]
    admin = client_for(app)
    async with admin, client_for(app) as on_a, client_for(other_process) as on_b:
        await sign_in_on_both(on_a, on_b, clinic, "manager")
        await login(admin, clinic, "admin")
        assert (await on_b.get("/api/users")).status_code == 200  # managers may list users
        patch = await admin.patch(
            f"/api/users/{manager_id}", json={"role": "receptionist"}, headers=csrf(admin)
        )
        assert patch.status_code == 200, patch.text
        assert (await on_b.get("/api/users")).status_code == 403
        assert (await on_b.get("/api/auth/me")).json()["user"]["role"] == "receptionist"

        patch = await admin.patch(
            f"/api/users/{manager_id}", json={"active": False}, headers=csrf(admin)
        )
        assert patch.status_code == 200, patch.text
        assert (await on_b.get("/api/auth/me")).status_code == 401


async def test_an_invalidation_during_a_row_read_keeps_the_row_out_of_the_cache(
    other_process: EdgeMiddleware, settings: Settings
) -> None:
    clinic = await seed_clinic(("receptionist",))
    client = client_for(other_process)
    async with client:
        await login(client, clinic, "receptionist")
        claims = claims_of(client, settings)
        cache = cache_of(other_process)
        cache.drop_sessions([claims.session_id])
        epoch = cache.epoch  # taken before reading the row, as load_principal does
        cache.drop_user(claims.user_id)  # a role change lands while the row is read
        expires = clock.now() + timedelta(days=1)
        put = (claims.session_id, claims.user_id, clinic.id, "receptionist", expires)
        assert cache.put(*put, epoch) is None
        assert cache.get(claims.session_id, claims.user_id) is None
        assert cache.put(*put, cache.epoch) is not None
        entry = cache.get(claims.session_id, claims.user_id)
        assert entry is not None
        assert entry.role == "receptionist"


async def test_me_is_remembered_per_session_and_forgotten_on_every_change_elsewhere(
    app: EdgeMiddleware, other_process: EdgeMiddleware, settings: Settings
) -> None:
    """B remembers `/api/auth/me`; a change to the user (names by an admin, the email
    verified) or to the clinic made through A shows on B's very next answer."""
    clinic = await seed_clinic(("admin", "receptionist"))
    user_id = clinic.users["receptionist"]
    async with client_for(app) as admin, client_for(app) as on_a, client_for(other_process) as on_b:
        await sign_in_on_both(on_a, on_b, clinic, "receptionist")
        await login(admin, clinic, "admin")
        claims = claims_of(on_a, settings)
        first = (await on_b.get("/api/auth/me")).json()
        entry = cache_of(other_process).get(claims.session_id, claims.user_id)
        assert entry is not None
        assert entry.memo

        patch = await admin.patch(
            f"/api/users/{user_id}", json={"firstName": "Renamed"}, headers=csrf(admin)
        )
        assert patch.status_code == 200, patch.text
        assert (await on_b.get("/api/auth/me")).json()["user"]["firstName"] == "Renamed"

        settings_patch = {"name": "Another Name", "settings": {"minNoticeMinutes": 77}}
        patch = await admin.patch("/api/clinic", json=settings_patch, headers=csrf(admin))
        assert patch.status_code == 200, patch.text
        me = (await on_b.get("/api/auth/me")).json()
        assert me["clinic"]["name"] == "Another Name"
        assert me["clinic"]["settings"]["minNoticeMinutes"] == 77
        assert me["clinic"]["name"] != first["clinic"]["name"]
