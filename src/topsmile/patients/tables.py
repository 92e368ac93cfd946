"""The `patient` table as the code reads it (core/rows.py)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from topsmile.core.rows import Row

PatientStatus = Literal["active", "inactive"]


class PatientRow(Row, frozen=True):
    __table__ = "patient"

    id: uuid.UUID
    clinic_id: uuid.UUID
    user_id: uuid.UUID | None
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    date_of_birth: date | None
    sms_opt_in: bool
    email_opt_in: bool
    status: PatientStatus
    notes: str | None
    created_at: datetime
    updated_at: datetime
    # Generated search keys (lower-case, digits only): see docs/ARCHITECTURE.md.
    first_name_key: str | None
    last_name_key: str | None
    full_name_key: str | None
    phone_digits: str | None
