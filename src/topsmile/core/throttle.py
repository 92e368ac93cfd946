"""Throttling in Redis, shared by every process: fixed windows counted with INCR.

A window starts at the first hit and lasts `rate.window_seconds`; while it is over its limit
callers are refused with the seconds left as `Retry-After`. If Redis is unreachable the
throttle lets requests through (and logs it): limits protect capacity, they are not what
keeps a revoked session out.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from topsmile.config import Rate
from topsmile.core.errors import RateLimited
from topsmile.core.resp import ScriptCaller

log = logging.getLogger("topsmile.throttle")

_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
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


def throttle_key(kind: str, *parts: str) -> str:
    """A key that never holds raw personal data (emails are hashed)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"throttle:{kind}:{digest}"


class Throttle:
    def __init__(self, redis: Redis, redis_url: str) -> None:
        self._redis = redis
        # Counted on hot paths (every public page, every login): the lean connection.
        self._hit = ScriptCaller(redis_url, _HIT)
        self._release = ScriptCaller(redis_url, _RELEASE)

    async def close(self) -> None:
        await self._hit.close()
        await self._release.close()

    async def hit(self, key: str, rate: Rate) -> Decision:
        """Count one event; allowed while the window's count stays within the limit."""
        try:
            count, ttl = await self._hit([key], [rate.window_seconds])
        except RedisError:
            log.warning("throttle unavailable; allowing", extra={"key": key.split(":")[1]})
            return Decision(True, 0, 0)
        return Decision(int(count) <= rate.limit, int(count), max(1, int(ttl)))

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
        """Count one event and raise 429 with Retry-After when over the limit."""
        decision = await self.hit(key, rate)
        if not decision.allowed:
            raise RateLimited(decision.retry_after)


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
