"""Reads of `patient` for other domains, in the caller's transaction (no audit: the caller
reads a record to act on it, e.g. booking, not to show it)."""

from __future__ import annotations

import uuid

from topsmile.core import rows
from topsmile.patients.tables import PatientRow


async def patient_by_id(patient_id: uuid.UUID) -> PatientRow | None:
    return await rows.fetch_one(PatientRow, "SELECT * FROM patient WHERE id = {}", patient_id)


async def patient_of_user(user_id: uuid.UUID | None) -> PatientRow | None:
    """The record attached to a patient's account, if any."""
    if user_id is None:
        return None
    return await rows.fetch_one(PatientRow, "SELECT * FROM patient WHERE user_id = {}", user_id)
