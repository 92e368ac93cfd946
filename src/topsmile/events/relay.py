"""The outbox relay: claims due deliveries with SKIP LOCKED and runs their handlers.

Each process runs one relay (the app in its lifespan, or `topsmile worker`). A claim is a
lease: the row gets a token and a deadline, so a process that dies mid-delivery leaves it to
another process once the lease runs out, and a late finisher cannot mark it delivered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgspec

from topsmile.core import clock, db
from topsmile.core.logging import redact_text
from topsmile.events import outbox
from topsmile.events.bus import Bus
from topsmile.events.types import Event

log = logging.getLogger("topsmile.relay")


class RelayConfig(msgspec.Struct, frozen=True, kw_only=True):
    batch_size: int = 100
    concurrency: int = 4  # each delivery holds a pooled connection while it runs
    max_attempts: int = 8
    base_delay_seconds: float = 2.0
    max_delay_seconds: float = 3600.0
    lease_seconds: float = 300.0
    sweep_seconds: float = 1.0


@dataclass(frozen=True)
class Claim:
    event: Event
    handler: str
    attempt: int
    token: uuid.UUID


class LeaseLost(Exception):
    """Another process took the delivery over after our lease ran out."""


def backoff(attempt: int, config: RelayConfig) -> float:
    """Exponential backoff with jitter: about base·2^(n-1), never above the cap."""
    delay: float = min(config.max_delay_seconds, config.base_delay_seconds * 2.0 ** (attempt - 1))
    return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security


def _event_from_row(row: dict[str, Any]) -> Event:
    payload = row["payload"]
    return Event(
        id=row["id"],
        name=row["name"],
        clinic_id=row["clinic_id"],
        occurred_at=row["occurred_at"],
        due_at=row["due_at"],
        request_id=row["request_id"],
        entity_type=row["entity_type"],
        entity_id=row["entity_id"],
        actor_id=row["actor_id"],
        actor_role=row["actor_role"],
        ip=row["ip"],
        payload=msgspec.json.decode(payload) if isinstance(payload, str | bytes) else payload,
    )


class Relay:
    def __init__(self, bus: Bus, config: RelayConfig | None = None) -> None:
        self.bus = bus
        self.config = config or RelayConfig()
        self._wake = asyncio.Event()
        self._stopping = False
        self._slots = asyncio.Semaphore(self.config.concurrency)
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def claim(self) -> list[Claim]:
        now = clock.now()
        token = uuid.uuid4()
        async with db.tenant_transaction(None):
            rows = await db.fetch(
                """
                WITH due AS (
                    SELECT event_id, handler FROM event_delivery
                    WHERE status = 'pending' AND next_attempt_at <= {}
                      AND (claimed_until IS NULL OR claimed_until < {})
                      AND handler = ANY({}::text[])
                    ORDER BY next_attempt_at
                    LIMIT {}
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE event_delivery d
                SET claim_token = {}, claimed_until = {}, attempts = d.attempts + 1,
                    updated_at = now()
                FROM due
                WHERE d.event_id = due.event_id AND d.handler = due.handler
                RETURNING d.event_id, d.handler, d.attempts
                """,
                now,
                now,
                self.bus.handler_names,
                self.config.batch_size,
                token,
                now + timedelta(seconds=self.config.lease_seconds),
            )
            if not rows:
                return []
            events = await db.fetch(
                "SELECT * FROM event_outbox WHERE id = ANY({}::uuid[])",
                list({row["event_id"] for row in rows}),
            )
        by_id = {row["id"]: _event_from_row(row) for row in events}
        return [Claim(by_id[r["event_id"]], r["handler"], r["attempts"], token) for r in rows]

    async def deliver(self, claim: Claim) -> bool:
        """Run one handler for one event; True when it was delivered."""
        subscription = self.bus.subscription(claim.handler)
        event = claim.event
        try:
            async with db.tenant_transaction(event.clinic_id):
                await subscription.handle(event, claim.attempt)
                marked = await db.fetch(
                    """
                    UPDATE event_delivery
                    SET status = 'delivered', delivered_at = now(), updated_at = now(),
                        claimed_until = NULL, last_error = NULL
                    WHERE event_id = {} AND handler = {} AND claim_token = {}
                      AND status = 'pending'
                    RETURNING event_id
                    """,
                    event.id,
                    claim.handler,
                    claim.token,
                )
                if not marked:
                    raise LeaseLost
        except LeaseLost:
            log.warning("delivery lease lost", extra={"eventId": str(event.id)})
            return False
        except Exception as exc:  # a handler may fail in any way; we retry
            await self._record_failure(claim, exc)
            return False
        return True

    async def _record_failure(self, claim: Claim, exc: BaseException) -> None:
        dead = claim.attempt >= self.config.max_attempts
        error = redact_text(f"{type(exc).__name__}: {exc}")[:1000]
        next_at = clock.now() + timedelta(seconds=backoff(claim.attempt, self.config))
        log.warning(
            "delivery failed",
            extra={
                "eventId": str(claim.event.id),
                "event": claim.event.name,
                "handler": claim.handler,
                "attempt": claim.attempt,
                "dead": dead,
                "error": error,
            },
        )
        subscription = self.bus.subscription(claim.handler)
        async with db.tenant_transaction(claim.event.clinic_id):
            if subscription.on_failure is not None:
                await subscription.on_failure(claim.event, exc, claim.attempt, dead)
            await db.fetch(
                """
                UPDATE event_delivery
                SET status = {}, last_error = {}, next_attempt_at = {},
                    claimed_until = NULL, updated_at = now()
                WHERE event_id = {} AND handler = {} AND claim_token = {}
                  AND status = 'pending'
                """,
                "dead" if dead else "pending",
                error,
                next_at,
                claim.event.id,
                claim.handler,
                claim.token,
            )

    async def _deliver_in_slot(self, claim: Claim) -> None:
        async with self._slots:
            await self.deliver(claim)

    async def run_once(self) -> int:
        """Claim one batch and deliver it; return how many deliveries were claimed."""
        claims = await self.claim()
        if claims:
            await asyncio.gather(*(self._deliver_in_slot(c) for c in claims))
        return len(claims)

    async def run(self) -> None:
        """Relay until stopped: at once when woken, else every `sweep_seconds`."""
        while not self._stopping:
            self._wake.clear()
            try:
                claimed = await self.run_once()
            except Exception:  # the database may be briefly away; keep going
                log.exception("relay sweep failed")
                claimed = 0
            if claimed >= self.config.batch_size or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.sweep_seconds)

    def start(self) -> None:
        outbox.on_publish(self.wake)
        self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self, grace_seconds: float = 30.0) -> None:
        """Finish the deliveries in flight (never abandon one mid-way), then stop."""
        outbox.forget(self.wake)
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace_seconds)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
