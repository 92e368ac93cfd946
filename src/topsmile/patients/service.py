"""Patient records (SPEC §5): staff search and upkeep, and a patient's own profile.

Every function runs in one tenant transaction of the caller's clinic. Changes publish
`patient.*` events in that transaction (the audit handler records them); a staff read of one
record writes `patient.viewed` to the audit log in the same transaction as the read.
Event payloads name the fields that changed, never their values: the audit log is
append-only, so contact details written there could never be erased.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import msgspec

from topsmile.audit import service as audit
from topsmile.clinics import queries
from topsmile.clinics.schemas import clinic_view
from topsmile.core import db, rows, validation
from topsmile.core.actor import Actor
from topsmile.core.errors import Conflict, EmailNotVerified, NotFound, ValidationError
from topsmile.core.ranges import offset_of
from topsmile.events.catalogue import Changed, NoPayload
from topsmile.events.outbox import publish
from topsmile.events.types import new_event
from topsmile.patients.events import PATIENT_CREATED, PATIENT_DEACTIVATED, PATIENT_UPDATED
from topsmile.patients.schemas import OwnProfilePatch, PatientCreate, PatientPatch
from topsmile.patients.tables import PatientRow, PatientStatus
from topsmile.users import queries as users

EMAIL_TAKEN = "Another active patient of this clinic has this email."
PHONE_TAKEN = "Another active patient of this clinic has this phone number."
_NUL = "Text may not contain NUL characters."  # PostgreSQL text cannot store them

# Columns a write may set; request fields map onto them by name.
_WRITABLE = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "date_of_birth",
    "sms_opt_in",
    "email_opt_in",
    "notes",
    "status",
)
_TAKEN = {
    "email": (
        "SELECT 1 FROM patient WHERE status = 'active' AND email = {}"
        " AND id IS DISTINCT FROM {}::uuid",
        EMAIL_TAKEN,
    ),
    "phone": (
        "SELECT 1 FROM patient WHERE status = 'active' AND phone = {}"
        " AND id IS DISTINCT FROM {}::uuid",
        PHONE_TAKEN,
    ),
}

# --- Search --------------------------------------------------------------------------------
# `starts_with` is a prefix match that reads its argument literally (no pattern, no regex),
# and, unlike LIKE or lower(), it is LEAKPROOF: under row-level security only leakproof
# conditions become index conditions. The keys are stored lower-case columns (see the
# migration `patients_2026_11_22t04`). The full-name key also covers first-name prefixes.
_NAME_ARMS = (
    "starts_with(full_name_key, lower({}))",
    "starts_with(last_name_key, lower({}))",
    "starts_with(email, lower({}))",
)
_PHONE_ARM = "starts_with(phone_digits, {})"
# A query that could only be a phone number: digits with the usual punctuation.
_PHONE_LIKE = re.compile(r"[0-9\s()+.\-/]*[0-9][0-9\s()+.\-/]*")
_NON_DIGITS = re.compile(r"[^0-9]")
_ORDER = " ORDER BY last_name_key, first_name_key, id"


@dataclass(frozen=True)
class PatientFilter:
    q: str | None = None
    status: PatientStatus | None = None


Query = tuple[str, list[Any]]


def search_queries(
    clinic_id: uuid.UUID, where: PatientFilter, *, page: int, page_size: int
) -> tuple[Query, Query]:
    """The count and the page queries of a listing or search: constant SQL text, with every
    value the caller sent as a bound argument."""
    conditions: list[str] = ["clinic_id = {}"]
    args: list[Any] = [clinic_id]
    if where.status is not None:
        conditions.append("status = {}")
        args.append(where.status)
    text = " ".join((where.q or "").split())
    if "\x00" in text:
        raise ValidationError.on("q", _NUL)
    if text:
        arms = list(_NAME_ARMS)
        args += [text] * len(_NAME_ARMS)
        if _PHONE_LIKE.fullmatch(text):
            arms.append(_PHONE_ARM)
            args.append(_NON_DIGITS.sub("", text))
        conditions.append("(" + " OR ".join(arms) + ")")
    condition = " AND ".join(conditions)
    count_sql = "SELECT count(*) AS n FROM patient WHERE " + condition  # noqa: S608
    if text:
        # Find the matches through the prefix indexes, sort their keys, then read the page's
        # rows. Left alone, the planner may walk the listing index in name order hoping to
        # meet a page of matches early: a whole-clinic walk when they sort late ("Ávila").
        page_sql = (
            "WITH matches AS MATERIALIZED"  # noqa: S608
            f" (SELECT id, last_name_key, first_name_key FROM patient WHERE {condition})"
            f" SELECT patient.* FROM (SELECT * FROM matches{_ORDER} LIMIT {{}} OFFSET {{}})"
            " AS page JOIN patient USING (id)"
            " ORDER BY page.last_name_key, page.first_name_key, page.id"
        )
    else:
        page_sql = f"SELECT * FROM patient WHERE {condition}{_ORDER} LIMIT {{}} OFFSET {{}}"  # noqa: S608
    return (count_sql, args), (page_sql, [*args, page_size, offset_of(page, page_size)])


async def search(
    actor: Actor, where: PatientFilter, *, page: int, page_size: int
) -> tuple[list[PatientRow], int]:
    """One page of the clinic's patients by last name, first name, id; and the total."""
    count, listing = search_queries(actor.clinic_id, where, page=page, page_size=page_size)
    async with db.tenant_transaction(actor.clinic_id):
        total = await rows.count(count[0], *count[1])
        found = await rows.fetch_all(PatientRow, listing[0], *listing[1])
    return found, total


# --- Reads -----------------------------------------------------------------------------------


async def _patient(patient_id: uuid.UUID, *, lock: bool = False) -> PatientRow:
    sql = "SELECT * FROM patient WHERE id = {}" + (" FOR UPDATE" if lock else "")  # noqa: S608
    row = await rows.fetch_one(PatientRow, sql, patient_id)
    if row is None:
        raise NotFound("No such patient.")
    return row


async def _own(actor: Actor, *, lock: bool = False) -> PatientRow:
    sql = "SELECT * FROM patient WHERE user_id = {}" + (" FOR UPDATE" if lock else "")  # noqa: S608
    row = await rows.fetch_one(PatientRow, sql, actor.user_id)
    if row is None:
        raise NotFound("Your account has no patient record at this clinic.")
    return row


async def view_patient(actor: Actor, patient_id: uuid.UUID) -> PatientRow:
    """A staff read of one record, audited as `patient.viewed` in the same transaction."""
    async with db.tenant_transaction(actor.clinic_id):
        row = await _patient(patient_id)
        await audit.record(
            clinic_id=actor.clinic_id,
            action="patient.viewed",
            entity_type="patient",
            entity_id=patient_id,
            actor_id=actor.user_id,
            actor_role=actor.role,
            ip=actor.ip,
        )
    return row


async def own_record(actor: Actor) -> PatientRow:
    async with db.tenant_transaction(actor.clinic_id):
        return await _own(actor)


async def bookable_record(actor: Actor) -> PatientRow:
    """The record a patient books for: booking calls this first, inside its transaction.

    403 `email-not-verified` when the account has no record yet (it registered over a
    record the clinic made, and stays unattached until its email is verified: SPEC §3),
    or when the clinic's `requireVerifiedEmailToBook` is on and the email is unverified.
    """
    record = await rows.fetch_one(
        PatientRow, "SELECT * FROM patient WHERE user_id = {}", actor.user_id
    )
    # The system has no patient record of its own: no record, and the 403 above.
    user = await users.user_by_id(actor.user_id) if actor.user_id else None
    clinic = await queries.clinic_by_id(actor.clinic_id)
    required = clinic_view(clinic).settings.require_verified_email_to_book
    verified = user is not None and user.email_verified
    if record is None or (required and not verified):
        raise EmailNotVerified("Verify your email address before booking.")
    return record


# --- Writes ----------------------------------------------------------------------------------


def _clean(column: str, key: str, value: Any) -> Any:
    """One request value, normalized for storage (raises a 400 naming `key`)."""
    if value is None:
        return None
    if isinstance(value, str) and "\x00" in value:
        raise ValidationError.on(key, _NUL)
    if column in ("first_name", "last_name"):
        return validation.required_text(value, key)
    if column == "email":
        return validation.email(value, key)
    if column == "phone":
        return validation.phone(value, key)
    if column == "notes" and not value.strip():
        return None
    return value


def _requested(data: msgspec.Struct) -> dict[str, Any]:
    """The columns a request sets (absent PATCH keys are left out), values normalized."""
    values = {}
    for field in msgspec.structs.fields(data):
        value = getattr(data, field.name)
        if value is not msgspec.UNSET and field.name in _WRITABLE:
            values[field.name] = _clean(field.name, field.encode_name, value)
    return values


async def _check_birth_date(clinic_id: uuid.UUID, born: date | None) -> None:
    """A date of birth is a calendar date of the clinic's time zone."""
    if born is None:
        return
    clinic = await queries.clinic_by_id(clinic_id)
    validation.date_of_birth(born, clinic.timezone)


async def _check_unique(
    email: str | None, phone: str | None, columns: set[str], patient_id: uuid.UUID | None
) -> None:
    """409 when another active patient of the clinic already has this email or phone (for
    `columns` of an active record: an inactive one claims neither)."""
    for column, value in (("email", email), ("phone", phone)):
        if column in columns and value is not None:
            sql, message = _TAKEN[column]
            if await db.fetch(sql, value, patient_id):
                raise Conflict(message)


def _camel(columns: list[str]) -> list[str]:
    return [re.sub(r"_([a-z])", lambda m: m.group(1).upper(), c) for c in columns]


async def create_patient(actor: Actor, data: PatientCreate) -> PatientRow:
    values = _requested(data)
    columns = list(values)
    async with db.tenant_transaction(actor.clinic_id):
        await _check_birth_date(actor.clinic_id, values["date_of_birth"])
        await _check_unique(values["email"], values["phone"], {"email", "phone"}, None)
        # A race past the check above meets the unique index: core/constraints.py answers
        # it with the same 409.
        row = await rows.fetch_only(
            PatientRow,
            f"INSERT INTO patient (clinic_id, {', '.join(columns)})"  # noqa: S608 - whitelisted columns
            f" VALUES ({{}}, {', '.join('{}' for _ in columns)}) RETURNING *",
            actor.clinic_id,
            *values.values(),
        )
        await publish(new_event(PATIENT_CREATED, NoPayload(), actor=actor, entity_id=row.id))
    return row


async def _apply(actor: Actor, current: PatientRow, requested: dict[str, Any]) -> PatientRow:
    """Write the requested values that differ from `current`; publish `patient.updated`."""
    changes = {k: v for k, v in requested.items() if getattr(current, k) != v}
    if not changes:
        return current
    if "date_of_birth" in changes:
        await _check_birth_date(actor.clinic_id, changes["date_of_birth"])
    after = msgspec.structs.replace(current, **changes)
    if after.status == "active":
        # Reactivating a record claims its email and phone again.
        claimed = set(changes) | ({"email", "phone"} if "status" in changes else set())
        await _check_unique(after.email, after.phone, claimed, current.id)
    row = await rows.update_one(PatientRow, current.id, changes)
    fields = Changed(fields=_camel(sorted(changes)))
    await publish(new_event(PATIENT_UPDATED, fields, actor=actor, entity_id=current.id))
    return row


async def update_patient(actor: Actor, patient_id: uuid.UUID, data: PatientPatch) -> PatientRow:
    requested = _requested(data)
    async with db.tenant_transaction(actor.clinic_id):
        current = await _patient(patient_id, lock=True)
        return await _apply(actor, current, requested)


async def update_own(actor: Actor, data: OwnProfilePatch) -> PatientRow:
    requested = _requested(data)
    async with db.tenant_transaction(actor.clinic_id):
        current = await _own(actor, lock=True)
        return await _apply(actor, current, requested)


async def deactivate_patient(actor: Actor, patient_id: uuid.UUID) -> None:
    """The record stays for history; its email and phone are free for an active patient."""
    async with db.tenant_transaction(actor.clinic_id):
        current = await _patient(patient_id, lock=True)
        if current.status == "inactive":
            return
        await db.fetch(
            "UPDATE patient SET status = 'inactive', updated_at = now() WHERE id = {}",
            patient_id,
        )
        await publish(
            new_event(PATIENT_DEACTIVATED, NoPayload(), actor=actor, entity_id=patient_id)
        )
