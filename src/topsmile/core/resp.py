"""Lua scripts over one pipelined Redis connection: the Redis calls of hot paths.

The throttles count with Lua scripts on hot paths (core/throttle.py: every public page, every
login, a batch of every user's API calls). Through redis-py such a call costs more CPU than
the rest of a cached request together (command packing, connection pool
checkout, retry and observability layers, a `wait_for` per write), so this module speaks RESP
for those scripts only: requests are written back to back on one
connection and answered in order (Redis answers a connection's commands in the order sent),
each waiting on its own future. Everything else keeps using redis-py.

Failures raise redis-py's own exceptions (`ConnectionError`, `TimeoutError`, `ResponseError`),
so callers keep one `except RedisError`; a broken or timed-out connection fails every call
waiting on it and the next call opens a new one.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import ssl
from typing import Any, cast
from urllib.parse import urlsplit

from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

_CRLF = b"\r\n"


def command(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


class Incomplete(Exception):
    """The buffer ends inside a reply: wait for more bytes."""


def parse(buffer: bytes, at: int) -> tuple[Any, int]:
    """One RESP2 reply starting at `at`: (value, next position). Errors come back as
    `ResponseError` values, not raised, so one bad reply fails only its own caller."""
    end = buffer.find(_CRLF, at)
    if end < 0:
        raise Incomplete
    kind, line = buffer[at : at + 1], buffer[at + 1 : end]
    at = end + 2
    if kind == b":":
        return int(line), at
    if kind == b"+":
        return line.decode(), at
    if kind == b"-":
        return ResponseError(line.decode()), at
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, at
        if len(buffer) < at + size + 2:
            raise Incomplete
        return buffer[at : at + size], at + size + 2
    if kind == b"*":
        count = int(line)
        items = []
        for _ in range(max(count, 0)):
            item, at = parse(buffer, at)
            items.append(item)
        return (items if count >= 0 else None), at
    raise RedisConnectionError(f"unreadable reply from Redis: {kind!r}")


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._buffer = b""
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not `asyncio.Transport` subclasses; both have write/abort.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data
        at = 0
        while at < len(buffer) and self.waiting:
            try:
                value, at = parse(buffer, at)
            except Incomplete:
                break
            future = self.waiting.popleft()
            if not future.done():
                future.set_result(value)
        self._buffer = buffer[at:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError("Redis connection lost"))

    def fail(self, error: Exception) -> None:
        self.closed = True
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)
        if self.transport is not None:
            self.transport.abort()


class Connection:
    """One pipelined RESP connection, opened on first use and again after a failure."""

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self._url = url
        self._timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None

    async def close(self) -> None:
        if self._protocol is not None:
            self._protocol.fail(RedisConnectionError("closed"))
            self._protocol = None

    async def send(self, command: bytes) -> Any:
        """One command's reply; an error reply is returned as a `ResponseError` value."""
        return await self._exchange(await self._connection(), command)

    async def _exchange(self, protocol: _Protocol, command: bytes) -> Any:
        assert protocol.transport is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        protocol.waiting.append(future)
        protocol.transport.write(command)
        try:
            async with asyncio.timeout(self._timeout):
                return await future
        except TimeoutError:
            # Later answers on this connection would be matched to the wrong callers.
            protocol.fail(RedisTimeoutError("Redis did not answer in time"))
            raise RedisTimeoutError("Redis did not answer in time") from None

    async def _connection(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and not protocol.closed:
            return protocol
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is None or self._protocol.closed:
                self._protocol = await self._open()
            return self._protocol

    async def _open(self) -> _Protocol:
        options = parse_url(self._url)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout):
                if "path" in options:
                    _, protocol = await loop.create_unix_connection(_Protocol, options["path"])
                else:
                    tls = (
                        ssl.create_default_context()
                        if urlsplit(self._url).scheme == "rediss"
                        else None
                    )
                    _, protocol = await loop.create_connection(
                        _Protocol,
                        options.get("host", "localhost"),
                        options.get("port", 6379),
                        ssl=tls,
                    )
        except (OSError, TimeoutError) as error:
            raise RedisConnectionError(f"cannot reach Redis: {error}") from error
        setup: list[bytes] = []
        if options.get("password"):
            who = [options["username"].encode()] if options.get("username") else []
            setup.append(command(b"AUTH", *who, options["password"].encode()))
        if options.get("db"):
            setup.append(command(b"SELECT", str(options["db"]).encode()))
        for request in setup:
            reply = await self._exchange(protocol, request)
            if isinstance(reply, ResponseError):
                protocol.fail(RedisConnectionError(str(reply)))
                raise reply
        return protocol


class ScriptCaller:
    """Calls one Lua script by its SHA-1 over a `Connection` (which several callers may
    share), loading it on a NOSCRIPT answer."""

    def __init__(self, connection: Connection, script: str) -> None:
        self.connection = connection
        self._script = script.encode()
        self._sha = hashlib.sha1(self._script, usedforsecurity=False).hexdigest().encode()

    async def __call__(self, keys: list[str], args: list[str | int]) -> Any:
        parts = [str(len(keys)).encode(), *(k.encode() for k in keys)]
        parts += [str(a).encode() for a in args]
        reply = await self.connection.send(command(b"EVALSHA", self._sha, *parts))
        if isinstance(reply, ResponseError) and str(reply).startswith("NOSCRIPT"):
            reply = await self.connection.send(command(b"EVAL", self._script, *parts))
        if isinstance(reply, ResponseError):
            raise reply
        return reply
