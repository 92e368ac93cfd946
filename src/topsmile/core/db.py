"""The Piccolo engine, its pool, and the one helper that opens a tenant-scoped transaction."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import string
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import asyncpg
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction

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


@functools.lru_cache(maxsize=2048)
def _numbered(sql: str) -> tuple[str, int]:
    """`{}` placeholders as asyncpg's `$1, $2, …` (and `{{`/`}}` as braces), read the way
    Piccolo's QueryString reads them; worked out once per distinct SQL string."""
    parts: list[str] = []
    count = 0
    for literal, field, _, _ in string.Formatter().parse(sql):
        parts.append(literal)
        if field is not None:
            count += 1
            parts.append(f"${count}")
    return "".join(parts), count


async def fetch(sql: str, *args: Any) -> list[dict[str, Any]]:
    """Run raw SQL (`{}` placeholders) in the current transaction, or on the pool.

    Straight to asyncpg's `fetch` (which prepares each statement once per connection) on
    the connection of the transaction Piccolo sees as current, so Piccolo queries and ours
    share it."""
    query, count = _numbered(sql)
    if count != len(args):
        raise TypeError(f"{count} placeholder(s) but {len(args)} argument(s) in {sql!r}")
    transaction = DB.current_transaction.get()
    if transaction is not None:
        return await _run(transaction.connection, query, args)
    if DB.pool is not None:
        pooled = await _acquire()
        try:
            return await _run(pooled, query, args)
        except Exception as exc:
            _raise_if_lost(exc, pooled)
            raise
        finally:
            await DB.pool.release(pooled)
    connection = await DB.get_new_connection()  # migrations and tools run before any pool
    try:
        return await _run(connection, query, args)
    finally:
        await connection.close()


async def _run(connection: Any, query: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
    # asyncpg Records: read-only mappings, what Piccolo's `run_querystring` returned too.
    rows: list[dict[str, Any]] = await connection.fetch(query, *args)
    return rows


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached (refused, no socket, timed out): a 503, not a 500."""


# What a server that is stopping, restarting or gone raises on a connection in use (or being
# opened): the request is not at fault, and a retry shortly after may well succeed.
_SERVER_GONE = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    DatabaseUnavailable,
)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database is down or going away (answered 503, core/errors.py)."""
    return isinstance(exc, _SERVER_GONE)


def _lost(connection: Any) -> bool:
    """Whether the server dropped this connection: asyncpg closes it (and a pool takes its
    proxy back). A failure on a lost connection is an outage whatever it says: an error the
    server sent while the connection sat idle surfaces on its next use as a protocol
    `InternalClientError`, or as "connection is closed"."""
    try:
        return bool(connection.is_closed())
    except asyncpg.InterfaceError:  # the proxy, already given back to the pool
        return True


def _raise_if_lost(exc: Exception, connection: Any) -> None:
    """Raise `DatabaseUnavailable` from `exc` when it happened on a connection the server
    dropped (check before the connection goes back to the pool)."""
    if not is_unavailable(exc) and _lost(connection):
        raise DatabaseUnavailable("the connection to PostgreSQL was lost") from exc


async def _acquire() -> Any:
    """A pooled connection; a server that cannot be reached is `DatabaseUnavailable` (a bare
    OSError or TimeoutError from the connect would read as a bug in the request)."""
    assert DB.pool is not None
    try:
        return await DB.pool.acquire()
    except (OSError, TimeoutError) as exc:
        raise DatabaseUnavailable(f"cannot reach PostgreSQL: {exc!r}") from exc


class _TenantTransaction(PostgresTransaction):
    """A Piccolo transaction (queries made through Piccolo inside it join it) whose BEGIN
    carries the tenant setting: `BEGIN; SELECT set_config(…)` goes as one simple-query
    message, one round trip instead of two."""

    __slots__ = ("callbacks", "clinic_id", "generic_plans")

    def __init__(self, clinic_id: uuid.UUID | None, *, generic_plans: bool = False) -> None:
        super().__init__(DB)
        self.clinic_id = clinic_id
        self.generic_plans = generic_plans
        self.callbacks: list[Callable[[], None]] = []

    async def __aenter__(self) -> _TenantTransaction:
        # Inlined, not a parameter (the simple-query protocol takes none), so only a UUID's
        # own canonical text may reach the statement (asyncpg's rows give a UUID subclass).
        if self.clinic_id is not None and not isinstance(self.clinic_id, uuid.UUID):
            raise TypeError("clinic_id must be a uuid.UUID")
        tenant = str(self.clinic_id) if self.clinic_id is not None else ""
        if DB.pool is not None:
            self.connection = await _acquire()
        else:
            self.connection = await self.get_connection()  # type: ignore[no-untyped-call]
        try:
            plans = "; SET LOCAL plan_cache_mode = force_generic_plan" if self.generic_plans else ""
            await self.connection.execute(
                f"BEGIN; SELECT set_config('app.clinic_id', '{tenant}', true){plans}"
            )
        except Exception as exc:
            try:
                _raise_if_lost(exc, self.connection)
            finally:
                await self._give_back()
            raise
        except BaseException:
            await self._give_back()
            raise
        self.context = DB.current_transaction.set(self)
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, traceback: Any) -> bool:
        try:
            if exc_type is None:
                try:
                    await self.connection.execute("COMMIT")
                except Exception as commit_exc:
                    _raise_if_lost(commit_exc, self.connection)
                    raise
            elif _lost(self.connection):
                # Nothing to roll back (the server did); a ROLLBACK would only replace `exc`
                # with "connection is closed".
                if isinstance(exc, Exception):
                    _raise_if_lost(exc, self.connection)
            else:
                await self.connection.execute("ROLLBACK")
        finally:
            DB.current_transaction.reset(self.context)
            await self._give_back()
        return False

    async def _give_back(self) -> None:
        # The pool rolls back anything still open before the next user gets the connection.
        if DB.pool is not None:
            await DB.pool.release(self.connection)
        else:
            await self.connection.close()


_open: ContextVar[_TenantTransaction | None] = ContextVar("topsmile_transaction", default=None)


def after_commit(callback: Callable[[], None]) -> None:
    """Run `callback` once the current transaction has committed (never on rollback)."""
    transaction = _open.get()
    if transaction is None:
        raise RuntimeError("after_commit() needs an open tenant_transaction()")
    transaction.callbacks.append(callback)


@asynccontextmanager
async def tenant_transaction(
    clinic_id: uuid.UUID | None, *, generic_plans: bool = False
) -> AsyncIterator[None]:
    """The one way to open a transaction: row-level security sees only `clinic_id`'s rows.

    `None` is for system work that spans clinics (the outbox relay, operators' CLI). The
    setting is transaction-local, so it can never leak to the next user of the pooled
    connection (and stays correct behind PgBouncer in transaction mode). Nested calls join
    the outer transaction and must name the same clinic.
    """
    outer = _open.get()
    if outer is not None:
        if outer.clinic_id != clinic_id:
            raise RuntimeError("a nested transaction must stay in the same clinic")
        yield
        return
    if DB.current_transaction.get() is not None:
        raise RuntimeError("tenant_transaction() cannot join a bare Piccolo transaction")
    transaction = _TenantTransaction(clinic_id, generic_plans=generic_plans)
    token = _open.set(transaction)
    try:
        async with transaction:
            yield
    finally:
        _open.reset(token)
    for callback in transaction.callbacks:
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
