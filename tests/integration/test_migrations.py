"""`topsmile migrate` builds the schema from an empty database, once, as the owner role."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator

import asyncpg
import pytest

from topsmile.core.embedded import EmbeddedStores


@pytest.fixture
def empty_database(
    stores: EmbeddedStores, request: pytest.FixtureRequest
) -> Iterator[dict[str, str]]:
    name = f"topsmile_{request.node.name[:40].lower()}"
    stores.postgres.drop_database(name)
    app_url, owner_url = stores.postgres.start(name)
    env = {**os.environ, "DATABASE_URL": app_url, "DATABASE_MIGRATION_URL": owner_url}
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"  # migrate never touches Redis
    yield env
    stores.postgres.drop_database(name)


async def _migrate(env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "topsmile",
        "migrate",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return int(out.decode().split("migrations applied: ")[1].split()[0]), out.decode()


async def test_migrate_from_empty_database_then_idempotent(empty_database: dict[str, str]) -> None:
    applied, _ = await _migrate(empty_database)
    assert applied >= 1
    again, _ = await _migrate(empty_database)
    assert again == 0

    conn = await asyncpg.connect(empty_database["DATABASE_URL"])
    try:
        role = await conn.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        assert role is not None
        assert not role["rolsuper"]
        assert not role["rolbypassrls"]
        assert await conn.fetchval("SELECT app_clinic_id()") is None
        assert await conn.fetchval("SELECT count(*) FROM pg_type WHERE typname = 'uuidrange'") == 1
        owned = await conn.fetchval(
            "SELECT count(*) FROM pg_tables"
            " WHERE schemaname = 'public' AND tableowner = current_user"
        )
        assert owned == 0
    finally:
        await conn.close()


async def test_concurrent_migrate_applies_each_migration_once(
    empty_database: dict[str, str],
) -> None:
    results = await asyncio.gather(*(_migrate(empty_database) for _ in range(3)))
    counts = sorted(count for count, _ in results)
    assert counts[0] == counts[1] == 0
    assert counts[2] >= 1
