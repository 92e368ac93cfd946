"""Session state: PostgreSQL is the record; Redis carries revocations to every process.

A request's session is live only if PostgreSQL says so: read from its row, or from this
process's `SessionCache` of rows read in the last few seconds, which is trusted only while
its Redis subscription is live and drained up to the request, so every revocation published
before the request arrived has been applied (session_cache.py, core/subscriber.py). When
Redis is down no cache is trusted and every request reads its row, so no Redis state — an
outage, a restart, an eviction or a message lost during logout — can bring a revoked session
back.
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
from topsmile.auth.session_cache import CHANNEL, SessionCache
from topsmile.core import clock, db, rows

log = logging.getLogger("topsmile.sessions")

_ROTATED_TTL = int(tokens.REFRESH_TTL.total_seconds())


class Denylist:
    def __init__(self, redis: Redis, redis_url: str) -> None:
        self._redis = redis
        self.cache = SessionCache(redis_url)

    async def close(self) -> None:
        await self.cache.stop()

    async def revoke_sessions(self, session_ids: list[uuid.UUID]) -> None:
        """After the revocation committed: every process drops the sessions at once."""
        if session_ids:
            self.cache.drop_sessions(session_ids)
            await self._publish([f"session:{sid}" for sid in session_ids])

    async def user_changed(self, user_id: uuid.UUID) -> None:
        """Any committed change to the user's row: every process re-reads this user's
        sessions (and drops what it remembered of them) at once."""
        self.cache.drop_user(user_id)
        await self._publish([f"user:{user_id}"])

    async def clinic_changed(self, clinic_id: uuid.UUID) -> None:
        """Any committed change to the clinic's row: as `user_changed`, for its every user."""
        self.cache.drop_clinic(clinic_id)
        await self._publish([f"clinic:{clinic_id}"])

    async def _publish(self, messages: list[str]) -> None:
        try:
            pipe = self._redis.pipeline(transaction=False)
            for message in messages:
                pipe.publish(CHANNEL, message)
            await pipe.execute()
            # Redis writes the messages to the subscribers in the same pass as its answer to
            # the PUBLISH, but may write that answer first; an answer to a later command
            # means every message has been written (core/subscriber.py).
            await self._redis.ping()
        except RedisError:
            # Every process that can still reach Redis must learn of the change: a process
            # whose subscription is down trusts no cache, but one that is subscribed would keep
            # its entries for up to TTL seconds (docs/SECURITY.md "Sessions and tokens").
            log.warning("invalidation not published; other processes' caches expire in seconds")

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
) -> Principal | None:
    """The caller if the session is live and the user active; None otherwise. Without a
    trusted cache entry the row is read (and remembered when the cache is live)."""
    entry = cache.get(claims.session_id, claims.user_id)
    if entry is None:
        epoch = cache.epoch
        row = await _live_session(claims)
        if row is None:
            return None
        role: Role = row.role
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
