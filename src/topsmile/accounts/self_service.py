"""Self-service accounts: patient self-registration, email verification and passwords (SPEC §3)."""

from __future__ import annotations

import uuid
from datetime import date

from topsmile.accounts.service import (
    SignedIn,
    invalid_token,
    login_failure_key,
    reserve_password_check,
    signed_in,
)
from topsmile.auth import sessions, tokens
from topsmile.auth.passwords import check_password
from topsmile.auth.principal import Principal
from topsmile.auth.tables import EmailTokenRow
from topsmile.clinics import queries as clinics
from topsmile.clinics.tables import ClinicRow
from topsmile.core import clock, db, rows, validation
from topsmile.core.actor import Actor
from topsmile.core.errors import Conflict, NotFound, ValidationError
from topsmile.core.throttle import ip_throttle_key, throttle_key
from topsmile.events.catalogue import NoPayload
from topsmile.events.outbox import publish
from topsmile.events.types import AccountToken, Recipient, new_event
from topsmile.patients.linking import attach_verified_record, registration_record
from topsmile.patients.tables import PatientRow
from topsmile.runtime import Runtime
from topsmile.users import queries as users
from topsmile.users.events import (
    USER_PASSWORD_CHANGED,
    USER_PASSWORD_RESET_REQUESTED,
    USER_REGISTERED,
)
from topsmile.users.service import insert_user
from topsmile.users.tables import UserRow


async def send_email_token(
    rt: Runtime,
    *,
    purpose: tokens.EmailPurpose,
    user: UserRow,
    clinic: ClinicRow,
    ip: str | None,
) -> None:
    """Create a single-use token and publish the event that emails its link (current tx).

    The token is derived from the server secret and the row's id (`tokens.email_token`):
    the row keeps its hash, the event only the row's id; the email handler derives it again.
    """
    token_id = uuid.uuid4()
    token = tokens.email_token(rt.settings.secret_key, clinic.id, token_id, purpose)
    ttl = tokens.VERIFY_EMAIL_TTL if purpose == "verify_email" else tokens.PASSWORD_RESET_TTL
    await db.fetch(
        "INSERT INTO email_token (id, token_hash, clinic_id, user_id, purpose, expires_at)"
        " VALUES ({}, {}, {}, {}, {}, {})",
        token_id,
        tokens.hash_token(token),
        clinic.id,
        user.id,
        purpose,
        tokens.expires(ttl),
    )
    kind = USER_REGISTERED if purpose == "verify_email" else USER_PASSWORD_RESET_REQUESTED
    payload = AccountToken(
        recipient=Recipient(first_name=user.first_name, last_name=user.last_name, email=user.email),
        clinic_name=clinic.name,
        token_id=token_id,
        purpose=purpose,
    )
    # The account's user with no role: the request asking for the email is not signed in.
    actor = Actor(clinic.id, user.id, None, ip)
    await publish(new_event(kind, payload, actor=actor, entity_id=user.id))


ACCOUNT_EXISTS = "An account with this email already exists at this clinic."


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
) -> tuple[SignedIn, PatientRow | None]:
    """A new patient account and its session; the patient record, or None while the
    account stays unattached (see `registration_record`)."""
    await rt.throttle.enforce(ip_throttle_key("register-ip", ip), rt.settings.rate_register_per_ip)
    email = validation.email(email)
    first_name = validation.required_text(first_name, "firstName")
    last_name = validation.required_text(last_name, "lastName")
    e164 = validation.phone(phone) if phone else None
    check_password(password, email)
    async with db.tenant_transaction(None):
        clinic = await clinics.clinic_by_slug(clinic_slug)
    if clinic is None:
        raise NotFound("No clinic has that slug.")
    if date_of_birth is not None:
        validation.date_of_birth(date_of_birth, clinic.timezone)
    password_hash = await rt.hasher.hash(password)
    async with db.tenant_transaction(clinic.id):
        # Concurrent registrations of one email queue here, so the check and the insert
        # cannot interleave: one account, the others 409 (never a constraint error).
        await db.fetch(
            "SELECT pg_advisory_xact_lock(hashtextextended({}, 0))",
            f"register:{clinic.id}:{email}",
        )
        if await users.user_by_email(email) is not None:
            raise Conflict(ACCOUNT_EXISTS)
        # Staff adding this email meanwhile hits app_user_clinic_id_email_key, which the
        # one constraint mapping (core/constraints.py) answers with the same 409.
        user = await insert_user(
            clinic.id,
            email=email,
            password_hash=password_hash,
            first_name=first_name,
            last_name=last_name,
            role="patient",
        )
        patient = await registration_record(
            clinic.id, user.id, email, first_name, last_name, e164, date_of_birth
        )
        await send_email_token(rt, purpose="verify_email", user=user, clinic=clinic, ip=ip)
        issued = await sessions.open_session(clinic.id, user.id, user_agent=user_agent, ip=ip)
    return signed_in(rt, user, clinic, issued), patient


def _token_clinic(token: str) -> uuid.UUID:
    try:
        return tokens.clinic_of_token(token)
    except tokens.InvalidToken:
        raise invalid_token() from None


async def _use_token(token: str, purpose: str) -> UserRow:
    """Consume a single-use email token in its clinic's transaction; return its user."""
    used = await rows.fetch_one(
        EmailTokenRow,
        "UPDATE email_token SET used_at = {} WHERE token_hash = {} AND purpose = {}"
        " AND used_at IS NULL AND expires_at > {} RETURNING *",
        clock.now(),
        tokens.hash_token(token),
        purpose,
        clock.now(),
    )
    user = await users.user_by_id(used.user_id, lock=True) if used else None
    if user is None or not user.active:
        raise invalid_token()
    return user


async def verify_email(rt: Runtime, token: str) -> None:
    async with db.tenant_transaction(_token_clinic(token)):
        user = await _use_token(token, "verify_email")
        await db.fetch(
            "UPDATE app_user SET email_verified = true, updated_at = now() WHERE id = {}",
            user.id,
        )
        await attach_verified_record(user)
    await rt.denylist.user_changed(user.id)


async def forgot_password(rt: Runtime, *, clinic_slug: str, email: str, ip: str) -> None:
    """Always 202 for the caller: over a throttle, or for no such account, nothing is sent."""
    email = email.strip().lower()
    per_ip = await rt.throttle.hit(throttle_key("forgot-ip", ip), rt.settings.rate_forgot_per_ip)
    if not per_ip.allowed:
        return
    key = throttle_key("forgot", clinic_slug.strip().lower(), email)
    if not (await rt.throttle.hit(key, rt.settings.rate_forgot_per_account)).allowed:
        return
    async with db.tenant_transaction(None):
        clinic = await clinics.clinic_by_slug(clinic_slug)
    if clinic is None:
        return
    async with db.tenant_transaction(clinic.id):
        user = await users.user_by_email(email)
        if user is not None and user.active:
            await send_email_token(rt, purpose="password_reset", user=user, clinic=clinic, ip=ip)


async def reset_password(rt: Runtime, *, token: str, password: str, ip: str) -> None:
    async with db.tenant_transaction(_token_clinic(token)):
        user = await _use_token(token, "password_reset")
        check_password(password, user.email)
        new_hash = await rt.hasher.hash(password)
        await _set_password(user, new_hash, ip)
        revoked = await sessions.revoke(user_id=user.id, reason="password_reset")
        clinic = await clinics.clinic_by_id(user.clinic_id)
    await rt.denylist.revoke_sessions(revoked)
    await rt.throttle.reset(login_failure_key(clinic.slug, user.email))


async def change_password(
    rt: Runtime, principal: Principal, *, current_password: str, new_password: str
) -> None:
    """A wrong current password counts as a failed sign-in of the account (SPEC §3)."""
    async with db.tenant_transaction(principal.clinic_id):
        user = await users.user_by_id(principal.user_id)
        clinic = await clinics.clinic_by_id(principal.clinic_id)
    assert user is not None
    failures = login_failure_key(clinic.slug, user.email)
    await reserve_password_check(rt, failures)
    if not await rt.hasher.verify(user.password_hash, current_password):
        raise ValidationError.on("currentPassword", "The current password is not right.")
    await rt.throttle.release(failures)
    check_password(new_password, user.email, "newPassword")
    new_hash = await rt.hasher.hash(new_password)
    async with db.tenant_transaction(principal.clinic_id):
        await _set_password(user, new_hash, principal.ip)
        revoked = await sessions.revoke(
            user_id=principal.user_id, keep=principal.session_id, reason="password_changed"
        )
    await rt.denylist.revoke_sessions(revoked)
    await rt.throttle.reset(failures)


async def _set_password(user: UserRow, password_hash: str, ip: str | None) -> None:
    """Set the new hash and void every reset link still out (SPEC §3, token hygiene)."""
    await db.fetch(
        "UPDATE app_user SET password_hash = {}, updated_at = now() WHERE id = {}",
        password_hash,
        user.id,
    )
    await db.fetch(
        "UPDATE email_token SET used_at = {} WHERE user_id = {}"
        " AND purpose = 'password_reset' AND used_at IS NULL",
        clock.now(),
        user.id,
    )
    actor = Actor(user.clinic_id, user.id, user.role, ip)
    await publish(new_event(USER_PASSWORD_CHANGED, NoPayload(), actor=actor, entity_id=user.id))
