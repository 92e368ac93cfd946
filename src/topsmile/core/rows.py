"""Typed rows: each table's row is a frozen struct, and queries return those, never dicts.

We keep raw SQL (with `{}` placeholders, through `db.fetch`) rather than Piccolo `Table`
classes: the queries that matter here are ones Piccolo has no words for (row-level security,
exclusion constraints, the search CTEs, `FOR UPDATE SKIP LOCKED` claims), and a primary-key
read through a Piccolo table costs 2.5-4x the raw query (`bench/row_access.py`,
docs/ARCHITECTURE.md "Typed rows"). What a `Table` class would give us — the schema readable
in code and a typo caught by mypy — a `Row` gives too: each subclass names its table and
lists its columns, and `tests/integration/test_rows.py` checks every one against the live
schema (names, types, nullability), so the two cannot drift.

A query that selects something other than one table's columns (a join, an aggregate, a few
columns) declares its own small struct (a plain `Row` subclass without `__table__`) next to it.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import msgspec

from topsmile.core import db

R = TypeVar("R", bound="Row")

TABLES: dict[str, type[Row]] = {}
"""Every table's row type, by table name (filled as the domain modules are imported)."""


class Row(msgspec.Struct, frozen=True, kw_only=True):
    """A row read from PostgreSQL. A subclass that sets `__table__` is that table's whole
    row (`SELECT *`) and is registered in `TABLES`:

        class UserRow(Row, frozen=True):  # frozen=True again, for mypy's dataclass view
            __table__ = "app_user"
            id: uuid.UUID
            ...
    """

    __table__: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = cls.__dict__.get("__table__")
        if table is not None:
            if table in TABLES:
                raise TypeError(f"table {table!r} already has a row type: {TABLES[table]}")
            TABLES[table] = cls


async def fetch_all(kind: type[R], sql: str, *args: Any) -> list[R]:
    """Every row of `sql` as `kind` (its columns must be exactly `kind`'s fields)."""
    return [kind(**row) for row in await db.fetch(sql, *args)]


async def fetch_one(kind: type[R], sql: str, *args: Any) -> R | None:
    """The first row of `sql` as `kind`, or None."""
    rows = await db.fetch(sql, *args)
    return kind(**rows[0]) if rows else None


async def fetch_only(kind: type[R], sql: str, *args: Any) -> R:
    """The one row `sql` must return (an INSERT … RETURNING, a read by a known key)."""
    [row] = await db.fetch(sql, *args)
    return kind(**row)


async def update_one(
    kind: type[R], row_id: Any, changes: dict[str, Any], *, jsonb: frozenset[str] = frozenset()
) -> R:
    """Set `changes` on the row `row_id` of `kind`'s table (and `updated_at`), returning it.
    Column names must be `kind`'s fields (checked here, before any SQL is built); values are
    always parameters."""
    table = kind.__table__
    unknown = set(changes) - set(kind.__struct_fields__)
    if table is None or unknown or not changes:
        raise ValueError(f"cannot update {sorted(unknown) or 'nothing'} on {kind.__name__}")
    assignments = ", ".join(
        f"{column} = {{}}" + ("::jsonb" if column in jsonb else "") for column in changes
    )
    return await fetch_only(
        kind,
        f"UPDATE {table} SET {assignments}, updated_at = now() WHERE id = {{}} RETURNING *",  # noqa: S608
        *changes.values(),
        row_id,
    )


class _Count(Row, frozen=True):
    n: int


class _Exists(Row, frozen=True):
    found: bool


async def count(sql: str, *args: Any) -> int:
    """The `n` that `sql` (`SELECT count(*) AS n …`) answers."""
    return (await fetch_only(_Count, sql, *args)).n


async def exists(sql: str, *args: Any) -> bool:
    """The `found` that `sql` (`SELECT EXISTS (…) AS found`) answers."""
    return (await fetch_only(_Exists, sql, *args)).found
