"""A write the database refuses answers like the service's own check: 409/400/404, never
500 (SPEC §1), through one table of constraint names (core/constraints.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import asyncpg
import httpx
import pytest

from tests.api.auth_fixtures import PASSWORD, SeededClinic, csrf, seed_clinic
from tests.conftest import client_for
from topsmile.core import db
from topsmile.core.constraints import CONSTRAINTS, constraint_problem
from topsmile.core.middleware import EdgeMiddleware

PROVIDERS = "/api/scheduling/providers"
SERVICES = "/api/scheduling/services"


async def test_concurrent_providers_for_one_user_get_one_201_and_409s(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin = as_role["admin"]
    body = {"firstName": "Rita", "lastName": "Dias", "userId": str(clinic.users["provider"])}
    responses = await asyncio.gather(
        *(admin.post(PROVIDERS, json=body, headers=csrf(admin)) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    for response in responses:
        if response.status_code == 409:
            assert response.json()["type"] == "/problems/conflict"
    again = await admin.post(PROVIDERS, json=body, headers=csrf(admin))
    assert again.status_code == 409


@pytest.mark.parametrize("color", ["#ffffff\n", "#ffffff\r\n", "\n#ffffff", "#fffffff"])
async def test_color_must_be_exactly_rrggbb(
    as_role: dict[str, httpx.AsyncClient], color: str
) -> None:
    admin = as_role["admin"]
    body = {"name": "Cleaning", "durationMinutes": 30, "priceAmount": 0, "color": color}
    created = await admin.post(SERVICES, json=body, headers=csrf(admin))
    assert created.status_code == 400, created.text
    assert [e["field"] for e in created.json()["errors"]] == ["color"]
    ok = await admin.post(SERVICES, json={**body, "color": "#ffffff"}, headers=csrf(admin))
    assert ok.status_code == 201
    patched = await admin.patch(
        f"{SERVICES}/{ok.json()['id']}", json={"color": color}, headers=csrf(admin)
    )
    assert patched.status_code == 400
    assert [e["field"] for e in patched.json()["errors"]] == ["color"]


async def test_concurrent_registrations_of_one_email_get_one_201(app: EdgeMiddleware) -> None:
    clinic = await seed_clinic()
    body = {
        "clinic": clinic.slug,
        "email": "race@example.com",
        "password": PASSWORD,
        "firstName": "Rosa",
        "lastName": "Lima",
    }
    clients = [client_for(app) for _ in range(4)]
    try:
        entered = [await c.__aenter__() for c in clients]
        responses = await asyncio.gather(
            *(c.post("/api/auth/register", json=body) for c in entered)
        )
    finally:
        for c in clients:
            await c.__aexit__(None, None, None)
    assert Counter(r.status_code for r in responses) == {201: 1, 409: 3}, [
        r.text for r in responses
    ]
    async with db.tenant_transaction(clinic.id):
        users = await db.fetch("SELECT id FROM app_user WHERE email = 'race@example.com'")
    assert len(users) == 1


async def _constraints_in_schema() -> set[str]:
    """Every unique, check, exclusion and foreign-key constraint, and every unique index
    that is not a constraint, outside primary keys."""
    rows = await db.fetch(
        """
        SELECT conname AS name FROM pg_constraint c
        JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = 'public' AND c.contype IN ('u', 'c', 'x', 'f')
        UNION
        SELECT i.relname FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_namespace n ON n.oid = i.relnamespace
        WHERE n.nspname = 'public' AND x.indisunique AND NOT x.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
        """
    )
    return {r["name"] for r in rows} - {"piccolo_migration_pkey"}


@pytest.mark.usefixtures("app")
async def test_every_constraint_has_an_answer() -> None:
    in_schema = await _constraints_in_schema()
    assert {"clinic_slug_key", "patient_active_email", "provider_user"} <= in_schema
    assert sorted(in_schema - set(CONSTRAINTS)) == []
    assert sorted(set(CONSTRAINTS) - in_schema) == []  # no entry for a constraint long gone


async def _on_scratch(sql: str) -> None:
    async with db.tenant_transaction(None):
        await db.fetch(
            "CREATE TEMP TABLE scratch (a int CONSTRAINT scratch_unknown_u UNIQUE,"
            " b int CONSTRAINT scratch_unknown_c CHECK (b > 0), c int NOT NULL DEFAULT 1,"
            " own_id int) ON COMMIT DROP"
        )
        await db.fetch("INSERT INTO scratch (a, b) VALUES (1, 1)")
        await db.fetch(sql)


async def _refusal(sql: str) -> asyncpg.IntegrityConstraintViolationError:
    """A real violation raised by PostgreSQL, on a temporary table no entry knows."""
    with pytest.raises(asyncpg.IntegrityConstraintViolationError) as caught:
        await _on_scratch(sql)
    return caught.value


@pytest.mark.usefixtures("app")
async def test_an_unmapped_constraint_still_answers_409_or_400() -> None:
    unique = constraint_problem(await _refusal("INSERT INTO scratch (a, b) VALUES (1, 2)"))
    assert (unique.status, unique.code) == (409, "conflict")
    check = constraint_problem(await _refusal("INSERT INTO scratch (a, b) VALUES (2, -1)"))
    assert (check.status, check.code) == (400, "validation-error")
    not_null = constraint_problem(await _refusal("UPDATE scratch SET own_id = 1, c = NULL"))
    assert (not_null.status, not_null.field) == (400, "c")


async def test_a_raced_duplicate_patient_email_answers_the_pre_checks_409(
    as_role: dict[str, httpx.AsyncClient],
) -> None:
    staff = as_role["receptionist"]
    email = f"p-{uuid.uuid4().hex[:8]}@example.com"
    body = {"firstName": "Ana", "lastName": "Lopes", "email": email}
    responses = await asyncio.gather(
        *(staff.post("/api/patients", json=body, headers=csrf(staff)) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    details = {r.json()["detail"] for r in responses if r.status_code == 409}
    assert details == {"Another active patient of this clinic has this email."}
