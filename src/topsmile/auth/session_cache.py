"""A short-lived, per-process memory of live sessions, so most requests skip the session
row's transaction.

It is only an optimisation in front of PostgreSQL, trusted under three conditions at once
(docs/SECURITY.md "Sessions and tokens"):
- this process is subscribed to the invalidation channel (a revocation, deactivation or role
  change anywhere drops the entries at once); on any disconnect it forgets everything and
  answers nothing until it has subscribed again;
- the request's own Redis check (denylist, user marker, throttle: one round trip) succeeded;
- the entry is younger than `TTL`.
An entry is stored only if no invalidation arrived while its row was being read, so a
revocation racing a cache fill cannot leave a stale entry behind.

Each entry also carries a `memo`: answers about this session's own user and clinic that a
handler may keep for the entry's short life (`GET /api/auth/me`). Every change to a user or a
clinic invalidates its entries (and sets the Redis marker the request's check reads), so a
memo never outlives the rows it was built from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from redis.asyncio import Redis

from topsmile.auth.principal import Role
from topsmile.core import clock

log = logging.getLogger("topsmile.sessions")

CHANNEL = "topsmile:session-invalidations"
TTL = 5.0
_RETRY_SECONDS = 0.5


@dataclass(frozen=True)
class CachedSession:
    user_id: uuid.UUID
    clinic_id: uuid.UUID
    role: Role
    session_expires: datetime
    stored_at: float
    memo: dict[str, object] = field(default_factory=dict)


class SessionCache:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._entries: dict[uuid.UUID, CachedSession] = {}
        self._subscribed = False
        self._epoch = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def subscribed(self) -> bool:
        return self._subscribed

    @property
    def epoch(self) -> int:
        """Changes on every invalidation: take it before reading a row, pass it to `put`."""
        return self._epoch

    def get(self, session_id: uuid.UUID, user_id: uuid.UUID) -> CachedSession | None:
        if not self._subscribed:
            return None
        entry = self._entries.get(session_id)
        if entry is None or entry.user_id != user_id:
            return None
        if time.monotonic() - entry.stored_at > TTL or clock.now() >= entry.session_expires:
            del self._entries[session_id]
            return None
        return entry

    def put(
        self,
        session_id: uuid.UUID,
        user_id: uuid.UUID,
        clinic_id: uuid.UUID,
        role: Role,
        session_expires: datetime,
        epoch: int,
    ) -> CachedSession | None:
        """The stored entry, or None when an invalidation arrived since `epoch` was taken."""
        if not (self._subscribed and epoch == self._epoch):
            return None
        entry = CachedSession(user_id, clinic_id, role, session_expires, time.monotonic())
        self._entries[session_id] = entry
        return entry

    def drop_sessions(self, session_ids: list[uuid.UUID]) -> None:
        self._epoch += 1
        for session_id in session_ids:
            self._entries.pop(session_id, None)

    def drop_user(self, user_id: uuid.UUID) -> None:
        self._epoch += 1
        for session_id in [s for s, e in self._entries.items() if e.user_id == user_id]:
            del self._entries[session_id]

    def drop_clinic(self, clinic_id: uuid.UUID) -> None:
        self._epoch += 1
        for session_id in [s for s, e in self._entries.items() if e.clinic_id == clinic_id]:
            del self._entries[session_id]

    def _forget_all(self) -> None:
        self._subscribed = False
        self._epoch += 1
        self._entries.clear()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="session-cache")

    async def stop(self) -> None:
        if self._task is not None:
            # redis-py can swallow a cancellation that lands while it connects; cancel again
            # until the task has really ended.
            while not self._task.done():
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=0.1)
            self._task = None
        self._forget_all()

    async def _listen(self) -> None:
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception:  # any failure of the subscription: trust nothing until it is back
                log.warning("session invalidations unavailable; reading every session row")
            self._forget_all()
            await asyncio.sleep(_RETRY_SECONDS)

    async def _follow(self) -> None:
        async with contextlib.aclosing(self._redis.pubsub()) as pubsub:
            await pubsub.subscribe(CHANNEL)
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    self._subscribed = True
                elif message["type"] == "message":
                    self._apply(message["data"])

    def _apply(self, data: bytes) -> None:
        kind, _, raw = data.decode().partition(":")
        try:
            subject = uuid.UUID(raw)
        except ValueError:  # unreadable: forget everything rather than guess
            self._epoch += 1
            self._entries.clear()
            return
        if kind == "user":
            self.drop_user(subject)
        elif kind == "clinic":
            self.drop_clinic(subject)
        else:
            self.drop_sessions([subject])
