"""Every table has a row struct, and every row struct is its table (core/rows.py).

The structs are the schema as the code reads it; this test keeps them from drifting from the
migrations: same columns, in any order, with the Python type asyncpg returns and the same
nullability.
"""

from __future__ import annotations

import importlib
import pkgutil
import types
import typing
import uuid
from datetime import date, datetime

import pytest

import topsmile
from topsmile.core import db
from topsmile.core.rows import TABLES, Row

pytestmark = pytest.mark.usefixtures("app")

# What asyncpg hands back for each PostgreSQL type we use (jsonb and inet as text).
PYTHON_TYPE: dict[str, type] = {
    "uuid": uuid.UUID,
    "text": str,
    "boolean": bool,
    "smallint": int,
    "integer": int,
    "bigint": int,
    "timestamp with time zone": datetime,
    "date": date,
    "jsonb": str,
    "inet": str,
}
# Piccolo's own bookkeeping of applied migrations, read only by core/migrate.py.
NOT_OURS = {"migration"}


def _import_every_tables_module() -> None:
    for module in pkgutil.walk_packages(topsmile.__path__, "topsmile."):
        if module.name.endswith(".tables"):
            importlib.import_module(module.name)


def _column_type(annotation: object) -> tuple[type, bool]:
    """(the Python type, nullable?) of a struct field's annotation."""
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        rest = [arg for arg in args if arg is not type(None)]
        assert len(rest) == 1, annotation
        return _column_type(rest[0])[0], True
    if typing.get_origin(annotation) is typing.Literal:
        return type(args[0]), False
    assert isinstance(annotation, type), annotation
    return annotation, False


async def _schema() -> dict[str, dict[str, tuple[type, bool]]]:
    rows = await db.fetch(
        "SELECT table_name, column_name, data_type, is_nullable = 'YES' AS nullable"
        " FROM information_schema.columns WHERE table_schema = 'public'"
    )
    tables: dict[str, dict[str, tuple[type, bool]]] = {}
    for row in rows:
        if row["table_name"] in NOT_OURS:
            continue
        assert row["data_type"] in PYTHON_TYPE, f"map {row['data_type']} in this test"
        column = (PYTHON_TYPE[row["data_type"]], row["nullable"])
        tables.setdefault(row["table_name"], {})[row["column_name"]] = column
    return tables


async def test_every_table_has_its_row_struct_and_they_agree() -> None:
    _import_every_tables_module()
    schema = await _schema()
    assert {"app_user", "clinic", "patient", "event_outbox"} <= set(schema)
    assert sorted(set(schema) - set(TABLES)) == [], "add a Row with __table__ for these"
    assert sorted(set(TABLES) - set(schema)) == [], "these row structs name no table"
    for table, kind in TABLES.items():
        hints = typing.get_type_hints(kind)
        fields = {name: _column_type(hints[name]) for name in kind.__struct_fields__}
        assert fields == schema[table], table


async def test_a_struct_that_drifted_is_caught() -> None:
    """The comparison above is not vacuous: a missing column or a wrong type differs."""
    schema = await _schema()

    class Drifted(Row):
        id: uuid.UUID
        name: int

    hints = typing.get_type_hints(Drifted)
    fields = {name: _column_type(hints[name]) for name in Drifted.__struct_fields__}
    assert fields != schema["clinic"]
