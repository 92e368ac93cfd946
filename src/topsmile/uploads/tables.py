"""The `upload` table as the code reads it (core/rows.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from topsmile.core.rows import Row

Category = Literal["xray", "photo", "insurance_card", "id_document", "consent_form", "other"]
CATEGORIES: tuple[Category, ...] = (
    "xray",
    "photo",
    "insurance_card",
    "id_document",
    "consent_form",
    "other",
)


class UploadRow(Row, frozen=True):
    __table__ = "upload"

    id: uuid.UUID
    clinic_id: uuid.UUID
    patient_id: uuid.UUID
    uploaded_by: uuid.UUID | None
    filename: str
    content_type: str
    size: int
    sha256: str
    category: Category
    storage_key: str
    created_at: datetime
    deleted_at: datetime | None
