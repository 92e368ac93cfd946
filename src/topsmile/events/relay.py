"""The outbox relay: claims due deliveries with SKIP LOCKED and runs their handlers.

Each process runs one relay (the app in its lifespan, or `topsmile worker`). A claim is a
lease: the row gets a token and a deadline, so a process that dies mid-delivery leaves it to
another process once the lease runs out, and a late finisher cannot mark it delivered twice.
A relay claims only as many deliveries as it has free slots, and a handler may run for at
most `handler_timeout_seconds`, shorter than the lease: a live relay never loses a lease.
Every deadline (due times, leases, backoff, retention) is read from the database's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from dataclasses import dataclass

import msgspec

from topsmile.config import SEND_TIMEOUT_SECONDS, Settings, lease_outlives_handler
from topsmile.core import db, rows
from topsmile.core.logging import redact_text
from topsmile.core.rows import Row
from topsmile.events import outbox
from topsmile.events.bus import Bus
from topsmile.events.tables import OutboxColumns
from topsmile.events.types import Event

log = logging.getLogger("topsmile.relay")

# Any fixed number (the migrations hold 727_101): pruning processes take turns on it.
_PRUNE_LOCK = 727_102


class RelayConfig(msgspec.Struct, frozen=True, kw_only=True):
    concurrency: int = 4  # deliveries in flight; each holds a pooled connection while it runs
    max_attempts: int = 8
    base_delay_seconds: float = 2.0
    max_delay_seconds: float = 3600.0
    # The lease covers the handler and the send it may still wait for: 60 + 15 < 180
    # (config.py `lease_outlives_handler`). A relay whose handlers send nothing slow (tests,
    # console transports) may say `send_timeout_seconds=0`.
    handler_timeout_seconds: float = 60.0
    send_timeout_seconds: float = SEND_TIMEOUT_SECONDS
    lease_seconds: float = 180.0
    sweep_seconds: float = 1.0
    housekeeping_seconds: float = 300.0  # how often one process prunes and retires
    retention_days: int = 30  # delivered outbox rows are pruned after this
    prune_batch: int = 1000
    orphan_after_seconds: float = 86400.0  # due this long with no such handler anywhere: dead

    @property
    def connections(self) -> int:
        """The most pooled connections this relay holds at once: per delivery in flight, its
        transaction and the handler's own transaction that records a send
        (`db.in_own_transaction`, notifications/log.py); plus one for claims and housekeeping.
        A process that relays sizes its pool by this on top of what its requests need, so
        deliveries never queue requests behind them (docs/DEPLOYMENT.md "PostgreSQL")."""
        return 2 * self.concurrency + 1

    def __post_init__(self) -> None:
        if not lease_outlives_handler(
            self.lease_seconds, self.handler_timeout_seconds, self.send_timeout_seconds
        ):
            raise ValueError(
                "lease_seconds must exceed handler_timeout_seconds + send_timeout_seconds"
            )
        if self.concurrency < 1 or self.max_attempts < 1 or self.retention_days < 1:
            raise ValueError("concurrency, max_attempts and retention_days must be positive")


def relay_config(settings: Settings) -> RelayConfig:
    return RelayConfig(
        retention_days=settings.outbox_retention_days,
        lease_seconds=settings.relay_lease_seconds,
        handler_timeout_seconds=settings.relay_handler_timeout_seconds,
    )


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


def _event_from_row(row: OutboxColumns) -> Event:
    return Event(
        id=row.id,
        name=row.name,
        clinic_id=row.clinic_id,
        occurred_at=row.occurred_at,
        due_at=row.due_at,
        request_id=row.request_id,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        actor_id=row.actor_id,
        actor_role=row.actor_role,
        ip=row.ip,
        payload=msgspec.json.decode(row.payload),
    )


class ClaimedRow(OutboxColumns, frozen=True):
    """A claimed delivery: its event's outbox columns, plus which handler and attempt."""

    handler: str
    attempts: int


class _Lock(Row, frozen=True):
    mine: bool


class Relay:
    def __init__(self, bus: Bus, config: RelayConfig | None = None) -> None:
        self.bus = bus
        self.config = config or RelayConfig()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._next_housekeeping = 0.0  # monotonic; the first sweep does it

    def wake(self) -> None:
        self._wake.set()

    async def claim(self, limit: int | None = None) -> list[Claim]:
        """Lease up to `limit` due deliveries (default: one per slot) to this process."""
        token = uuid.uuid4()
        async with db.tenant_transaction(None):
            # The event rows cannot be missing: a delivery's foreign key cascades from its event.
            claimed = await rows.fetch_all(
                ClaimedRow,
                """
                WITH due AS (
                    SELECT event_id, handler FROM event_delivery
                    WHERE status = 'pending' AND next_attempt_at <= now()
                      AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
                      AND handler = ANY({}::text[]) AND attempts < {}
                    ORDER BY next_attempt_at
                    LIMIT {}
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE event_delivery d
                SET claim_token = {}, attempts = d.attempts + 1, updated_at = now(),
                    claimed_until = clock_timestamp() + make_interval(secs => {})
                FROM due JOIN event_outbox e ON e.id = due.event_id
                WHERE d.event_id = due.event_id AND d.handler = due.handler
                RETURNING d.handler, d.attempts, e.*
                """,
                self.bus.handler_names,
                self.config.max_attempts,
                self.config.concurrency if limit is None else limit,
                token,
                self.config.lease_seconds,
            )
        return [Claim(_event_from_row(r), r.handler, r.attempts, token) for r in claimed]

    async def deliver(self, claim: Claim) -> bool:
        """Run one handler for one event; True when it was delivered."""
        subscription = self.bus.subscription(claim.handler)
        event = claim.event
        try:
            async with db.tenant_transaction(event.clinic_id):
                # Bounded so that the lease (longer) always outlives a handler that hangs.
                async with asyncio.timeout(self.config.handler_timeout_seconds):
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
        await self._run_failure_hook(claim, exc, dead)
        await self._mark_failed(claim, error, dead)

    async def _mark_failed(self, claim: Claim, error: str, dead: bool) -> None:
        """Back to `pending` for its next attempt (or `dead`), if this claim still holds it."""
        async with db.tenant_transaction(claim.event.clinic_id):
            await db.fetch(
                """
                UPDATE event_delivery
                SET status = {}, last_error = {}, claimed_until = NULL, updated_at = now(),
                    next_attempt_at = clock_timestamp() + make_interval(secs => {})
                WHERE event_id = {} AND handler = {} AND claim_token = {}
                  AND status = 'pending'
                """,
                "dead" if dead else "pending",
                error,
                backoff(claim.attempt, self.config),
                claim.event.id,
                claim.handler,
                claim.token,
            )

    async def _run_failure_hook(self, claim: Claim, exc: BaseException, dead: bool) -> None:
        """The handler's own failure record, in its own transaction: if the hook itself
        fails, that is logged and the delivery still moves on to its next attempt or `dead`."""
        on_failure = self.bus.subscription(claim.handler).on_failure
        if on_failure is None:
            return
        try:
            async with db.tenant_transaction(claim.event.clinic_id):
                await on_failure(claim.event, exc, claim.attempt, dead)
        except Exception:
            log.exception(
                "delivery failure hook failed",
                extra={"eventId": str(claim.event.id), "handler": claim.handler},
            )

    async def retire(self) -> int:
        """Mark `dead` what no relay would ever finish: deliveries whose last attempt's lease
        ran out (a process died or hung on it each time), and deliveries for a handler that
        no process has had for `orphan_after_seconds` (operators can retry them)."""
        async with db.tenant_transaction(None):
            retired = await db.fetch(
                """
                UPDATE event_delivery
                SET status = 'dead', claimed_until = NULL, updated_at = now(),
                    last_error = CASE WHEN handler = ANY({}::text[])
                        THEN 'the lease of the last attempt ran out'
                        ELSE 'no handler of this name is installed' END
                WHERE status = 'pending' AND next_attempt_at <= now()
                  AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
                  AND CASE WHEN handler = ANY({}::text[]) THEN attempts >= {}
                      ELSE next_attempt_at < now() - make_interval(secs => {}) END
                RETURNING event_id
                """,
                self.bus.handler_names,
                self.bus.handler_names,
                self.config.max_attempts,
                self.config.orphan_after_seconds,
            )
        return len(retired)

    async def prune(self) -> int:
        """Delete one batch of outbox rows whose deliveries all ended `delivered` or
        `cancelled` more than `retention_days` ago (their deliveries go with them). Dead and
        pending ones stay; so do the audit and notifications logs, which only keep the event
        id. Processes prune one at a time: a process that finds another pruning skips."""
        async with db.tenant_transaction(None):
            lock = await rows.fetch_only(
                _Lock, "SELECT pg_try_advisory_xact_lock({}) AS mine", _PRUNE_LOCK
            )
            if not lock.mine:
                return 0
            pruned = await db.fetch(
                """
                DELETE FROM event_outbox WHERE id IN (
                    SELECT e.id FROM event_outbox e
                    WHERE e.occurred_at < now() - make_interval(days => {})
                      AND NOT EXISTS (
                          SELECT 1 FROM event_delivery d
                          WHERE d.event_id = e.id
                            AND (d.status NOT IN ('delivered', 'cancelled')
                                 OR d.updated_at >= now() - make_interval(days => {}))
                      )
                    LIMIT {}
                )
                RETURNING id
                """,
                self.config.retention_days,
                self.config.retention_days,
                self.config.prune_batch,
            )
        return len(pruned)

    async def housekeep(self) -> None:
        """Retire stuck deliveries and prune, at most every `housekeeping_seconds`."""
        if time.monotonic() < self._next_housekeeping:
            return
        self._next_housekeeping = time.monotonic() + self.config.housekeeping_seconds
        retired = await self.retire()
        pruned = await self.prune()
        if retired or pruned:
            log.info("outbox housekeeping", extra={"retired": retired, "pruned": pruned})

    async def _deliver_logged(self, claim: Claim) -> None:
        started = time.monotonic()
        try:
            await self.deliver(claim)
        except Exception as exc:  # recording the failure failed
            log.exception("delivery could not be recorded", extra={"eventId": str(claim.event.id)})
            if db.is_unavailable(exc):
                await self._mark_failed_when_back(claim, started)

    async def _mark_failed_when_back(self, claim: Claim, started: float) -> None:
        """The database went away under a delivery: record the failed attempt as soon as it
        is back, so the next attempt follows its backoff rather than the whole lease (180 s
        by default). Safe however late: the update only applies while this claim's token
        still holds the delivery."""
        error = "the database was unavailable"
        dead = claim.attempt >= self.config.max_attempts
        give_up = started + self.config.lease_seconds
        while not self._stopping and time.monotonic() < give_up:
            await asyncio.sleep(1.0)
            try:
                await self._mark_failed(claim, error, dead)
            except Exception as exc:
                if not db.is_unavailable(exc):
                    log.exception(
                        "delivery could not be recorded", extra={"eventId": str(claim.event.id)}
                    )
                    return
            else:
                return

    async def run_once(self) -> int:
        """Claim what the free slots allow, deliver it; return how many were claimed."""
        claims = await self.claim()
        await asyncio.gather(*(self._deliver_logged(c) for c in claims))
        return len(claims)

    async def run(self) -> None:
        """Relay until stopped: a slot that frees up (or a commit) wakes it, else it sweeps
        every `sweep_seconds`. Deliveries in flight are finished before it returns."""
        in_flight: set[asyncio.Task[None]] = set()

        def finished(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            self._wake.set()

        try:
            while not self._stopping:
                self._wake.clear()
                free = self.config.concurrency - len(in_flight)
                claims: list[Claim] = []
                try:
                    if free > 0:
                        claims = await self.claim(free)
                    await self.housekeep()
                except Exception:  # the database may be briefly away; keep going
                    log.exception("relay sweep failed")
                for claim in claims:
                    task = asyncio.create_task(self._deliver_logged(claim))
                    in_flight.add(task)
                    task.add_done_callback(finished)
                if claims and len(claims) == free:
                    continue  # more may be due: claim again once a slot frees up
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.config.sweep_seconds)
        finally:
            await asyncio.gather(*in_flight, return_exceptions=True)

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
