"""Linking a patient record to a user account (SPEC §3): at registration, after the email is
verified, and for accounts made already verified (the demo seeder, the clinic)."""

from __future__ import annotations

import uuid
from datetime import date

from topsmile.core import db, rows
from topsmile.core.errors import Conflict
from topsmile.core.rows import Row
from topsmile.patients.tables import PatientRow
from topsmile.users.tables import UserRow


class _Holder(Row, frozen=True):
    """Who holds the active record with an email, if anyone."""

    id: uuid.UUID
    user_id: uuid.UUID | None


async def registration_record(
    clinic_id: uuid.UUID,
    user_id: uuid.UUID,
    email: str,
    first_name: str,
    last_name: str,
    phone: str | None,
    date_of_birth: date | None,
) -> PatientRow | None:
    """SPEC §3 "Registering over an existing patient record": the record of a new account
    whose email is not verified yet, or None when the account stays unattached.

    Typing an email proves nothing: when the clinic has an active record with it, the
    account gets nothing now (`verify_email` attaches it once the email is proven) and
    nothing of that record is returned. Otherwise the account gets a record of its own; a
    phone another record holds is left off rather than refused, so registration reveals no
    patient's email or phone.
    """
    if await db.fetch("SELECT 1 FROM patient WHERE email = {} AND status = 'active'", email):
        return None
    for candidate in dict.fromkeys([phone, None]):
        # The unique indexes on active emails and phones settle races with staff writes.
        row = await rows.fetch_one(
            PatientRow,
            "INSERT INTO patient (clinic_id, user_id, first_name, last_name, email, phone,"
            " date_of_birth) VALUES ({}, {}, {}, {}, {}, {}, {})"
            " ON CONFLICT DO NOTHING RETURNING *",
            clinic_id,
            user_id,
            first_name,
            last_name,
            email,
            candidate,
            date_of_birth,
        )
        if row is not None:
            return row
    return None  # a record with this email appeared meanwhile: unattached, as above


async def attach_verified_record(user: UserRow) -> None:
    """After the email is verified: an account left unattached at registration takes the
    clinic's active record with its email (names and phone stay as the clinic wrote them).

    A record already linked to another account is never handed over (that account's email
    differs: staff changed one of them); the account then stays unattached. If the record
    went away meanwhile, the account gets a record of its own with its names and email.
    """
    if user.role != "patient" or await db.fetch(
        "SELECT 1 FROM patient WHERE user_id = {}", user.id
    ):
        return
    holder = await rows.fetch_one(
        _Holder,
        "SELECT id, user_id FROM patient WHERE email = {} AND status = 'active' FOR UPDATE",
        user.email,
    )
    if holder is not None:
        if holder.user_id is None:
            await db.fetch(
                "UPDATE patient SET user_id = {}, updated_at = now() WHERE id = {}",
                user.id,
                holder.id,
            )
        return
    await db.fetch(
        "INSERT INTO patient (clinic_id, user_id, first_name, last_name, email)"
        " VALUES ({}, {}, {}, {}, {}) ON CONFLICT DO NOTHING",
        user.clinic_id,
        user.id,
        user.first_name,
        user.last_name,
        user.email,
    )


async def link_or_create_patient(
    clinic_id: uuid.UUID,
    user_id: uuid.UUID,
    email: str,
    first_name: str,
    last_name: str,
    phone: str | None,
    date_of_birth: date | None,
    *,
    sms_opt_in: bool = False,
) -> PatientRow:
    """For accounts whose email is already verified (seeded, or made by the clinic): the
    clinic's record for this email becomes theirs. Never call it for a self-registered,
    unverified account: that is `registration_record`."""
    existing = await rows.fetch_one(
        PatientRow, "SELECT * FROM patient WHERE email = {} AND status = 'active' FOR UPDATE", email
    )
    if existing is not None:
        if existing.user_id is not None:
            raise Conflict("A patient with this email already has an account.")
        return await rows.update_one(PatientRow, existing.id, {"user_id": user_id})
    if phone and await db.fetch(
        "SELECT 1 FROM patient WHERE phone = {} AND status = 'active'", phone
    ):
        raise Conflict("A patient with this phone number already exists at this clinic.")
    return await rows.fetch_only(
        PatientRow,
        "INSERT INTO patient (clinic_id, user_id, first_name, last_name, email, phone,"
        " date_of_birth, sms_opt_in) VALUES ({}, {}, {}, {}, {}, {}, {}, {}) RETURNING *",
        clinic_id,
        user_id,
        first_name,
        last_name,
        email,
        phone,
        date_of_birth,
        sms_opt_in,
    )
