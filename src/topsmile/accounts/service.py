"""Sign-in, refresh, sign-out and the caller's sessions (SPEC §3), over auth's primitives."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from topsmile.accounts.schemas import Me
from topsmile.auth import sessions, tokens
from topsmile.auth.events import LOGIN_FAILED, LOGIN_SUCCEEDED, REFRESH_REUSE_DETECTED, LoginFailed
from topsmile.auth.principal import Principal
from topsmile.auth.signin import SessionTokens, session_tokens
from topsmile.auth.tables import RefreshTokenRow, SessionRow
from topsmile.clinics import queries as clinics
from topsmile.clinics.schemas import clinic_view
from topsmile.clinics.tables import ClinicRow
from topsmile.config import Rate
from topsmile.core import clock, db, rows
from topsmile.core.actor import Actor
from topsmile.core.errors import RateLimited, Unauthenticated, ValidationError
from topsmile.core.throttle import ip_throttle_key, throttle_key
from topsmile.events.catalogue import NoPayload
from topsmile.events.outbox import publish
from topsmile.events.types import new_event
from topsmile.runtime import Runtime
from topsmile.users import queries as users
from topsmile.users.schemas import user_view
from topsmile.users.tables import UserRow

BAD_CREDENTIALS = "The clinic, email or password is not right."


@dataclass(frozen=True)
class SignedIn:
    """A new or rotated session: whose, in which clinic, and its tokens."""

    user: UserRow
    clinic: ClinicRow
    tokens: SessionTokens


def signed_in(
    rt: Runtime, user: UserRow, clinic: ClinicRow, issued: sessions.IssuedSession
) -> SignedIn:
    issued_tokens = session_tokens(
        rt, user_id=user.id, clinic_id=clinic.id, role=user.role, issued=issued
    )
    return SignedIn(user, clinic, issued_tokens)


class RefreshClaim(rows.Row, frozen=True):
    """A refresh token joined with its session, as `refresh` locks them."""

    session_id: uuid.UUID
    expires_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None
    session_expires: datetime
    user_id: uuid.UUID


def failure_rate(rt: Runtime) -> Rate:
    return Rate(rt.settings.login_max_failures, rt.settings.login_lock_minutes * 60)


def login_failure_key(clinic_slug: str, email: str) -> str:
    """The throttle key counting one account's failed sign-ins (and wrong current passwords)."""
    return throttle_key("login-fail", clinic_slug.strip().lower(), email.strip().lower())


async def reserve_password_check(rt: Runtime, failures: str) -> None:
    """Count an attempt as a failure BEFORE its password is checked, atomically (INCR), so
    that N concurrent attempts check at most the limit's number of passwords; the rest are
    429. The caller gives the slot back (`Throttle.release`) when the password was right."""
    slot = await rt.throttle.hit(failures, failure_rate(rt))
    if not slot.allowed:
        raise RateLimited(slot.retry_after, "Too many failed sign-ins; try again later.")


async def login(
    rt: Runtime, *, clinic_slug: str, email: str, password: str, ip: str, user_agent: str | None
) -> SignedIn:
    """Unknown clinic, unknown email, wrong password and inactive user all answer the same
    401 after the same argon2 work, and count the same towards the account's lock."""
    await rt.throttle.enforce(ip_throttle_key("login-ip", ip), rt.settings.rate_login_per_ip)
    email = email.strip().lower()
    failures = login_failure_key(clinic_slug, email)
    await reserve_password_check(rt, failures)

    async with db.tenant_transaction(None):
        clinic = await clinics.clinic_by_slug(clinic_slug)
    user = None
    if clinic is not None:
        async with db.tenant_transaction(clinic.id):
            user = await users.user_by_email(email)
    if user is None or not user.active:
        await rt.hasher.burn(password)
        ok = False
    else:
        ok = await rt.hasher.verify(user.password_hash, password)

    if not ok:
        if clinic is not None:
            async with db.tenant_transaction(clinic.id):
                failed = LoginFailed(reason="bad_credentials")
                anonymous = Actor.system(clinic.id, ip)
                entity_id = user.id if user else None
                await publish(new_event(LOGIN_FAILED, failed, actor=anonymous, entity_id=entity_id))
        raise Unauthenticated(BAD_CREDENTIALS)

    assert user is not None and clinic is not None
    await rt.throttle.release(failures)
    new_hash = (
        await rt.hasher.hash(password) if rt.hasher.needs_rehash(user.password_hash) else None
    )
    async with db.tenant_transaction(clinic.id):
        if new_hash:
            await db.fetch(
                "UPDATE app_user SET password_hash = {} WHERE id = {}", new_hash, user.id
            )
        issued = await sessions.open_session(clinic.id, user.id, user_agent=user_agent, ip=ip)
        actor = Actor(clinic.id, user.id, user.role, ip)
        await publish(new_event(LOGIN_SUCCEEDED, NoPayload(), actor=actor, entity_id=user.id))
    return signed_in(rt, user, clinic, issued)


async def refresh(rt: Runtime, refresh_token: str, *, ip: str, user_agent: str | None) -> SignedIn:
    """Rotate the refresh token. A token that was already rotated is a replay: the whole
    session is revoked (the thief's and the owner's tokens alike) and the reuse audited."""
    try:
        clinic_id = tokens.clinic_of_token(refresh_token)
    except tokens.InvalidToken:
        raise Unauthenticated("Sign in again.") from None
    token_hash = tokens.hash_token(refresh_token)
    replayed = await rt.denylist.refresh_rotated(token_hash)
    reuse_session: uuid.UUID | None = None
    result: SignedIn | None = None
    async with db.tenant_transaction(clinic_id):
        row = await rows.fetch_one(
            RefreshClaim,
            """
            SELECT t.session_id, t.expires_at, t.rotated_at, s.revoked_at,
                   s.expires_at AS session_expires, s.user_id
            FROM refresh_token t JOIN auth_session s ON s.id = t.session_id
            WHERE t.token_hash = {} FOR UPDATE OF t, s
            """,
            token_hash,
        )
        if row is None:
            raise Unauthenticated("Sign in again.")
        now = clock.now()
        if row.rotated_at is not None or replayed:
            if row.revoked_at is None:
                await sessions.revoke(session_ids=[row.session_id], reason="refresh_reuse")
                # The session's user, its role unknown here: the token may be a thief's.
                owner = Actor(clinic_id, row.user_id, None, ip)
                await publish(
                    new_event(
                        REFRESH_REUSE_DETECTED,
                        NoPayload(),
                        actor=owner,
                        entity_id=row.session_id,
                    )
                )
            reuse_session = row.session_id
        elif row.revoked_at is None and row.expires_at > now and row.session_expires > now:
            user = await users.user_by_id(row.user_id)
            if user is not None and user.active:
                await db.fetch(
                    "UPDATE refresh_token SET rotated_at = {} WHERE token_hash = {}",
                    now,
                    token_hash,
                )
                new_refresh = await sessions.issue_refresh_token(
                    clinic_id, row.session_id, row.session_expires
                )
                await db.fetch(
                    "UPDATE auth_session SET last_used_at = {}, ip = {}, user_agent = {}"
                    " WHERE id = {}",
                    now,
                    ip,
                    (user_agent or "")[:300] or None,
                    row.session_id,
                )
                clinic = await clinics.clinic_by_id(clinic_id)
                issued = sessions.IssuedSession(row.session_id, new_refresh, row.session_expires)
                result = signed_in(rt, user, clinic, issued)
    if reuse_session is not None:
        await rt.denylist.revoke_sessions([reuse_session])
        raise Unauthenticated("This sign-in was used elsewhere; sign in again.")
    if result is None:
        raise Unauthenticated("Sign in again.")
    await rt.denylist.mark_rotated(token_hash)
    return result


async def logout(rt: Runtime, *, principal: Principal | None, refresh_token: str | None) -> None:
    """Revoke the session named by the access cookie, or else by the refresh cookie."""
    session_id: uuid.UUID | None = principal.session_id if principal else None
    clinic_id: uuid.UUID | None = principal.clinic_id if principal else None
    if session_id is None and refresh_token:
        try:
            clinic_id = tokens.clinic_of_token(refresh_token)
        except tokens.InvalidToken:
            return
        async with db.tenant_transaction(clinic_id):
            token = await rows.fetch_one(
                RefreshTokenRow,
                "SELECT * FROM refresh_token WHERE token_hash = {}",
                tokens.hash_token(refresh_token),
            )
        session_id = token.session_id if token else None
    if session_id is None or clinic_id is None:
        return
    async with db.tenant_transaction(clinic_id):
        revoked = await sessions.revoke(session_ids=[session_id], reason="logout")
    await rt.denylist.revoke_sessions(revoked)


async def logout_all(rt: Runtime, principal: Principal) -> None:
    async with db.tenant_transaction(principal.clinic_id):
        revoked = await sessions.revoke(user_id=principal.user_id, reason="logout_all")
    await rt.denylist.revoke_sessions(revoked)


async def me_view(principal: Principal) -> Me:
    """`GET /api/auth/me`, asked on every page load: kept in the session's memo while the
    session cache trusts it; every change to the user or the clinic drops it everywhere."""
    memo = principal.memo
    kept = memo.get(_ME) if memo is not None else None
    if isinstance(kept, Me):
        return kept
    user, clinic = await me(principal.actor)
    view = Me(user=user_view(user), clinic=clinic_view(clinic))
    if memo is not None:
        memo[_ME] = view
    return view


_ME = "accounts.me"


async def me(actor: Actor) -> tuple[UserRow, ClinicRow]:
    if actor.user_id is None:
        raise Unauthenticated("Sign in to continue.")
    async with db.tenant_transaction(actor.clinic_id):
        # One round trip for both rows (every page load asks): each table's whole row as a
        # composite value, read into the same row types as `user_by_id` and `clinic_by_id`.
        found = await db.fetch(
            'SELECT u AS "user", c AS clinic FROM app_user u JOIN clinic c ON c.id = u.clinic_id'
            " WHERE u.id = {}",
            actor.user_id,
        )
    if not found:
        raise Unauthenticated("Sign in again.")
    return UserRow(**found[0]["user"]), ClinicRow(**found[0]["clinic"])


async def list_sessions(principal: Principal) -> list[SessionRow]:
    async with db.tenant_transaction(principal.clinic_id):
        return await rows.fetch_all(
            SessionRow,
            """
            SELECT * FROM auth_session
            WHERE user_id = {} AND revoked_at IS NULL AND expires_at > {}
            ORDER BY last_used_at DESC
            """,
            principal.user_id,
            clock.now(),
        )


async def revoke_session(rt: Runtime, principal: Principal, session_id: uuid.UUID) -> bool:
    """Revoke one of the caller's own sessions; False when there is no such live session."""
    async with db.tenant_transaction(principal.clinic_id):
        live = await rows.fetch_one(
            SessionRow,
            "SELECT * FROM auth_session WHERE id = {} AND user_id = {} AND revoked_at IS NULL",
            session_id,
            principal.user_id,
        )
        if live is None:
            return False
        revoked = await sessions.revoke(session_ids=[session_id], reason="revoked_by_user")
    await rt.denylist.revoke_sessions(revoked)
    return True


def invalid_token(field: str = "token") -> ValidationError:
    return ValidationError.on(field, "This link is invalid or has expired.")
