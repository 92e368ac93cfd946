"""Linking a patient record to a user account (SPEC §3): at registration, after the email is
verified, and for accounts made already verified (the demo seeder, the clinic)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from topsmile.core import db
from topsmile.core.errors import Conflict


async def registration_record(
    clinic_id: uuid.UUID,
    user_id: uuid.UUID,
    email: str,
    first_name: str,
    last_name: str,
    phone: str | None,
    date_of_birth: date | None,
) -> dict[str, Any] | None:
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
        rows = await db.fetch(
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
        if rows:
            return rows[0]
    return None  # a record with this email appeared meanwhile: unattached, as above


async def attach_verified_record(user: dict[str, Any]) -> None:
    """After the email is verified: an account left unattached at registration takes the
    clinic's active record with its email (names and phone stay as the clinic wrote them).

    A record already linked to another account is never handed over (that account's email
    differs: staff changed one of them); the account then stays unattached. If the record
    went away meanwhile, the account gets a record of its own with its names and email.
    """
    if user["role"] != "patient" or await db.fetch(
        "SELECT 1 FROM patient WHERE user_id = {}", user["id"]
    ):
        return
    existing = await db.fetch(
        "SELECT id, user_id FROM patient WHERE email = {} AND status = 'active' FOR UPDATE",
        user["email"],
    )
    if existing:
        if existing[0]["user_id"] is None:
            await db.fetch(
                "UPDATE patient SET user_id = {}, updated_at = now() WHERE id = {}",
                user["id"],
                existing[0]["id"],
            )
        return
    await db.fetch(
        "INSERT INTO patient (clinic_id, user_id, first_name, last_name, email)"
        " VALUES ({}, {}, {}, {}, {}) ON CONFLICT DO NOTHING",
        user["clinic_id"],
        user["id"],
        user["first_name"],
        user["last_name"],
        user["email"],
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
) -> dict[str, Any]:
    """For accounts whose email is already verified (seeded, or made by the clinic): the
    clinic's record for this email becomes theirs. Never call it for a self-registered,
    unverified account: that is `registration_record`."""
    existing = await db.fetch(
        "SELECT * FROM patient WHERE email = {} AND status = 'active' FOR UPDATE", email
    )
    if existing:
        if existing[0]["user_id"] is not None:
            raise Conflict("A patient with this email already has an account.")
        [row] = await db.fetch(
            "UPDATE patient SET user_id = {}, updated_at = now() WHERE id = {} RETURNING *",
            user_id,
            existing[0]["id"],
        )
        return row
    if phone and await db.fetch(
        "SELECT 1 FROM patient WHERE phone = {} AND status = 'active'", phone
    ):
        raise Conflict("A patient with this phone number already exists at this clinic.")
    [row] = await db.fetch(
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
    return row
