"""Session state: PostgreSQL is the record, Redis the denylist in front of it.

A request's session is live only if PostgreSQL says so: read from its row, or from this
process's `SessionCache` of rows read in the last few seconds, which is trusted only while
Redis is reachable and carries every revocation to every process (session_cache.py). Redis
answers "revoked" without touching the database; when Redis is down every request reads its
row, so no Redis state — an outage, a restart, an eviction or a write lost during logout —
can bring a revoked session back.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

from topsmile.auth import tokens
from topsmile.auth.principal import Principal, Role
from topsmile.auth.session_cache import CHANNEL, TTL, SessionCache
from topsmile.config import Rate
from topsmile.core import clock, db, rows
from topsmile.core.resp import ScriptCaller
from topsmile.core.throttle import Decision

log = logging.getLogger("topsmile.sessions")

_DENY_TTL = int((tokens.ACCESS_TTL + tokens.LEEWAY).total_seconds()) + 5
_ROTATED_TTL = int(tokens.REFRESH_TTL.total_seconds())
# While this marker lives no process trusts its cached sessions of the user; it outlives any
# entry cached before the change, so even a process that missed the message re-reads the row.
_USER_CHANGED_TTL = int(TTL) + 5

# One round trip per authenticated request: is the session denylisted, did the user or the
# clinic just change, and count the per-user throttle (only for sessions not revoked).
_ADMIT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {1, 0, 0, 0} end
local changed = redis.call('EXISTS', KEYS[2], KEYS[4])
local count = redis.call('INCR', KEYS[3])
if count == 1 then redis.call('EXPIRE', KEYS[3], ARGV[1]) end
local ttl = redis.call('TTL', KEYS[3])
if ttl < 0 then redis.call('EXPIRE', KEYS[3], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {0, changed, count, ttl}
"""


@dataclass(frozen=True)
class Admission:
    revoked: bool
    cache_usable: bool
    throttle: Decision


class Denylist:
    def __init__(self, redis: Redis, redis_url: str) -> None:
        self._redis = redis
        # The one call of every authenticated request, on its own lean connection (resp.py).
        self._admit = ScriptCaller(redis_url, _ADMIT)
        self.cache = SessionCache(redis)

    async def close(self) -> None:
        await self.cache.stop()
        await self._admit.close()

    async def admit(self, claims: tokens.AccessClaims, throttle_key: str, rate: Rate) -> Admission:
        """The Redis half of a request's session check, with its throttle hit."""
        try:
            revoked, changed, count, ttl = await self._admit(
                [
                    f"denylist:session:{claims.session_id}",
                    f"denylist:user:{claims.user_id}",
                    throttle_key,
                    f"denylist:clinic:{claims.clinic_id}",
                ],
                [rate.window_seconds],
            )
        except RedisError:
            log.warning("denylist unavailable; reading the session row")
            return Admission(False, False, Decision(True, 0, 0))
        allowed = int(count) <= rate.limit
        return Admission(bool(revoked), not changed, Decision(allowed, int(count), max(1, ttl)))

    async def revoke_sessions(self, session_ids: list[uuid.UUID]) -> None:
        if not session_ids:
            return
        self.cache.drop_sessions(session_ids)
        try:
            pipe = self._redis.pipeline()
            for sid in session_ids:
                pipe.set(f"denylist:session:{sid}", "1", ex=_DENY_TTL)
                pipe.publish(CHANNEL, f"session:{sid}")
            await pipe.execute()
        except RedisError:
            log.warning("denylist unavailable; the database still refuses these sessions")

    async def user_changed(self, user_id: uuid.UUID) -> None:
        """Any committed change to the user's row: every process re-reads this user's
        sessions (and drops what it remembered of them) at once."""
        self.cache.drop_user(user_id)
        await self._changed("user", user_id)

    async def clinic_changed(self, clinic_id: uuid.UUID) -> None:
        """Any committed change to the clinic's row: as `user_changed`, for its every user."""
        self.cache.drop_clinic(clinic_id)
        await self._changed("clinic", clinic_id)

    async def _changed(self, kind: str, subject: uuid.UUID) -> None:
        try:
            pipe = self._redis.pipeline()
            pipe.set(f"denylist:{kind}:{subject}", "1", ex=_USER_CHANGED_TTL)
            pipe.publish(CHANNEL, f"{kind}:{subject}")
            await pipe.execute()
        except RedisError:
            log.warning("denylist unavailable; cached sessions of the %s expire in seconds", kind)

    async def mark_rotated(self, token_hash: str) -> None:
        try:
            await self._redis.set(f"denylist:refresh:{token_hash}", "1", ex=_ROTATED_TTL)
        except RedisError:
            log.warning("denylist unavailable; rotation is recorded in the database")

    async def refresh_rotated(self, token_hash: str) -> bool:
        try:
            return bool(await self._redis.exists(f"denylist:refresh:{token_hash}"))
        except RedisError:
            return False


@dataclass(frozen=True)
class IssuedSession:
    session_id: uuid.UUID
    refresh_token: str
    expires_at: datetime


async def issue_refresh_token(
    clinic_id: uuid.UUID, session_id: uuid.UUID, session_expires: datetime
) -> str:
    """A new refresh token in the session's family (current transaction)."""
    token = tokens.new_scoped_token(clinic_id)
    await db.fetch(
        "INSERT INTO refresh_token (token_hash, clinic_id, session_id, expires_at)"
        " VALUES ({}, {}, {}, {})",
        tokens.hash_token(token),
        clinic_id,
        session_id,
        tokens.expires(tokens.REFRESH_TTL, session_expires),
    )
    return token


async def open_session(
    clinic_id: uuid.UUID, user_id: uuid.UUID, *, user_agent: str | None, ip: str | None
) -> IssuedSession:
    """Start a session and its first refresh token (current transaction)."""
    session_id = uuid.uuid4()
    expires_at = tokens.expires(tokens.SESSION_MAX_AGE)
    await db.fetch(
        "INSERT INTO auth_session (id, clinic_id, user_id, expires_at, user_agent, ip,"
        " created_at, last_used_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
        session_id,
        clinic_id,
        user_id,
        expires_at,
        (user_agent or "")[:300] or None,
        ip,
        clock.now(),
        clock.now(),
    )
    refresh = await issue_refresh_token(clinic_id, session_id, expires_at)
    return IssuedSession(session_id, refresh, expires_at)


class _Revoked(rows.Row, frozen=True):
    id: uuid.UUID


async def revoke(
    *,
    user_id: uuid.UUID | None = None,
    session_ids: list[uuid.UUID] | None = None,
    keep: uuid.UUID | None = None,
    reason: str,
) -> list[uuid.UUID]:
    """Revoke sessions (all of a user's, or the listed ones) in the current transaction."""
    revoked = await rows.fetch_all(
        _Revoked,
        """
        UPDATE auth_session SET revoked_at = {}, revoked_reason = {}
        WHERE revoked_at IS NULL
          AND ({}::uuid IS NULL OR user_id = {})
          AND ({}::uuid[] IS NULL OR id = ANY({}::uuid[]))
          AND ({}::uuid IS NULL OR id <> {})
        RETURNING id
        """,
        clock.now(),
        reason,
        user_id,
        user_id,
        session_ids,
        session_ids,
        keep,
        keep,
    )
    return [row.id for row in revoked]


async def load_principal(
    secret: str,
    claims: tokens.AccessClaims,
    cache: SessionCache,
    ip: str | None,
    *,
    trust_cache: bool,
) -> Principal | None:
    """The caller if the session is live and the user active; None otherwise.

    `trust_cache` is the request's own Redis check: without it the row is always read, and
    the principal carries no memo."""
    entry = cache.get(claims.session_id, claims.user_id) if trust_cache else None
    if entry is None:
        epoch = cache.epoch
        row = await _live_session(claims)
        if row is None:
            return None
        role: Role = row.role
        if trust_cache:
            entry = cache.put(
                claims.session_id, claims.user_id, claims.clinic_id, role, row.expires_at, epoch
            )
    else:
        role = entry.role
    return Principal.of(
        user_id=claims.user_id,
        clinic_id=claims.clinic_id,
        role=role,
        session_id=claims.session_id,
        csrf_token=tokens.csrf_token(secret, claims.session_id),
        ip=ip,
        memo=entry.memo if entry is not None else None,
    )


class LiveSession(rows.Row, frozen=True):
    """What the session check needs of a live session: the user's current role."""

    role: Role
    expires_at: datetime


async def _live_session(claims: tokens.AccessClaims) -> LiveSession | None:
    async with db.tenant_transaction(claims.clinic_id):
        return await rows.fetch_one(
            LiveSession,
            """
            SELECT u.role, s.expires_at FROM auth_session s JOIN app_user u ON u.id = s.user_id
            WHERE s.id = {} AND s.user_id = {} AND s.revoked_at IS NULL
              AND s.expires_at > {} AND u.active
            """,
            claims.session_id,
            claims.user_id,
            clock.now(),
        )
