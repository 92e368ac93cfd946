"""Reads of clinics, shared by every package that needs the tenant's row."""

from __future__ import annotations

import uuid

from topsmile.clinics.tables import ClinicRow
from topsmile.core import rows


async def any_clinic() -> bool:
    """Whether the database holds any clinic (system work: run it with no tenant)."""
    return await rows.exists("SELECT EXISTS (SELECT 1 FROM clinic) AS found")


async def clinic_by_slug(slug: str) -> ClinicRow | None:
    return await rows.fetch_one(
        ClinicRow, "SELECT * FROM clinic WHERE slug = {}", slug.strip().lower()
    )


async def clinic_by_id(clinic_id: uuid.UUID, *, lock: bool = False) -> ClinicRow:
    sql = "SELECT * FROM clinic WHERE id = {}" + (" FOR UPDATE" if lock else "")  # noqa: S608
    return await rows.fetch_only(ClinicRow, sql, clinic_id)
