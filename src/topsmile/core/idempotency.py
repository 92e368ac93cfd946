"""`Idempotency-Key` (SPEC §1): the same key and request from the same user within 24 hours
replays the first response without doing the work twice. Shared by every process through
Redis; used by `POST /api/scheduling/appointments` and, later, the payment routes.

One Redis key per (clinic, user, operation, client key) holds a small JSON record:
- claimed with `SET NX` as `pending` for `PENDING_SECONDS` (a concurrent duplicate finds it
  and gets 409 `request-in-progress`; a process that dies mid-work frees it when it expires),
- replaced by `done` with the response body for `TTL_SECONDS` once the work succeeded,
- deleted when the work failed (a 4xx answer is not kept: the client fixes the cause and
  retries with the same key, e.g. after verifying their email).
The request is identified by a hash of its decoded body: another body under the same key is
422 `idempotency-key-reused`. Without Redis the guarantee cannot hold, so a request that
carries a key then gets 503 rather than risking the work twice.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal, TypeVar

import msgspec
from litestar.params import HeaderParameter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from topsmile.core.actor import Actor
from topsmile.core.errors import IdempotencyKeyReused, RequestInProgress, ServiceUnavailable

log = logging.getLogger("topsmile.idempotency")

T = TypeVar("T")
TTL_SECONDS = 24 * 3600
PENDING_SECONDS = 120

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Replays the first response of the same request within 24 hours.",
    ),
]


class _Record(msgspec.Struct, frozen=True):
    state: Literal["pending", "done"]
    request: str  # sha256 of the decoded request
    owner: str  # the claim's token: only the claimant completes or frees it
    body: str | None = None  # the response, once done


def _redis_key(actor: Actor, operation: str, key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"idem:{actor.clinic_id}:{actor.user_id}:{operation}:{digest}"


async def once(
    redis: Redis,
    actor: Actor,
    *,
    operation: str,
    key: str,
    request: msgspec.Struct,
    kind: type[T],
    work: Callable[[], Awaitable[T]],
) -> T:
    """`work()`'s result, or the result stored for this key by an earlier identical request."""
    fingerprint = hashlib.sha256(msgspec.json.encode(request)).hexdigest()
    name = _redis_key(actor, operation, key)
    claim = _Record("pending", fingerprint, uuid.uuid4().hex)
    try:
        claimed = await redis.set(name, msgspec.json.encode(claim), nx=True, ex=PENDING_SECONDS)
        found = None if claimed else await redis.get(name)
    except RedisError:
        log.warning("idempotency store unavailable")
        raise ServiceUnavailable("Requests with an Idempotency-Key cannot be served now.") from None
    if not claimed:
        if found is None:  # it expired between the two calls: a retry claims it
            raise RequestInProgress("The same request is still being processed; retry.")
        earlier = msgspec.json.decode(found, type=_Record)
        if earlier.request != fingerprint:
            raise IdempotencyKeyReused("This Idempotency-Key was used for another request.")
        if earlier.state == "pending" or earlier.body is None:
            raise RequestInProgress("The same request is still being processed.")
        return msgspec.json.decode(earlier.body, type=kind)
    try:
        result = await work()
    except BaseException:
        await _free(redis, name, claim)
        raise
    done = _Record("done", fingerprint, claim.owner, msgspec.json.encode(result).decode())
    try:
        await redis.set(name, msgspec.json.encode(done), ex=TTL_SECONDS)
    except RedisError:
        # The work is committed; only a replay is lost (the pending claim expires).
        log.warning("idempotency result not stored")
    return result


async def _free(redis: Redis, name: str, claim: _Record) -> None:
    try:
        current = await redis.get(name)
        if current is not None and msgspec.json.decode(current, type=_Record) == claim:
            await redis.delete(name)
    except RedisError:
        log.warning("idempotency claim not freed; it expires")
