"""SPEC §4: staff users — list (admin, manager), create and change (admin)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.api.helpers import (
    PASSWORD,
    Clinic,
    add_user,
    csrf,
    decoded,
    login,
    signed_in_as,
    signup,
)
from tests.conftest import client_for
from topsmile.config import Settings
from topsmile.core import db
from topsmile.core.middleware import EdgeMiddleware


@pytest.fixture
async def clinic(client: httpx.AsyncClient) -> Clinic:
    """A new clinic; `client` is its admin."""
    return await signup(client)


def _status(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    if code is not None:
        assert body["type"] == f"/problems/{code}"
    return body


def _new_user(role: str = "receptionist", **overrides: Any) -> dict[str, Any]:
    return {
        "email": f"{uuid.uuid4().hex[:8]}@example.com",
        "password": PASSWORD,
        "firstName": "Rita",
        "lastName": "Reis",
        "role": role,
        **overrides,
    }


async def _patch(client: httpx.AsyncClient, user_id: object, body: object) -> httpx.Response:
    return await client.patch(f"/api/users/{user_id}", json=body, headers=csrf(client))


async def _until_waiting_on_advisory_locks(conn: asyncpg.Connection, count: int) -> None:
    for _ in range(500):
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
        )
        if waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} transactions never waited on an advisory lock")


# --- Listing ---------------------------------------------------------------------------------


async def test_admin_lists_staff_paged_without_patients(
    client: httpx.AsyncClient, app: EdgeMiddleware, clinic: Clinic
) -> None:
    created = [await add_user(client, clinic, role) for role in ("manager", "provider")]
    async with signed_in_as(app, client, clinic, "patient"):
        pass
    first = _status(await client.get("/api/users?page=1&pageSize=2"), 200)
    second = _status(await client.get("/api/users", params={"page": 2, "pageSize": 2}), 200)
    beyond = _status(await client.get("/api/users?page=9&pageSize=2"), 200)
    default = _status(await client.get("/api/users"), 200)

    assert (first["total"], first["page"], first["pageSize"]) == (3, 1, 2)
    assert [u["id"] for u in first["items"]] == [str(clinic.admin_id), created[0]["id"]]
    assert [u["id"] for u in second["items"]] == [created[1]["id"]]
    assert (beyond["items"], beyond["total"]) == ([], 3)
    assert (default["page"], default["pageSize"], len(default["items"])) == (1, 20, 3)
    assert all(u["role"] != "patient" for u in default["items"])
    assert set(default["items"][0]) == {
        "id",
        "clinicId",
        "email",
        "firstName",
        "lastName",
        "role",
        "emailVerified",
        "active",
        "createdAt",
    }
    assert default["items"][0]["createdAt"].endswith("Z")


@pytest.mark.parametrize(
    "query", ["pageSize=0", "pageSize=101", "page=0", "page=-1", "page=abc", "pageSize=2.5"]
)
async def test_bad_paging_is_400(client: httpx.AsyncClient, clinic: Clinic, query: str) -> None:
    _status(await client.get(f"/api/users?{query}"), 400, "validation-error")


@pytest.mark.parametrize(("role", "status"), [("manager", 200), ("receptionist", 403)])
async def test_list_role_matrix(
    client: httpx.AsyncClient, app: EdgeMiddleware, clinic: Clinic, role: str, status: int
) -> None:
    async with signed_in_as(app, client, clinic, role) as other:
        _status(await other.get("/api/users"), status)


@pytest.mark.parametrize("role", ["provider", "patient"])
async def test_list_forbidden_roles(
    client: httpx.AsyncClient, app: EdgeMiddleware, clinic: Clinic, role: str
) -> None:
    async with signed_in_as(app, client, clinic, role) as other:
        _status(await other.get("/api/users"), 403, "forbidden")


async def test_list_needs_a_session(app: EdgeMiddleware) -> None:
    async with client_for(app) as anonymous:
        _status(await anonymous.get("/api/users"), 401, "unauthenticated")


# --- Creating --------------------------------------------------------------------------------


async def test_admin_creates_a_staff_user_who_can_sign_in(
    client: httpx.AsyncClient, app: EdgeMiddleware, clinic: Clinic
) -> None:
    body = _new_user("provider", email=f"Dr.Lima@{clinic.slug}.Example.COM")
    response = await client.post("/api/users", json=body, headers=csrf(client))
    user = _status(response, 201)
    assert user["email"] == f"dr.lima@{clinic.slug}.example.com"
    assert (user["role"], user["active"], user["clinicId"]) == ("provider", True, str(clinic.id))
    assert "password" not in response.text.lower()
    async with client_for(app) as fresh:
        signed = await login(fresh, clinic, user["email"])
        assert signed.json()["user"]["role"] == "provider"
    async with db.tenant_transaction(clinic.id):
        rows = await db.fetch(
            "SELECT payload FROM event_outbox WHERE name = 'user.created' AND entity_id = {}",
            user["id"],
        )
    assert decoded(rows[0]["payload"]) == {"role": "provider"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"role": "patient"}, "role"),
        ({"role": "owner"}, "role"),
        ({"password": "password1"}, "password"),
        ({"password": "short"}, "password"),
        ({"email": "nope"}, "email"),
        ({"firstName": 5}, "firstName"),
        ({"lastName": " "}, "lastName"),
        ({"isAdmin": True}, "isAdmin"),
    ],
)
async def test_create_rejects_bad_fields(
    client: httpx.AsyncClient, clinic: Clinic, overrides: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/users", json=_new_user(**overrides), headers=csrf(client))
    body = _status(response, 400, "validation-error")
    assert field in [e["field"] for e in body["errors"]]


async def test_duplicate_email_in_clinic_is_409_but_other_clinics_may_reuse_it(
    client: httpx.AsyncClient, app: EdgeMiddleware, clinic: Clinic
) -> None:
    body = _new_user(email=f"same@{clinic.slug}.example.com")
    _status(await client.post("/api/users", json=body, headers=csrf(client)), 201)
    again = {**body, "email": body["email"].upper(), "role": "manager"}
    _status(await client.post("/api/users", json=again, headers=csrf(client)), 409, "conflict")
    admin_email = {**body, "email": clinic.admin_email}
    _status(await client.post("/api/users", json=admin_email, headers=csrf(client)), 409)
    async with client_for(app) as other_admin:
        await signup(other_admin)
        reused = await other_admin.post("/api/users", json=body, headers=csrf(other_admin))
        _status(reused, 201)


@pytest.mark.parametrize("role", ["manager", "receptionist", "provider", "patient"])
async def test_only_admins_create_users(
    client: httpx.AsyncClient, app: EdgeMiddleware, clinic: Clinic, role: str
) -> None:
    async with signed_in_as(app, client, clinic, role) as other:
        response = await other.post("/api/users", json=_new_user(), headers=csrf(other))
        _status(response, 403, "forbidden")


# --- Changing --------------------------------------------------------------------------------


async def test_admin_changes_role_and_names(
    client: httpx.AsyncClient, app: EdgeMiddleware, clinic: Clinic
) -> None:
    user = await add_user(client, clinic, "receptionist")
    async with client_for(app) as staff:
        await login(staff, clinic, user["email"])
        _status(await staff.get("/api/users"), 403)
        changed = _status(
            await _patch(client, user["id"], {"role": "manager", "firstName": " Rosa "}), 200
        )
        assert (changed["role"], changed["firstName"], changed["lastName"]) == (
            "manager",
            "Rosa",
            "Receptionist",
        )
        # The new role applies to the live session at once.
        _status(await staff.get("/api/users"), 200)
    async with db.tenant_transaction(clinic.id):
        rows = await db.fetch(
            "SELECT name, payload, actor_id FROM event_outbox WHERE entity_id = {}"
            " AND name IN ('user.role_changed', 'user.updated')",
            user["id"],
        )
    events = {r["name"]: decoded(r["payload"]) for r in rows}
    assert events == {
        "user.role_changed": {"from": "receptionist", "to": "manager"},
        "user.updated": {"fields": ["firstName"]},
    }
    assert {r["actor_id"] for r in rows} == {clinic.admin_id}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "patient"}, "role"),
        ({"active": "false"}, "active"),
        ({"email": "x@example.com"}, "email"),
        ({"firstName": ""}, "firstName"),
    ],
)
async def test_patch_rejects_bad_fields(
    client: httpx.AsyncClient, clinic: Clinic, body: dict[str, Any], field: str
) -> None:
    user = await add_user(client, clinic, "provider")
    response = await _patch(client, user["id"], body)
    errors = _status(response, 400, "validation-error")["errors"]
    assert field in [e["field"] for e in errors]


async def test_deactivation_signs_the_user_out(
    client: httpx.AsyncClient, app: EdgeMiddleware, clinic: Clinic
) -> None:
    user = await add_user(client, clinic, "manager")
    async with client_for(app) as staff, client_for(app) as second_device:
        await login(staff, clinic, user["email"])
        await login(second_device, clinic, user["email"])
        _status(await staff.get("/api/users"), 200)

        changed = _status(await _patch(client, user["id"], {"active": False}), 200)
        assert changed["active"] is False

        _status(await staff.get("/api/auth/me"), 401, "unauthenticated")
        _status(await second_device.get("/api/users"), 401, "unauthenticated")
        refreshed = await staff.post("/api/auth/refresh")
        _status(refreshed, 401)
        again = await staff.post(
            "/api/auth/login",
            json={"clinic": clinic.slug, "email": user["email"], "password": PASSWORD},
        )
        _status(again, 401)
    async with db.tenant_transaction(clinic.id):
        sessions = await db.fetch(
            "SELECT revoked_reason FROM auth_session WHERE user_id = {}", user["id"]
        )
    assert [s["revoked_reason"] for s in sessions] == ["deactivated", "deactivated"]

    reactivated = _status(await _patch(client, user["id"], {"active": True}), 200)
    assert reactivated["active"] is True
    async with client_for(app) as staff:
        await login(staff, clinic, user["email"])


async def test_last_active_admin_cannot_demote_or_deactivate_themself(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    _status(await _patch(client, clinic.admin_id, {"role": "manager"}), 409, "conflict")
    _status(await _patch(client, clinic.admin_id, {"active": False}), 409, "conflict")
    _status(await _patch(client, clinic.admin_id, {"firstName": "Still"}), 200)
    # An inactive admin does not count as the clinic's admin.
    spare = await add_user(client, clinic, "admin", email=f"spare@{clinic.slug}.example.com")
    _status(await _patch(client, spare["id"], {"active": False}), 200)
    _status(await _patch(client, clinic.admin_id, {"role": "manager"}), 409)

    _status(await _patch(client, spare["id"], {"active": True}), 200)
    demoted = _status(await _patch(client, clinic.admin_id, {"role": "manager"}), 200)
    assert demoted["role"] == "manager"
    # Now a manager: may read users but not change them.
    _status(await client.get("/api/users"), 200)
    _status(await _patch(client, spare["id"], {"role": "manager"}), 403, "forbidden")


async def test_two_admins_cannot_demote_each_other_at_once(
    client: httpx.AsyncClient, app: EdgeMiddleware, clinic: Clinic, settings: Settings
) -> None:
    """Both requests pass the admin guard before either commits: the test holds the clinic's
    admins lock (users.service._keep_an_admin) until both wait on it. Without that, the
    first could commit before the second is even checked, which makes it a plain 403."""
    second = await add_user(client, clinic, "admin", email=f"second@{clinic.slug}.example.com")
    holder = await asyncpg.connect(settings.database_url)
    try:
        async with client_for(app) as other:
            await login(other, clinic, second["email"])
            async with holder.transaction():
                await holder.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))", f"clinic-admins:{clinic.id}"
                )
                patches = asyncio.gather(
                    _patch(client, second["id"], {"role": "manager"}),
                    _patch(other, clinic.admin_id, {"active": False}),
                )
                await _until_waiting_on_advisory_locks(holder, 2)
            results = await patches
    finally:
        await holder.close()
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    async with db.tenant_transaction(clinic.id):
        admins = await db.fetch("SELECT id FROM app_user WHERE role = 'admin' AND active")
    assert len(admins) == 1


async def test_unknown_foreign_and_patient_ids_are_404(
    client: httpx.AsyncClient, app: EdgeMiddleware, clinic: Clinic
) -> None:
    async with signed_in_as(app, client, clinic, "patient") as patient:
        me = (await patient.get("/api/auth/me")).json()["user"]
    async with client_for(app) as other_admin:
        other = await signup(other_admin)
        foreign = await add_user(other_admin, other, "receptionist")
    for user_id in (me["id"], foreign["id"], uuid.uuid4()):
        _status(await _patch(client, user_id, {"active": False}), 404, "not-found")
        _status(await _patch(client, user_id, {}), 404, "not-found")
    _status(await _patch(client, "not-a-uuid", {"active": False}), 404, "not-found")
    async with db.tenant_transaction(other.id):
        [row] = await db.fetch("SELECT active FROM app_user WHERE id = {}", foreign["id"])
    assert row["active"] is True


@pytest.mark.parametrize("role", ["manager", "receptionist", "provider", "patient"])
async def test_only_admins_change_users(
    client: httpx.AsyncClient, app: EdgeMiddleware, clinic: Clinic, role: str
) -> None:
    target = await add_user(client, clinic, "provider", email=f"t@{clinic.slug}.example.com")
    async with signed_in_as(app, client, clinic, role) as other:
        _status(await _patch(other, target["id"], {"active": False}), 403, "forbidden")
        _status(await _patch(other, uuid.uuid4(), {"active": False}), 403, "forbidden")
