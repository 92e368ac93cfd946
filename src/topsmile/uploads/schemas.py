"""Wire shapes of patient files (SPEC §9) and the form fields of an upload."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from topsmile.core.errors import ValidationError
from topsmile.core.schemas import Output
from topsmile.uploads.tables import CATEGORIES, Category, UploadRow

_CATEGORY: dict[str, Category] = {c: c for c in CATEGORIES}


class UploadView(Output):
    id: uuid.UUID
    patient_id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    category: Category
    created_at: datetime
    url: str


def content_url(upload_id: uuid.UUID) -> str:
    return f"/api/upload/{upload_id}/content"


def upload_view(row: UploadRow) -> UploadView:
    return UploadView(
        id=row.id,
        patient_id=row.patient_id,
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        category=row.category,
        created_at=row.created_at,
        url=content_url(row.id),
    )


@dataclass(frozen=True)
class UploadFields:
    """The text fields of the form: `patientId` (staff; a patient's own by default) and
    `category`."""

    patient_id: uuid.UUID | None
    category: Category

    @classmethod
    def parse(cls, fields: dict[str, str]) -> UploadFields:
        if "category" not in fields:
            raise ValidationError.on("category", "Choose a category.")
        category = _CATEGORY.get(fields["category"])
        if category is None:
            raise ValidationError.on("category", f"Use one of: {', '.join(CATEGORIES)}.")
        patient_id = None
        if "patientId" in fields:
            try:
                patient_id = uuid.UUID(fields["patientId"].strip())
            except ValueError:
                raise ValidationError.on("patientId", "Send a patient id (a UUID).") from None
        return cls(patient_id, category)
