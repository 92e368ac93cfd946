"""A short-lived, per-process memory of live sessions, so most requests skip the session
row's transaction and make no round trip at all.

It is only an optimisation in front of PostgreSQL, trusted under two conditions at once
(docs/SECURITY.md "Sessions and tokens"):
- this process's subscription to the invalidation channel is live and drained up to this
  request (core/subscriber.py): every revocation, deactivation or role change published
  anywhere before the request arrived has dropped its entries; when the subscription is lost
  the cache forgets everything and answers nothing until it is back;
- the entry is younger than `TTL`.
An entry is stored only if no invalidation arrived while its row was being read, so a
revocation racing a cache fill cannot leave a stale entry behind.

Each entry also carries a `memo`: answers about this session's own user and clinic that a
handler may keep for the entry's short life (`GET /api/auth/me`). Every change to a user or a
clinic invalidates its entries, so a memo never outlives the rows it was built from.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from topsmile.auth.principal import Role
from topsmile.core import clock
from topsmile.core.subscriber import Subscriber

CHANNEL = "topsmile:session-invalidations"
TTL = 5.0


@dataclass(frozen=True)
class CachedSession:
    user_id: uuid.UUID
    clinic_id: uuid.UUID
    role: Role
    session_expires: datetime
    stored_at: float
    memo: dict[str, object] = field(default_factory=dict)


class SessionCache:
    def __init__(self, redis_url: str, *, ping_every: float = 1.0) -> None:
        self._entries: dict[uuid.UUID, CachedSession] = {}
        self._epoch = 0
        self._invalidations = Subscriber(
            redis_url, CHANNEL, self._apply, self._forget_all, ping_every=ping_every
        )

    @property
    def live(self) -> bool:
        """Whether the invalidation subscription is live (after applying what has arrived)."""
        return self._invalidations.drain()

    @property
    def epoch(self) -> int:
        """Changes on every invalidation: take it before reading a row, pass it to `put`."""
        return self._epoch

    def get(self, session_id: uuid.UUID, user_id: uuid.UUID) -> CachedSession | None:
        if not self._invalidations.drain():
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
        if not (self._invalidations.drain() and epoch == self._epoch):
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
        self._epoch += 1
        self._entries.clear()

    def start(self) -> None:
        self._invalidations.start()

    async def stop(self) -> None:
        await self._invalidations.stop()
        self._forget_all()

    def _apply(self, data: bytes) -> None:
        kind, _, raw = data.decode(errors="replace").partition(":")
        try:
            subject = uuid.UUID(raw)
        except ValueError:  # unreadable: forget everything rather than guess
            self._forget_all()
            return
        if kind == "user":
            self.drop_user(subject)
        elif kind == "clinic":
            self.drop_clinic(subject)
        else:
            self.drop_sessions([subject])
