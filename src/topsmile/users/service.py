"""Users (SPEC §3, §4): the one place `app_user` rows are created and changed.

Clinic sign-up (its first admin), patient self-registration, the staff-user API, the
operators' CLI and the demo seeder all create users through `insert_user`.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from asyncpg.exceptions import UniqueViolationError

from topsmile.auth import sessions
from topsmile.auth.passwords import Hasher, check_password
from topsmile.core import db, rows, validation
from topsmile.core.actor import Actor, Role
from topsmile.core.errors import Conflict, NotFound, ValidationError
from topsmile.events.catalogue import Changed, NoPayload
from topsmile.events.outbox import publish
from topsmile.events.types import new_event
from topsmile.runtime import Runtime
from topsmile.users import events, queries
from topsmile.users.schemas import StaffUserCreate, StaffUserPatch
from topsmile.users.tables import UserRow

EMAIL_TAKEN = "A user with this email already exists at this clinic."


async def insert_user(
    clinic_id: uuid.UUID,
    *,
    email: str,
    password_hash: str,
    first_name: str,
    last_name: str,
    role: Role,
    email_verified: bool = False,
) -> UserRow:
    """Insert one user in the caller's clinic transaction; the inputs are already checked.

    A duplicate email hits app_user_clinic_id_email_key, which the one constraint mapping
    (core/constraints.py) answers with a 409.
    """
    return await rows.fetch_only(
        UserRow,
        "INSERT INTO app_user (clinic_id, email, password_hash, first_name, last_name,"
        " role, email_verified) VALUES ({}, {}, {}, {}, {}, {}, {}) RETURNING *",
        clinic_id,
        email,
        password_hash,
        first_name,
        last_name,
        role,
        email_verified,
    )


# --- Staff users -------------------------------------------------------------------------


async def list_users(actor: Actor, *, page: int, page_size: int) -> tuple[list[UserRow], int]:
    """Staff users (never patients), oldest first; a page of them and the total."""
    async with db.tenant_transaction(actor.clinic_id):
        return await queries.staff_page(page=page, page_size=page_size)


def _staff_role(role: Role) -> Role:
    if role == "patient":
        raise ValidationError.on("role", "Staff users cannot have the patient role.")
    return role


async def create_user(hasher: Hasher, data: StaffUserCreate, *, actor: Actor) -> UserRow:
    """A staff user in the actor's clinic (the admin's, or the one the operator named)."""
    role = _staff_role(data.role)
    email = validation.email(data.email)
    first_name = validation.name(data.first_name, "firstName")
    last_name = validation.name(data.last_name, "lastName")
    check_password(data.password, email)
    password_hash = await hasher.hash(data.password)
    try:
        async with db.tenant_transaction(actor.clinic_id):
            if await queries.user_by_email(email) is not None:
                raise Conflict(EMAIL_TAKEN)
            user = await insert_user(
                actor.clinic_id,
                email=email,
                password_hash=password_hash,
                first_name=first_name,
                last_name=last_name,
                role=role,
            )
            created = events.UserCreated(role=role)
            await publish(new_event(events.USER_CREATED, created, actor=actor, entity_id=user.id))
    except UniqueViolationError:
        raise Conflict(EMAIL_TAKEN) from None
    return user


async def _keep_an_admin(clinic_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Refuse to leave the clinic without an active admin. Concurrent demotions queue on a
    per-clinic lock, so two admins cannot demote each other at once."""
    await db.fetch("SELECT pg_advisory_xact_lock(hashtext({}))", f"clinic-admins:{clinic_id}")
    if not await queries.other_active_admin(user_id):
        raise Conflict("The clinic needs at least one active admin; appoint another one first.")


async def update_user(
    rt: Runtime, actor: Actor, user_id: uuid.UUID, patch: StaffUserPatch
) -> UserRow:
    changes: dict[str, Any] = {}
    if patch.role is not msgspec.UNSET:
        changes["role"] = _staff_role(patch.role)
    if patch.active is not msgspec.UNSET:
        changes["active"] = patch.active
    if patch.first_name is not msgspec.UNSET:
        changes["first_name"] = validation.name(patch.first_name, "firstName")
    if patch.last_name is not msgspec.UNSET:
        changes["last_name"] = validation.name(patch.last_name, "lastName")
    revoked: list[uuid.UUID] = []
    async with db.tenant_transaction(actor.clinic_id):
        user = await queries.user_by_id(user_id, lock=True)
        if user is None or user.role == "patient":
            raise NotFound("No such staff user.")
        changes = {key: value for key, value in changes.items() if getattr(user, key) != value}
        if not changes:
            return user
        stays_admin = changes.get("role", user.role) == "admin"
        stays_active = changes.get("active", user.active)
        if user.role == "admin" and user.active and not (stays_admin and stays_active):
            await _keep_an_admin(actor.clinic_id, user_id)
        updated = await rows.update_one(UserRow, user_id, changes)
        if changes.get("active") is False:
            revoked = await sessions.revoke(user_id=user_id, reason="deactivated")
        await _publish_user_changes(actor, user, changes)
    await rt.denylist.revoke_sessions(revoked)
    await rt.denylist.user_changed(user_id)
    return updated


async def _publish_user_changes(actor: Actor, before: UserRow, changes: dict[str, Any]) -> None:
    user_id = before.id
    if "role" in changes:
        moved = events.RoleChanged(before=before.role, after=changes["role"])
        await publish(new_event(events.USER_ROLE_CHANGED, moved, actor=actor, entity_id=user_id))
    if "active" in changes:
        kind = events.USER_ACTIVATED if changes["active"] else events.USER_DEACTIVATED
        await publish(new_event(kind, NoPayload(), actor=actor, entity_id=user_id))
    names = [
        {"first_name": "firstName", "last_name": "lastName"}[key]
        for key in changes
        if key in ("first_name", "last_name")
    ]
    if names:
        updated = Changed(fields=names)
        await publish(new_event(events.USER_UPDATED, updated, actor=actor, entity_id=user_id))
