"""Wire shape of a patient record (SPEC §5)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from topsmile.core.schemas import Output

PatientStatus = Literal["active", "inactive"]


class PatientView(Output, omit_defaults=True):
    id: uuid.UUID
    first_name: str
    last_name: str
    sms_opt_in: bool
    email_opt_in: bool
    status: PatientStatus
    created_at: datetime
    updated_at: datetime
    user_id: uuid.UUID | None = None
    email: str | None = None
    phone: str | None = None
    date_of_birth: date | None = None
    notes: str | None = None


def patient_view(row: dict[str, Any], *, staff: bool) -> PatientView:
    """`notes` are staff-only: a patient never sees them on their own record."""
    return PatientView(
        id=row["id"],
        user_id=row["user_id"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        email=row["email"],
        phone=row["phone"],
        date_of_birth=row["date_of_birth"],
        sms_opt_in=row["sms_opt_in"],
        email_opt_in=row["email_opt_in"],
        status=row["status"],
        notes=row["notes"] if staff else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
