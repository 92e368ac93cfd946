"""Session state: PostgreSQL is the record, Redis the denylist in front of it.

Every authenticated request reads its session row (one indexed lookup) to learn whether it
is still live and the user's current role and status: no Redis state — an outage, a restart,
an eviction or a write lost during logout — can bring a revoked session back. Redis answers
"revoked" without touching the database, and carries the news to every process.
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
from topsmile.core import clock, db

log = logging.getLogger("topsmile.sessions")

_DENY_TTL = int((tokens.ACCESS_TTL + tokens.LEEWAY).total_seconds()) + 5
_ROTATED_TTL = int(tokens.REFRESH_TTL.total_seconds())


class Denylist:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def revoke_sessions(self, session_ids: list[uuid.UUID]) -> None:
        if not session_ids:
            return
        try:
            pipe = self._redis.pipeline()
            for sid in session_ids:
                pipe.set(f"denylist:session:{sid}", "1", ex=_DENY_TTL)
            await pipe.execute()
        except RedisError:
            log.warning("denylist unavailable; the database still refuses these sessions")

    async def session_revoked(self, session_id: uuid.UUID) -> bool:
        try:
            return bool(await self._redis.exists(f"denylist:session:{session_id}"))
        except RedisError:
            return False  # unknown: the database check that follows decides

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


async def revoke(
    *,
    user_id: uuid.UUID | None = None,
    session_ids: list[uuid.UUID] | None = None,
    keep: uuid.UUID | None = None,
    reason: str,
) -> list[uuid.UUID]:
    """Revoke sessions (all of a user's, or the listed ones) in the current transaction."""
    rows = await db.fetch(
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
    return [row["id"] for row in rows]


async def load_principal(
    secret: str, claims: tokens.AccessClaims, denylist: Denylist, ip: str | None
) -> Principal | None:
    """The caller if the session is live and the user active; None otherwise."""
    if await denylist.session_revoked(claims.session_id):
        return None
    async with db.tenant_transaction(claims.clinic_id):
        rows = await db.fetch(
            """
            SELECT u.role FROM auth_session s JOIN app_user u ON u.id = s.user_id
            WHERE s.id = {} AND s.user_id = {} AND s.revoked_at IS NULL
              AND s.expires_at > {} AND u.active
            """,
            claims.session_id,
            claims.user_id,
            clock.now(),
        )
    if not rows:
        return None
    role: Role = rows[0]["role"]
    return Principal.of(
        user_id=claims.user_id,
        clinic_id=claims.clinic_id,
        role=role,
        session_id=claims.session_id,
        csrf_token=tokens.csrf_token(secret, claims.session_id),
        ip=ip,
    )
