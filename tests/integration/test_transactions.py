"""`db.tenant_transaction` and `db.fetch`: the tenant setting is sent with BEGIN, lives only
as long as the transaction, nested calls join it, and after-commit callbacks run only on
commit."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from piccolo.querystring import QueryString

from tests.api.auth_fixtures import seed_clinic
from topsmile.core import db

pytestmark = pytest.mark.usefixtures("app")


async def _state() -> tuple[int, Any]:
    [row] = await db.fetch("SELECT pg_backend_pid() AS pid, app_clinic_id() AS clinic")
    return row["pid"], row["clinic"]


async def test_the_tenant_setting_never_outlives_its_transaction() -> None:
    clinic = await seed_clinic()
    async with db.tenant_transaction(clinic.id):
        pid, inside = await _state()
    assert inside == clinic.id
    # Every pooled connection, the one just used among them, carries no clinic afterwards.
    pool = db.DB.pool
    assert pool is not None
    held = [await pool.acquire() for _ in range(pool.get_size())]
    try:
        states = [await c.fetchrow("SELECT pg_backend_pid(), app_clinic_id()") for c in held]
    finally:
        for connection in held:
            await pool.release(connection)
    assert pid in {s[0] for s in states}
    assert {s[1] for s in states} == {None}


async def test_nested_calls_join_the_outer_transaction_in_the_same_clinic() -> None:
    clinic, other = await seed_clinic(), await seed_clinic()
    async with db.tenant_transaction(clinic.id):
        outer_pid, _ = await _state()
        async with db.tenant_transaction(clinic.id):
            assert await _state() == (outer_pid, clinic.id)
        with pytest.raises(RuntimeError, match="same clinic"):
            async with db.tenant_transaction(other.id):
                pass
        with pytest.raises(RuntimeError, match="same clinic"):
            async with db.tenant_transaction(None):
                pass


async def test_piccolo_queries_inside_run_in_the_same_transaction() -> None:
    """A query made through Piccolo (a Table class, `run_querystring`) joins our transaction
    and sees its clinic, so RLS holds for it too."""
    clinic = await seed_clinic()
    async with db.tenant_transaction(clinic.id):
        pid, _ = await _state()
        rows = await db.DB.run_querystring(
            QueryString("SELECT pg_backend_pid() AS pid, app_clinic_id() AS clinic")
        )
    assert (rows[0]["pid"], rows[0]["clinic"]) == (pid, clinic.id)


async def test_after_commit_runs_on_commit_only_and_work_rolls_back_on_error() -> None:
    clinic = await seed_clinic()
    ran: list[str] = []
    async with db.tenant_transaction(clinic.id):
        db.after_commit(lambda: ran.append("committed"))
        assert ran == []
    assert ran == ["committed"]

    async def insert_then_fail() -> None:
        async with db.tenant_transaction(clinic.id):
            await db.fetch(
                "INSERT INTO patient (clinic_id, first_name, last_name)"
                " VALUES ({}, 'Rolled', 'Back')",
                clinic.id,
            )
            db.after_commit(lambda: ran.append("rolled back"))
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await insert_then_fail()
    assert ran == ["committed"]
    async with db.tenant_transaction(clinic.id):
        assert await db.fetch("SELECT id FROM patient WHERE first_name = 'Rolled'") == []
    with pytest.raises(RuntimeError):
        db.after_commit(lambda: None)


async def test_a_failed_statement_rolls_back_and_the_next_transaction_is_clean() -> None:
    clinic = await seed_clinic()
    with pytest.raises(Exception, match="division by zero"):
        async with db.tenant_transaction(clinic.id):
            await db.fetch("SELECT 1 / 0")
    async with db.tenant_transaction(clinic.id):
        assert (await _state())[1] == clinic.id


async def test_the_clinic_id_must_be_a_uuid() -> None:
    """It is written into BEGIN's statement: nothing but a UUID's own text may get there."""
    for bad in ["00000000-0000-0000-0000-000000000000'); DROP TABLE clinic; --", 7]:
        with pytest.raises(TypeError):
            async with db.tenant_transaction(bad):  # type: ignore[arg-type]
                pass


async def test_fetch_placeholders() -> None:
    rows = await db.fetch("SELECT {}::int + {}::int AS n, '{{x}}' AS braces", 2, 3)
    assert (rows[0]["n"], rows[0]["braces"]) == (5, "{x}")
    with pytest.raises(TypeError, match="placeholder"):
        await db.fetch("SELECT {}::int AS n", 1, 2)
    with pytest.raises(TypeError, match="placeholder"):
        await db.fetch("SELECT {}::int AS n, {}::uuid AS u", uuid.uuid4())


async def test_generic_plans_are_asked_for_one_transaction_only() -> None:
    """`generic_plans=True` (availability: planning cost more than running) is `SET LOCAL`:
    no later transaction on the pooled connections plans that way."""
    clinic = uuid.uuid4()
    for _ in range(20):
        async with db.tenant_transaction(clinic, generic_plans=True):
            [row] = await db.fetch("SHOW plan_cache_mode")
            assert row["plan_cache_mode"] == "force_generic_plan"
        async with db.tenant_transaction(clinic):
            [row] = await db.fetch("SHOW plan_cache_mode")
            assert row["plan_cache_mode"] == "auto"
