"""Throttling in Redis, shared by every process: fixed windows counted with INCRBY.

A window starts at the first hit and lasts `rate.window_seconds`; while it is over its limit
callers are refused with the seconds left as `Retry-After`. If Redis is unreachable the
throttle lets requests through (and logs it): limits protect capacity, they are not what
keeps a revoked session out.

Two ways to count, for two kinds of limit:
- `hit` counts one event in Redis, exactly: the login-failure and forgot-password limits,
  whose every attempt matters.
- `enforce` guards capacity (per-user API calls, per-IP public pages, sign-ups) on hot
  paths, so it takes a batch of the window's events from Redis at once (`batch_size`: 1 for
  limits under 100, at most 16) and spends it here before it asks again; once Redis grants
  less than asked, the window is spent and this process refuses until it ends, without
  asking. Events taken but not spent count as used, so a limit is never exceeded; a caller
  spread over P processes may be refused up to (batch - 1) x (P - 1) events early.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from topsmile.config import Rate
from topsmile.core.errors import RateLimited
from topsmile.core.resp import Connection, ScriptCaller

log = logging.getLogger("topsmile.throttle")

# Count ARGV[2] events in the window of ARGV[1] ms: {the window's count, its ms left}.
_TAKE = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
"""

# Give back one counted event; never below zero, never a key without its expiry.
_RELEASE = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    count: int
    retry_after: int


@dataclass
class _Held:
    """Events this process took from a window and has not spent yet."""

    events: int
    ends: float  # the window's end, on `time.monotonic()`
    spent: bool  # Redis granted less than asked: refuse until `ends`


def batch_size(rate: Rate) -> int:
    return max(1, min(16, rate.limit // 50))


def throttle_key(kind: str, *parts: str) -> str:
    """A key that never holds raw personal data (emails are hashed)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"throttle:{kind}:{digest}"


class Throttle:
    def __init__(self, redis: Redis, redis_url: str) -> None:
        self._redis = redis
        # Counted on hot paths (every public page, every login): the lean connection.
        self._lean = Connection(redis_url)  # both scripts on one connection
        self._take = ScriptCaller(self._lean, _TAKE)
        self._release = ScriptCaller(self._lean, _RELEASE)
        self._held: dict[str, _Held] = {}
        self._asking: dict[str, asyncio.Future[bool]] = {}
        self._prune_above = 1024

    async def close(self) -> None:
        await self._lean.close()

    async def hit(self, key: str, rate: Rate) -> Decision:
        """Count one event; allowed while the window's count stays within the limit."""
        taken = await self._count(key, rate, 1)
        if taken is None:
            return Decision(True, 0, 0)
        count, ms_left = taken
        return Decision(count <= rate.limit, count, _seconds(ms_left))

    async def _count(self, key: str, rate: Rate, events: int) -> tuple[int, int] | None:
        """Count `events` in the key's window: (its count, ms left), or None without Redis."""
        try:
            count, ms_left = await self._take([key], [rate.window_seconds * 1000, events])
        except RedisError:
            log.warning("throttle unavailable; allowing", extra={"key": key.split(":")[1]})
            return None
        return int(count), int(ms_left)

    async def release(self, key: str) -> None:
        """Give back one event counted by `hit`: a slot reserved for an attempt that turned
        out not to count (a right password). Counting first and giving back after is what
        keeps concurrent attempts from all passing a check-then-count."""
        try:
            await self._release([key], [])
        except RedisError:
            log.warning("throttle release failed")

    async def reset(self, key: str) -> None:
        try:
            await self._redis.delete(key)
        except RedisError:
            log.warning("throttle reset failed")

    async def enforce(self, key: str, rate: Rate) -> None:
        """Count one event and raise 429 with Retry-After when over the limit; from events
        this process already holds when it can (the module's docstring)."""
        while True:
            held = self._held.get(key)
            if held is not None and time.monotonic() < held.ends:
                if held.events > 0:
                    held.events -= 1
                    return
                if held.spent:
                    raise RateLimited(_seconds((held.ends - time.monotonic()) * 1000))
            asking = self._asking.get(key)
            if asking is None:
                break
            # One batch in flight per key: wait for it rather than take another (and go
            # through, as it did, if Redis could not be asked).
            if await asyncio.shield(asking):
                return
        asking = self._asking[key] = asyncio.get_running_loop().create_future()
        unreachable = False
        try:
            unreachable = await self._take_batch(key, rate)
        finally:
            del self._asking[key]
            asking.set_result(unreachable)

    async def _take_batch(self, key: str, rate: Rate) -> bool:
        """Take a batch from the window for this process and spend one of it, or raise 429;
        True when Redis could not be asked (the event goes through uncounted)."""
        batch = batch_size(rate)
        taken = await self._count(key, rate, batch)
        if taken is None:
            return True
        count, ms_left = taken
        granted = max(0, min(batch, rate.limit - (count - batch)))
        now = time.monotonic()
        held = self._held.get(key)
        if held is None or now >= held.ends:  # new here, or the window this process held ended
            held = self._held[key] = _Held(0, 0.0, False)
            self._prune(now)
        # Redis's window is the truth: it may have ended early (a restart), never later.
        held.ends = now + ms_left / 1000
        held.spent = held.spent or granted < batch
        if granted == 0:
            raise RateLimited(_seconds(ms_left))
        held.events += granted - 1
        return False

    def _prune(self, now: float) -> None:
        if len(self._held) > self._prune_above:
            for key in [k for k, held in self._held.items() if now >= held.ends]:
                del self._held[key]
            self._prune_above = max(1024, 2 * len(self._held))


def _seconds(ms: float) -> int:
    """Retry-After: whole seconds, at least 1."""
    return max(1, math.ceil(ms / 1000))


def client_ip(peer: str | None, forwarded_for: str | None, trusted: tuple[str, ...]) -> str:
    """The socket peer, unless it is a trusted proxy: then the nearest untrusted
    address in X-Forwarded-For (walking right to left, skipping our own proxies)."""
    peer = peer or "unknown"
    if not trusted or not forwarded_for or not _is_trusted(peer, trusted):
        return peer
    for hop in reversed([part.strip() for part in forwarded_for.split(",") if part.strip()]):
        if not _is_trusted(hop, trusted):
            return hop
    return peer


def ip_bucket(address: str) -> str:
    """The unit per-IP limits count: an IPv4 address, or an IPv6 client's /64 (one host
    usually holds a whole /64, so counting single IPv6 addresses would not limit it)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def ip_throttle_key(kind: str, address: str) -> str:
    """The key of every per-IP limit."""
    return throttle_key(kind, ip_bucket(address))


def _is_trusted(address: str, trusted: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in trusted:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False
