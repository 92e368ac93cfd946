"""Reads of clinics, shared by every package that needs the tenant's row."""

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
