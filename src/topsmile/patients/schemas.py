"""Wire shape of a patient record (SPEC §5)."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from topsmile.core.schemas import Input, Output
from topsmile.core.validation import BirthDate, Email, Name, Notes, Phone
from topsmile.patients.tables import PatientRow, PatientStatus

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class PatientCreate(Input):
    first_name: Name
    last_name: Name
    email: Email | None = None
    phone: Phone | None = None
    date_of_birth: BirthDate | None = None
    sms_opt_in: bool = False
    email_opt_in: bool = True
    notes: Notes | None = None


class PatientPatch(Input):
    """Staff changes: absent keys stay as they are; `null` clears an optional field."""

    first_name: Name | Unset = UNSET
    last_name: Name | Unset = UNSET
    email: Email | Unset | None = UNSET
    phone: Phone | Unset | None = UNSET
    date_of_birth: BirthDate | Unset | None = UNSET
    sms_opt_in: bool | Unset = UNSET
    email_opt_in: bool | Unset = UNSET
    notes: Notes | Unset | None = UNSET
    status: PatientStatus | Unset = UNSET


class OwnProfilePatch(Input):
    """What patients may change on their own record (not email, status or notes)."""

    first_name: Name | Unset = UNSET
    last_name: Name | Unset = UNSET
    phone: Phone | Unset | None = UNSET
    date_of_birth: BirthDate | Unset | None = UNSET
    sms_opt_in: bool | Unset = UNSET
    email_opt_in: bool | Unset = UNSET


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
    date_of_birth: BirthDate | None = None
    notes: str | None = None


def patient_view(row: PatientRow, *, staff: bool) -> PatientView:
    """`notes` are staff-only: a patient never sees them on their own record."""
    return PatientView(
        id=row.id,
        user_id=row.user_id,
        first_name=row.first_name,
        last_name=row.last_name,
        email=row.email,
        phone=row.phone,
        date_of_birth=row.date_of_birth,
        sms_opt_in=row.sms_opt_in,
        email_opt_in=row.email_opt_in,
        status=row.status,
        notes=row.notes if staff else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
