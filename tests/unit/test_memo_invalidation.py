"""Every write to a column `GET /api/auth/me` shows invalidates the session memos.

Sessions remember `/me` (auth/session_cache.py) until the user or the clinic changes; that
holds only if every function that updates `app_user` or `clinic` calls
`denylist.user_changed` / `denylist.clinic_changed` after its transaction. This sweeps the
source: any function that writes either table must call the matching one, unless all it
sets is columns no view shows (the password hash, `updated_at`)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "topsmile"
_UPDATE = re.compile(r"UPDATE\s+(app_user|clinic)\s+SET\s+(.*?)\s+WHERE", re.S | re.I)
_ROW_OF = {"UserRow": "app_user", "ClinicRow": "clinic"}
_NOTIFY = {"app_user": "user_changed", "clinic": "clinic_changed"}
_UNSEEN = {"password_hash", "updated_at"}


def _writes(function: ast.AST) -> set[str]:
    tables: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for table, assignments in _UPDATE.findall(node.value):
                columns = {part.split("=")[0].strip() for part in assignments.split(",")}
                if not columns <= _UNSEEN:
                    tables.add(table)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "update_one"
            and node.args
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id in _ROW_OF
        ):
            tables.add(_ROW_OF[node.args[0].id])
    return tables


def _calls(function: ast.AST) -> set[str]:
    return {
        node.func.attr
        for node in ast.walk(function)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }


def test_every_user_or_clinic_update_invalidates_the_memos() -> None:
    missing, seen = [], 0
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for table in _writes(function):
                seen += 1
                if _NOTIFY[table] not in _calls(function):
                    missing.append(f"{path.relative_to(SRC)}:{function.name} ({table})")
    assert seen >= 3  # the sweep finds the writes it is about (users, email check, clinic)
    assert missing == []
