"""Row-level security is the second wall: a query that forgot its clinic filter, run as
the application role, sees only the current clinic's rows."""

from __future__ import annotations

import pytest

from tests.api.auth_fixtures import seed_clinic
from topsmile.core import db

pytestmark = pytest.mark.usefixtures("app")

# Tables every clinic can read by design (the public booking page shows a clinic's name).
SHARED_READ = {"clinic"}
# Infrastructure written across clinics by the outbox relay (RLS still limits a tenant to
# its own rows, but a transaction with no clinic set sees all of them).
RELAY_READ = {"event_outbox"}


async def _tenant_tables() -> list[str]:
    rows = await db.fetch(
        """
        SELECT c.relname AS name, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r'
          AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                      AND a.attname IN ('clinic_id') AND NOT a.attisdropped)
        """
    )
    unprotected = [r["name"] for r in rows if not (r["enabled"] and r["forced"])]
    assert unprotected == [], f"tables with clinic_id but no forced RLS: {unprotected}"
    return sorted(r["name"] for r in rows)


async def test_every_tenant_table_has_forced_row_level_security() -> None:
    tables = await _tenant_tables()
    assert {"app_user", "auth_session", "patient", "audit_log", "notification"} <= set(tables)


async def test_unfiltered_queries_see_only_the_current_clinic() -> None:
    mine, theirs = await seed_clinic(), await seed_clinic()
    for clinic in (mine, theirs):
        async with db.tenant_transaction(clinic.id):
            await db.fetch(
                "INSERT INTO patient (clinic_id, first_name, last_name) VALUES ({}, 'A', 'B')",
                clinic.id,
            )
    tables = await _tenant_tables()
    async with db.tenant_transaction(mine.id):
        for table in tables:
            rows = await db.fetch(f"SELECT DISTINCT clinic_id FROM {table}")  # noqa: S608
            assert {r["clinic_id"] for r in rows} <= {mine.id}, table
        users = await db.fetch("SELECT id FROM app_user")
        assert {r["id"] for r in users} == set(mine.users.values())
    async with db.tenant_transaction(None):
        for table in set(tables) - RELAY_READ:
            rows = await db.fetch(f"SELECT count(*) AS n FROM {table}")  # noqa: S608
            assert rows[0]["n"] == 0, f"{table} is visible with no clinic set"


async def test_writes_into_another_clinic_are_refused() -> None:
    import asyncpg

    mine, theirs = await seed_clinic(()), await seed_clinic(())
    with pytest.raises(asyncpg.PostgresError):
        async with db.tenant_transaction(mine.id):
            await db.fetch(
                "INSERT INTO patient (clinic_id, first_name, last_name) VALUES ({}, 'A', 'B')",
                theirs.id,
            )
    async with db.tenant_transaction(mine.id):
        updated = await db.fetch(
            "UPDATE clinic SET name = 'taken over' WHERE id = {} RETURNING id", theirs.id
        )
    assert updated == []


async def test_the_application_role_cannot_bypass_rls() -> None:
    [role] = await db.fetch(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
    )
    assert not role["rolsuper"]
    assert not role["rolbypassrls"]
    owned = await db.fetch("SELECT tablename FROM pg_tables WHERE tableowner = current_user")
    assert owned == []
