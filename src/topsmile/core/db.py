"""The Piccolo engine, its pool, and the one helper that opens a tenant-scoped transaction."""

from __future__ import annotations

import asyncio
import contextvars
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from piccolo.engine.postgres import PostgresEngine
from piccolo.querystring import QueryString

os.environ.setdefault("PICCOLO_CONF", "topsmile.piccolo_conf")

T = TypeVar("T")


class _Engine(PostgresEngine):
    async def check_version(self) -> None:
        """Piccolo connects at construction to log the server version; we connect later."""


# One engine for the process. `configure` points it at a URL before use: the owner role
# while migrating, the application role while serving.
DB = _Engine(config={}, extensions=())


def configure(dsn: str) -> None:
    DB.config = {"dsn": dsn}


_pool_users = 0


async def _keep_session(_: Any) -> None:
    """Skip asyncpg's per-release `RESET ALL; UNLISTEN *; …` round trip. asyncpg still rolls
    back an open transaction first; everything we set is transaction-local (the tenant,
    `pg_advisory_xact_lock`) and the pool never LISTENs or holds cursors, so a released
    connection carries nothing to its next user."""


async def open_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> None:
    """Start the process's pool, or join it: several app instances in one process share it."""
    global _pool_users
    if DB.pool is None:
        configure(dsn)
        await DB.start_connection_pool(min_size=min_size, max_size=max_size, reset=_keep_session)
    _pool_users += 1


async def close_pool() -> None:
    global _pool_users
    _pool_users = max(0, _pool_users - 1)
    if _pool_users == 0 and DB.pool is not None:
        await DB.close_connection_pool()


async def fetch(sql: str, *args: Any) -> list[dict[str, Any]]:
    """Run raw SQL (`{}` placeholders) in the current transaction, or on the pool."""
    rows: list[dict[str, Any]] = await DB.run_querystring(QueryString(sql, *args))
    return rows


_after_commit: ContextVar[list[Callable[[], None]] | None] = ContextVar(
    "topsmile_after_commit", default=None
)


def after_commit(callback: Callable[[], None]) -> None:
    """Run `callback` once the current transaction has committed (never on rollback)."""
    callbacks = _after_commit.get()
    if callbacks is None:
        raise RuntimeError("after_commit() needs an open tenant_transaction()")
    callbacks.append(callback)


async def update_row(
    table: str, row_id: uuid.UUID, changes: dict[str, Any], *, jsonb: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Set `changes` on one row (and `updated_at`), returning it. Table and column names come
    from the code's own allow-lists, never from input; values are always parameters."""
    assignments = ", ".join(
        f"{column} = {{}}" + ("::jsonb" if column in jsonb else "") for column in changes
    )
    rows = await fetch(
        f"UPDATE {table} SET {assignments}, updated_at = now() WHERE id = {{}} RETURNING *",  # noqa: S608
        *changes.values(),
        row_id,
    )
    return rows[0]


@asynccontextmanager
async def tenant_transaction(clinic_id: uuid.UUID | None) -> AsyncIterator[None]:
    """The one way to open a transaction: row-level security sees only `clinic_id`'s rows.

    `None` is for system work that spans clinics (the outbox relay, operators' CLI). The
    setting is transaction-local, so it can never leak to the next user of the pooled
    connection (and stays correct behind PgBouncer in transaction mode). Nested calls join
    the outer transaction and must name the same clinic.
    """
    outer = _after_commit.get()
    if outer is not None:
        current = await fetch("SELECT app_clinic_id() AS clinic_id")
        if current[0]["clinic_id"] != clinic_id:
            raise RuntimeError("a nested transaction must stay in the same clinic")
        yield
        return
    callbacks: list[Callable[[], None]] = []
    token = _after_commit.set(callbacks)
    try:
        async with DB.transaction():
            await fetch(
                "SELECT set_config('app.clinic_id', {}, true)",
                str(clinic_id) if clinic_id else "",
            )
            yield
    finally:
        _after_commit.reset(token)
    for callback in callbacks:
        callback()


async def in_own_transaction(clinic_id: uuid.UUID | None, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` in a `tenant_transaction` of its own that commits when `work` returns, even
    when called inside another transaction: for a record that must outlive a rollback of the
    caller's (e.g. "the provider accepted this message"). It must not touch rows the caller's
    transaction has locked, or the two wait on each other."""

    async def run() -> T:
        async with tenant_transaction(clinic_id):
            return await work()

    # An empty context sees no open transaction, so the task takes a connection of its own.
    return await asyncio.create_task(run(), context=contextvars.Context())
