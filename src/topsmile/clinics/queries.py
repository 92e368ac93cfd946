"""Reads of clinics and users shared by the auth and clinics services."""

from __future__ import annotations

import uuid
from typing import Any

from topsmile.core import db


async def clinic_by_slug(slug: str) -> dict[str, Any] | None:
    rows = await db.fetch("SELECT * FROM clinic WHERE slug = {}", slug.strip().lower())
    return rows[0] if rows else None


async def clinic_by_id(clinic_id: uuid.UUID) -> dict[str, Any]:
    rows = await db.fetch("SELECT * FROM clinic WHERE id = {}", clinic_id)
    return rows[0]


async def user_by_email(email: str) -> dict[str, Any] | None:
    """In the current clinic's transaction (row-level security scopes it)."""
    rows = await db.fetch("SELECT * FROM app_user WHERE email = {}", email)
    return rows[0] if rows else None


async def user_by_id(user_id: uuid.UUID, *, lock: bool = False) -> dict[str, Any] | None:
    sql = "SELECT * FROM app_user WHERE id = {}" + (" FOR UPDATE" if lock else "")  # noqa: S608
    rows = await db.fetch(sql, user_id)
    return rows[0] if rows else None
