"""The session's database is the PostgreSQL its binaries say: the embedded one by default,
the installed server `TOPSMILE_TEST_PG_BIN` names otherwise (docs/DEPLOYMENT.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from topsmile.config import Settings


async def test_session_runs_on_the_named_server(settings: Settings, postgres_bin: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        postgres_bin / "postgres", "--version", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    conn = await asyncpg.connect(settings.database_url)
    try:
        running = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    assert out.decode().strip().endswith(f"(PostgreSQL) {running}"), (out, running)
