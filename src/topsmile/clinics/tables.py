"""The `clinic` table as the code reads it (core/rows.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from topsmile.core.rows import Row


class ClinicRow(Row, frozen=True):
    __table__ = "clinic"

    id: uuid.UUID
    name: str
    slug: str
    timezone: str
    currency: str
    settings: str  # jsonb arrives as JSON text; clinics.schemas decodes it
    created_at: datetime
    updated_at: datetime
