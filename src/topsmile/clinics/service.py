"""Clinics and their staff (SPEC §4): sign-up, the clinic's settings, staff users.

The sign-up and staff-user functions are shared by the API and the operators' CLI; the API
adds the sign-up switch, the per-IP throttle and the admin's first session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from asyncpg.exceptions import UniqueViolationError

from topsmile.auth import sessions
from topsmile.auth.accounts import check_password
from topsmile.auth.passwords import Hasher
from topsmile.auth.principal import Principal, Role
from topsmile.auth.service import SignedIn, session_tokens
from topsmile.clinics import queries
from topsmile.clinics.schemas import (
    ClinicPatch,
    ClinicSettings,
    ClinicSignup,
    StaffUserCreate,
    StaffUserPatch,
)
from topsmile.core import db, validation
from topsmile.core.errors import Conflict, FieldError, Forbidden, NotFound, ValidationError
from topsmile.core.ranges import offset_of
from topsmile.core.schemas import validation_error
from topsmile.core.throttle import ip_throttle_key
from topsmile.events.outbox import publish
from topsmile.events.types import Event, new_event
from topsmile.runtime import Runtime

SLUG_TAKEN = "Another clinic already uses this slug."
EMAIL_TAKEN = "A user with this email already exists at this clinic."
_MAX_NAME = 100


@dataclass(frozen=True)
class NewClinic:
    clinic: dict[str, Any]
    admin: dict[str, Any]
    session: sessions.IssuedSession | None


def _name(value: str, field: str) -> str:
    text = validation.required_text(value, field)
    if len(text) > _MAX_NAME:
        raise ValidationError.on(field, f"Use at most {_MAX_NAME} characters.")
    return text


def _event(
    name: str,
    clinic_id: uuid.UUID,
    entity_type: str,
    entity_id: uuid.UUID,
    actor: Principal | None,
    ip: str | None = None,
    **payload: Any,
) -> Event:
    return new_event(
        name,
        clinic_id=clinic_id,
        entity_type=entity_type,
        entity_id=entity_id,
        actor_id=actor.user_id if actor else None,
        actor_role=actor.role if actor else None,
        ip=actor.ip if actor else ip,
        payload=msgspec.to_builtins(payload),
    )


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
            [clinic] = await db.fetch(
                "INSERT INTO clinic (id, name, slug, timezone, currency, settings)"
                " VALUES ({}, {}, {}, {}, {}, {}::jsonb) RETURNING *",
                clinic_id,
                name,
                slug,
                zone,
                currency,
                msgspec.json.encode(ClinicSettings()).decode(),
            )
            [admin] = await db.fetch(
                "INSERT INTO app_user (clinic_id, email, password_hash, first_name, last_name,"
                " role) VALUES ({}, {}, {}, {}, {}, 'admin') RETURNING *",
                clinic_id,
                email,
                password_hash,
                first_name,
                last_name,
            )
            if with_session:
                issued = await sessions.open_session(
                    clinic_id, admin["id"], user_agent=user_agent, ip=ip
                )
            await publish(
                new_event(
                    "clinic.created",
                    clinic_id=clinic_id,
                    entity_type="clinic",
                    entity_id=clinic_id,
                    actor_id=admin["id"] if with_session else None,
                    actor_role="admin" if with_session else None,
                    ip=ip,
                    payload={"name": name, "slug": slug, "adminId": str(admin["id"])},
                )
            )
    except UniqueViolationError:
        raise Conflict(SLUG_TAKEN) from None
    return NewClinic(clinic, admin, issued)


async def signup(rt: Runtime, data: ClinicSignup, *, ip: str, user_agent: str | None) -> SignedIn:
    """`POST /api/clinics`: public when sign-up is on, throttled per client IP."""
    if not rt.settings.allow_signup:
        raise Forbidden("Clinic sign-up is turned off on this server.")
    await rt.throttle.enforce(ip_throttle_key("signup-ip", ip), rt.settings.rate_signup_per_ip)
    created = await create_clinic(rt.hasher, data, ip=ip, user_agent=user_agent, with_session=True)
    assert created.session is not None
    return session_tokens(rt, created.admin, created.clinic, created.session)


# --- The caller's clinic ----------------------------------------------------------------


async def get_clinic(principal: Principal) -> dict[str, Any]:
    async with db.tenant_transaction(principal.clinic_id):
        return await queries.clinic_by_id(principal.clinic_id)


def _merged_settings(current: Any, changes: dict[str, Any]) -> ClinicSettings:
    """Only the keys sent change; the result is validated as a whole (strict types)."""
    stored = current if isinstance(current, dict) else msgspec.json.decode(current)
    base = msgspec.to_builtins(msgspec.convert(stored, ClinicSettings))
    try:
        return msgspec.convert({**base, **changes}, ClinicSettings, strict=True)
    except msgspec.ValidationError as exc:
        error = validation_error(exc)
        fields = [
            FieldError("settings" if e.field == "body" else f"settings.{e.field}", e.message)
            for e in error.errors or []
        ]
        raise ValidationError(error.detail, errors=fields) from None


async def update_clinic(principal: Principal, patch: ClinicPatch) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if patch.name is not msgspec.UNSET:
        changes["name"] = _name(patch.name, "name")
    if patch.timezone is not msgspec.UNSET:
        changes["timezone"] = validation.timezone(patch.timezone.strip())
    if patch.currency is not msgspec.UNSET:
        changes["currency"] = validation.currency(patch.currency)
    async with db.tenant_transaction(principal.clinic_id):
        [clinic] = await db.fetch(
            "SELECT * FROM clinic WHERE id = {} FOR UPDATE", principal.clinic_id
        )
        settings_sent: list[str] = []
        if patch.settings is not msgspec.UNSET:
            merged = _merged_settings(clinic["settings"], patch.settings)
            changes["settings"] = msgspec.json.encode(merged).decode()
            settings_sent = sorted(patch.settings)
        if not changes:
            return clinic
        clinic = await db.update_row(
            "clinic", principal.clinic_id, changes, jsonb=frozenset({"settings"})
        )
        fields = [key for key in changes if key != "settings"]
        fields += [f"settings.{key}" for key in settings_sent]
        await publish(
            _event(
                "clinic.updated",
                principal.clinic_id,
                "clinic",
                principal.clinic_id,
                principal,
                fields=fields,
            )
        )
    return clinic


# --- Staff users -------------------------------------------------------------------------


async def list_users(
    principal: Principal, *, page: int, page_size: int
) -> tuple[list[dict[str, Any]], int]:
    """Staff users (never patients), oldest first; a page of them and the total."""
    async with db.tenant_transaction(principal.clinic_id):
        [count] = await db.fetch("SELECT count(*) AS n FROM app_user WHERE role <> 'patient'")
        rows = await db.fetch(
            "SELECT * FROM app_user WHERE role <> 'patient' ORDER BY created_at, id"
            " LIMIT {} OFFSET {}",
            page_size,
            offset_of(page, page_size),
        )
    return rows, int(count["n"])


def _staff_role(role: Role) -> Role:
    if role == "patient":
        raise ValidationError.on("role", "Staff users cannot have the patient role.")
    return role


async def create_user(
    hasher: Hasher,
    clinic_id: uuid.UUID,
    data: StaffUserCreate,
    *,
    actor: Principal | None,
) -> dict[str, Any]:
    """A staff user in `clinic_id` (the admin's clinic, or the operator's choice)."""
    role = _staff_role(data.role)
    email = validation.email(data.email)
    first_name = _name(data.first_name, "firstName")
    last_name = _name(data.last_name, "lastName")
    check_password(data.password, email)
    password_hash = await hasher.hash(data.password)
    try:
        async with db.tenant_transaction(clinic_id):
            if await queries.user_by_email(email) is not None:
                raise Conflict(EMAIL_TAKEN)
            [user] = await db.fetch(
                "INSERT INTO app_user (clinic_id, email, password_hash, first_name, last_name,"
                " role) VALUES ({}, {}, {}, {}, {}, {}) RETURNING *",
                clinic_id,
                email,
                password_hash,
                first_name,
                last_name,
                role,
            )
            await publish(_event("user.created", clinic_id, "user", user["id"], actor, role=role))
    except UniqueViolationError:
        raise Conflict(EMAIL_TAKEN) from None
    return user


async def create_user_in(hasher: Hasher, clinic_slug: str, data: StaffUserCreate) -> dict[str, Any]:
    """The operators' path: the clinic named by its slug, no acting user."""
    async with db.tenant_transaction(None):
        clinic = await queries.clinic_by_slug(clinic_slug)
    if clinic is None:
        raise NotFound("No clinic has that slug.")
    return await create_user(hasher, clinic["id"], data, actor=None)


async def _keep_an_admin(clinic_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Refuse to leave the clinic without an active admin. Concurrent demotions queue on a
    per-clinic lock, so two admins cannot demote each other at once."""
    await db.fetch("SELECT pg_advisory_xact_lock(hashtext({}))", f"clinic-admins:{clinic_id}")
    others = await db.fetch(
        "SELECT 1 FROM app_user WHERE role = 'admin' AND active AND id <> {} LIMIT 1", user_id
    )
    if not others:
        raise Conflict("The clinic needs at least one active admin; appoint another one first.")


async def update_user(
    rt: Runtime, principal: Principal, user_id: uuid.UUID, patch: StaffUserPatch
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if patch.role is not msgspec.UNSET:
        changes["role"] = _staff_role(patch.role)
    if patch.active is not msgspec.UNSET:
        changes["active"] = patch.active
    if patch.first_name is not msgspec.UNSET:
        changes["first_name"] = _name(patch.first_name, "firstName")
    if patch.last_name is not msgspec.UNSET:
        changes["last_name"] = _name(patch.last_name, "lastName")
    revoked: list[uuid.UUID] = []
    async with db.tenant_transaction(principal.clinic_id):
        user = await queries.user_by_id(user_id, lock=True)
        if user is None or user["role"] == "patient":
            raise NotFound("No such staff user.")
        changes = {key: value for key, value in changes.items() if user[key] != value}
        if not changes:
            return user
        stays_admin = changes.get("role", user["role"]) == "admin"
        stays_active = changes.get("active", user["active"])
        if user["role"] == "admin" and user["active"] and not (stays_admin and stays_active):
            await _keep_an_admin(principal.clinic_id, user_id)
        updated = await db.update_row("app_user", user_id, changes)
        if changes.get("active") is False:
            revoked = await sessions.revoke(user_id=user_id, reason="deactivated")
        await _publish_user_changes(principal, user, changes)
    await rt.denylist.revoke_sessions(revoked)
    if "role" in changes or "active" in changes:
        await rt.denylist.user_changed(user_id)
    return updated


async def _publish_user_changes(
    principal: Principal, before: dict[str, Any], changes: dict[str, Any]
) -> None:
    def event(name: str, **payload: Any) -> Event:
        return _event(name, principal.clinic_id, "user", before["id"], principal, **payload)

    if "role" in changes:
        await publish(event("user.role_changed", **{"from": before["role"], "to": changes["role"]}))
    if "active" in changes:
        await publish(event("user.activated" if changes["active"] else "user.deactivated"))
    names = [
        {"first_name": "firstName", "last_name": "lastName"}[key]
        for key in changes
        if key in ("first_name", "last_name")
    ]
    if names:
        await publish(event("user.updated", fields=names))
