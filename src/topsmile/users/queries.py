"""Reads of `app_user`, the one place other packages read users through.

Each runs in the caller's clinic transaction (row-level security scopes it). The session
check's join on `app_user` (auth/sessions.py) is the one read kept elsewhere: it is the hot
path of every request and reads only the role and the active flag.
"""

from __future__ import annotations

import uuid
from typing import Any

from topsmile.core import db
from topsmile.core.ranges import offset_of


async def user_by_email(email: str) -> dict[str, Any] | None:
    rows = await db.fetch("SELECT * FROM app_user WHERE email = {}", email)
    return rows[0] if rows else None


async def user_by_id(user_id: uuid.UUID, *, lock: bool = False) -> dict[str, Any] | None:
    sql = "SELECT * FROM app_user WHERE id = {}" + (" FOR UPDATE" if lock else "")  # noqa: S608
    rows = await db.fetch(sql, user_id)
    return rows[0] if rows else None


async def user_and_clinic(user_id: uuid.UUID) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The user and their clinic's row in one round trip (`/api/auth/me` on every page load):
    each as its table's whole row, the same columns as `user_by_id` and `clinic_by_id`."""
    rows = await db.fetch(
        'SELECT u AS "user", c AS clinic FROM app_user u JOIN clinic c ON c.id = u.clinic_id'
        " WHERE u.id = {}",
        user_id,
    )
    return (rows[0]["user"], rows[0]["clinic"]) if rows else None


async def staff_page(*, page: int, page_size: int) -> tuple[list[dict[str, Any]], int]:
    """Staff users (never patients), oldest first; a page of them and the total."""
    [count] = await db.fetch("SELECT count(*) AS n FROM app_user WHERE role <> 'patient'")
    rows = await db.fetch(
        "SELECT * FROM app_user WHERE role <> 'patient' ORDER BY created_at, id LIMIT {} OFFSET {}",
        page_size,
        offset_of(page, page_size),
    )
    return rows, int(count["n"])


async def other_active_admin(user_id: uuid.UUID) -> bool:
    rows = await db.fetch(
        "SELECT 1 FROM app_user WHERE role = 'admin' AND active AND id <> {} LIMIT 1", user_id
    )
    return bool(rows)
