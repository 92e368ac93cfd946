"""Clinics (SPEC §4): sign-up, the clinic's settings; staff users are `users.service`'s.

The sign-up is shared by the API and the operators' CLI; the API adds the sign-up switch,
the per-IP throttle and the admin's first session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from asyncpg.exceptions import UniqueViolationError

from topsmile.auth import sessions
from topsmile.auth.passwords import Hasher, check_password
from topsmile.auth.signin import SessionTokens, session_tokens
from topsmile.clinics import queries
from topsmile.clinics.events import CLINIC_CREATED, CLINIC_UPDATED, ClinicCreated
from topsmile.clinics.schemas import ClinicPatch, ClinicSettings, ClinicSignup
from topsmile.clinics.tables import ClinicRow
from topsmile.core import db, rows, validation
from topsmile.core.actor import Actor
from topsmile.core.errors import Conflict, FieldError, Forbidden, NotFound, ValidationError
from topsmile.core.schemas import validation_error
from topsmile.core.throttle import ip_throttle_key
from topsmile.events.catalogue import Changed
from topsmile.events.outbox import publish
from topsmile.events.types import new_event
from topsmile.runtime import Runtime
from topsmile.users import service as users
from topsmile.users.schemas import StaffUserCreate
from topsmile.users.tables import UserRow

SLUG_TAKEN = "Another clinic already uses this slug."
_MAX_NAME = 100


@dataclass(frozen=True)
class NewClinic:
    clinic: ClinicRow
    admin: UserRow
    session: sessions.IssuedSession | None


@dataclass(frozen=True)
class SignedUp:
    """The API's sign-up: the new clinic, its admin and the admin's session tokens."""

    clinic: ClinicRow
    admin: UserRow
    tokens: SessionTokens


def _name(value: str, field: str) -> str:
    text = validation.required_text(value, field)
    if len(text) > _MAX_NAME:
        raise ValidationError.on(field, f"Use at most {_MAX_NAME} characters.")
    return text


# --- Sign-up ---------------------------------------------------------------------------


async def create_clinic(
    hasher: Hasher,
    data: ClinicSignup,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    with_session: bool = False,
) -> NewClinic:
    """A clinic, its first admin and (for the API) the admin's session, in one transaction."""
    name = _name(data.name, "name")
    slug = validation.slug(data.slug.strip().lower())
    zone = validation.timezone(data.timezone.strip())
    currency = validation.currency(data.currency)
    email = validation.email(data.admin.email, "admin.email")
    first_name = _name(data.admin.first_name, "admin.firstName")
    last_name = _name(data.admin.last_name, "admin.lastName")
    check_password(data.admin.password, email, "admin.password")
    password_hash = await hasher.hash(data.admin.password)
    clinic_id = uuid.uuid4()
    issued = None
    try:
        async with db.tenant_transaction(clinic_id):
            if await queries.clinic_by_slug(slug) is not None:
                raise Conflict(SLUG_TAKEN)
            clinic = await rows.fetch_only(
                ClinicRow,
                "INSERT INTO clinic (id, name, slug, timezone, currency, settings)"
                " VALUES ({}, {}, {}, {}, {}, {}::jsonb) RETURNING *",
                clinic_id,
                name,
                slug,
                zone,
                currency,
                msgspec.json.encode(ClinicSettings()).decode(),
            )
            admin = await users.insert_user(
                clinic_id,
                email=email,
                password_hash=password_hash,
                first_name=first_name,
                last_name=last_name,
                role="admin",
            )
            if with_session:
                issued = await sessions.open_session(
                    clinic_id, admin.id, user_agent=user_agent, ip=ip
                )
            # Signing up through the API is the new admin's act; the CLI's is the system's.
            actor = (
                Actor(clinic_id, admin.id, "admin", ip)
                if with_session
                else Actor.system(clinic_id, ip)
            )
            payload = ClinicCreated(name=name, slug=slug, admin_id=admin.id)
            await publish(new_event(CLINIC_CREATED, payload, actor=actor, entity_id=clinic_id))
    except UniqueViolationError:
        raise Conflict(SLUG_TAKEN) from None
    return NewClinic(clinic, admin, issued)


async def signup(rt: Runtime, data: ClinicSignup, *, ip: str, user_agent: str | None) -> SignedUp:
    """`POST /api/clinics`: public when sign-up is on, throttled per client IP."""
    if not rt.settings.allow_signup:
        raise Forbidden("Clinic sign-up is turned off on this server.")
    await rt.throttle.enforce(ip_throttle_key("signup-ip", ip), rt.settings.rate_signup_per_ip)
    created = await create_clinic(rt.hasher, data, ip=ip, user_agent=user_agent, with_session=True)
    assert created.session is not None
    admin, clinic = created.admin, created.clinic
    tokens = session_tokens(
        rt, user_id=admin.id, clinic_id=clinic.id, role=admin.role, issued=created.session
    )
    return SignedUp(clinic, admin, tokens)


# --- The caller's clinic ----------------------------------------------------------------


async def get_clinic(actor: Actor) -> ClinicRow:
    async with db.tenant_transaction(actor.clinic_id):
        return await queries.clinic_by_id(actor.clinic_id)


def _merged_settings(current: str, changes: dict[str, Any]) -> ClinicSettings:
    """Only the keys sent change; the result is validated as a whole (strict types)."""
    base = msgspec.to_builtins(msgspec.json.decode(current, type=ClinicSettings))
    try:
        return msgspec.convert({**base, **changes}, ClinicSettings, strict=True)
    except msgspec.ValidationError as exc:
        error = validation_error(exc)
        fields = [
            FieldError("settings" if e.field == "body" else f"settings.{e.field}", e.message)
            for e in error.errors or []
        ]
        raise ValidationError(error.detail, errors=fields) from None


async def update_clinic(rt: Runtime, actor: Actor, patch: ClinicPatch) -> ClinicRow:
    changes: dict[str, Any] = {}
    if patch.name is not msgspec.UNSET:
        changes["name"] = _name(patch.name, "name")
    if patch.timezone is not msgspec.UNSET:
        changes["timezone"] = validation.timezone(patch.timezone.strip())
    if patch.currency is not msgspec.UNSET:
        changes["currency"] = validation.currency(patch.currency)
    async with db.tenant_transaction(actor.clinic_id):
        clinic = await queries.clinic_by_id(actor.clinic_id, lock=True)
        settings_sent: list[str] = []
        if patch.settings is not msgspec.UNSET:
            merged = _merged_settings(clinic.settings, patch.settings)
            changes["settings"] = msgspec.json.encode(merged).decode()
            settings_sent = sorted(patch.settings)
        if not changes:
            return clinic
        clinic = await rows.update_one(
            ClinicRow, actor.clinic_id, changes, jsonb=frozenset({"settings"})
        )
        fields = [key for key in changes if key != "settings"]
        fields += [f"settings.{key}" for key in settings_sent]
        await publish(
            new_event(
                CLINIC_UPDATED, Changed(fields=fields), actor=actor, entity_id=actor.clinic_id
            )
        )
    await rt.denylist.clinic_changed(actor.clinic_id)
    return clinic


# --- Staff users from the operators' CLI ----------------------------------------------


async def create_user_in(hasher: Hasher, clinic_slug: str, data: StaffUserCreate) -> UserRow:
    """The operators' path: the clinic named by its slug, no acting user."""
    async with db.tenant_transaction(None):
        clinic = await queries.clinic_by_slug(clinic_slug)
    if clinic is None:
        raise NotFound("No clinic has that slug.")
    return await users.create_user(hasher, data, actor=Actor.system(clinic.id))
