"""Reads of `app_user`, the one place other packages read users through.

Each runs in the caller's clinic transaction (row-level security scopes it). Two reads are
kept elsewhere, both hot paths: the session check's join on `app_user` (auth/sessions.py,
every request: the role and the active flag) and `/api/auth/me`'s user-with-clinic query
(accounts/service.py, one round trip instead of two).
"""

from __future__ import annotations

import uuid

from topsmile.core import rows
from topsmile.core.ranges import offset_of
from topsmile.users.tables import UserRow


async def user_by_email(email: str) -> UserRow | None:
    return await rows.fetch_one(UserRow, "SELECT * FROM app_user WHERE email = {}", email)


async def user_by_id(user_id: uuid.UUID, *, lock: bool = False) -> UserRow | None:
    sql = "SELECT * FROM app_user WHERE id = {}" + (" FOR UPDATE" if lock else "")  # noqa: S608
    return await rows.fetch_one(UserRow, sql, user_id)


async def staff_page(*, page: int, page_size: int) -> tuple[list[UserRow], int]:
    """Staff users (never patients), oldest first; a page of them and the total."""
    total = await rows.count("SELECT count(*) AS n FROM app_user WHERE role <> 'patient'")
    users = await rows.fetch_all(
        UserRow,
        "SELECT * FROM app_user WHERE role <> 'patient' ORDER BY created_at, id LIMIT {} OFFSET {}",
        page_size,
        offset_of(page, page_size),
    )
    return users, total


async def other_active_admin(user_id: uuid.UUID) -> bool:
    return await rows.exists(
        "SELECT EXISTS (SELECT 1 FROM app_user WHERE role = 'admin' AND active AND id <> {})"
        " AS found",
        user_id,
    )
