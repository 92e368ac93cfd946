"""Accounts: patient self-registration, email verification and passwords (SPEC §3)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from topsmile.auth import sessions, tokens
from topsmile.auth.passwords import policy_violation
from topsmile.auth.principal import Principal
from topsmile.auth.service import SignedIn, invalid_token, session_tokens
from topsmile.clinics import queries
from topsmile.core import clock, db, validation
from topsmile.core.errors import Conflict, NotFound, ValidationError
from topsmile.core.throttle import ip_throttle_key, throttle_key
from topsmile.events.outbox import publish
from topsmile.events.types import AccountToken, Recipient, new_event
from topsmile.runtime import Runtime


def check_password(password: str, email: str, field: str = "password") -> None:
    reason = policy_violation(password, email=email)
    if reason:
        raise ValidationError.on(field, reason)


async def send_email_token(
    rt: Runtime, *, purpose: str, user: dict[str, Any], clinic: dict[str, Any], ip: str | None
) -> None:
    """Create a single-use token and publish the event that emails its link (current tx)."""
    token = tokens.new_scoped_token(clinic["id"])
    ttl = tokens.VERIFY_EMAIL_TTL if purpose == "verify_email" else tokens.PASSWORD_RESET_TTL
    await db.fetch(
        "INSERT INTO email_token (token_hash, clinic_id, user_id, purpose, expires_at)"
        " VALUES ({}, {}, {}, {}, {})",
        tokens.hash_token(token),
        clinic["id"],
        user["id"],
        purpose,
        tokens.expires(ttl),
    )
    page = "verify-email" if purpose == "verify_email" else "reset-password"
    event_name = "user.registered" if purpose == "verify_email" else "user.password_reset_requested"
    payload = AccountToken(
        recipient=Recipient(
            first_name=user["first_name"], last_name=user["last_name"], email=user["email"]
        ),
        clinic_name=clinic["name"],
        link=f"{rt.settings.app_url.rstrip('/')}/{page}?token={token}",
    )
    await publish(
        new_event(
            event_name,
            clinic_id=clinic["id"],
            entity_type="user",
            entity_id=user["id"],
            actor_id=user["id"],
            ip=ip,
            payload=payload,
        )
    )


async def register(
    rt: Runtime,
    *,
    clinic_slug: str,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    phone: str | None,
    date_of_birth: date | None,
    ip: str,
    user_agent: str | None,
) -> tuple[SignedIn, dict[str, Any]]:
    await rt.throttle.enforce(ip_throttle_key("register-ip", ip), rt.settings.rate_register_per_ip)
    email = validation.email(email)
    first_name = validation.required_text(first_name, "firstName")
    last_name = validation.required_text(last_name, "lastName")
    e164 = validation.phone(phone) if phone else None
    check_password(password, email)
    async with db.tenant_transaction(None):
        clinic = await queries.clinic_by_slug(clinic_slug)
    if clinic is None:
        raise NotFound("No clinic has that slug.")
    if date_of_birth is not None:
        validation.date_of_birth(date_of_birth, clinic["timezone"])
    password_hash = await rt.hasher.hash(password)
    async with db.tenant_transaction(clinic["id"]):
        if await queries.user_by_email(email) is not None:
            raise Conflict("An account with this email already exists at this clinic.")
        [user] = await db.fetch(
            "INSERT INTO app_user (clinic_id, email, password_hash, first_name, last_name, role)"
            " VALUES ({}, {}, {}, {}, {}, 'patient') RETURNING *",
            clinic["id"],
            email,
            password_hash,
            first_name,
            last_name,
        )
        patient = await link_or_create_patient(
            clinic["id"], user["id"], email, first_name, last_name, e164, date_of_birth
        )
        await send_email_token(rt, purpose="verify_email", user=user, clinic=clinic, ip=ip)
        issued = await sessions.open_session(clinic["id"], user["id"], user_agent=user_agent, ip=ip)
    return session_tokens(rt, user, clinic, issued), patient


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
    """A clinic may already hold a record for this person: the account takes it over."""
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


def _token_clinic(token: str) -> uuid.UUID:
    try:
        return tokens.clinic_of_token(token)
    except tokens.InvalidToken:
        raise invalid_token() from None


async def _use_token(token: str, purpose: str) -> dict[str, Any]:
    """Consume a single-use email token in its clinic's transaction; return its user."""
    rows = await db.fetch(
        "UPDATE email_token SET used_at = {} WHERE token_hash = {} AND purpose = {}"
        " AND used_at IS NULL AND expires_at > {} RETURNING user_id",
        clock.now(),
        tokens.hash_token(token),
        purpose,
        clock.now(),
    )
    user = await queries.user_by_id(rows[0]["user_id"], lock=True) if rows else None
    if user is None or not user["active"]:
        raise invalid_token()
    return user


async def verify_email(token: str) -> None:
    async with db.tenant_transaction(_token_clinic(token)):
        user = await _use_token(token, "verify_email")
        await db.fetch(
            "UPDATE app_user SET email_verified = true, updated_at = now() WHERE id = {}",
            user["id"],
        )


async def forgot_password(rt: Runtime, *, clinic_slug: str, email: str, ip: str) -> None:
    """Always 202 for the caller: over the throttle, or for no such account, nothing is sent."""
    email = email.strip().lower()
    key = throttle_key("forgot", clinic_slug.strip().lower(), email)
    if not (await rt.throttle.hit(key, rt.settings.rate_forgot_per_account)).allowed:
        return
    async with db.tenant_transaction(None):
        clinic = await queries.clinic_by_slug(clinic_slug)
    if clinic is None:
        return
    async with db.tenant_transaction(clinic["id"]):
        user = await queries.user_by_email(email)
        if user is not None and user["active"]:
            await send_email_token(rt, purpose="password_reset", user=user, clinic=clinic, ip=ip)


async def reset_password(rt: Runtime, *, token: str, password: str, ip: str) -> None:
    async with db.tenant_transaction(_token_clinic(token)):
        user = await _use_token(token, "password_reset")
        check_password(password, user["email"])
        new_hash = await rt.hasher.hash(password)
        await _set_password(user, new_hash, ip)
        revoked = await sessions.revoke(user_id=user["id"], reason="password_reset")
    await rt.denylist.revoke_sessions(revoked)


async def change_password(
    rt: Runtime, principal: Principal, *, current_password: str, new_password: str
) -> None:
    async with db.tenant_transaction(principal.clinic_id):
        user = await queries.user_by_id(principal.user_id)
    assert user is not None
    if not await rt.hasher.verify(user["password_hash"], current_password):
        raise ValidationError.on("currentPassword", "The current password is not right.")
    check_password(new_password, user["email"], "newPassword")
    new_hash = await rt.hasher.hash(new_password)
    async with db.tenant_transaction(principal.clinic_id):
        await _set_password(user, new_hash, principal.ip)
        revoked = await sessions.revoke(
            user_id=principal.user_id, keep=principal.session_id, reason="password_changed"
        )
    await rt.denylist.revoke_sessions(revoked)


async def _set_password(user: dict[str, Any], password_hash: str, ip: str | None) -> None:
    await db.fetch(
        "UPDATE app_user SET password_hash = {}, updated_at = now() WHERE id = {}",
        password_hash,
        user["id"],
    )
    await publish(
        new_event(
            "user.password_changed",
            clinic_id=user["clinic_id"],
            entity_type="user",
            entity_id=user["id"],
            actor_id=user["id"],
            actor_role=user["role"],
            ip=ip,
        )
    )
