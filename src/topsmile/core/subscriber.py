"""A Redis subscription that a request can bring up to date without waiting.

The session cache (auth/session_cache.py) may answer for a session only if it has applied
every invalidation Redis sent before the request arrived. Redis (one thread) writes a
PUBLISH's messages to the subscribers' sockets in the same pass, at the end of the event-loop
turn that ran the PUBLISH, as its answer to the publisher (possibly just after that answer).
So once the publisher has had the answer to a *later* command, every message has been
written; the publisher makes that one extra round trip (`Denylist._publish`) before it
answers its own client. From then on the message sits in this process's socket (on one host,
in the kernel's buffer; across hosts, at most one network hop behind). What an event loop
has not yet read is the only gap left, so the subscription lives on a plain non-blocking
socket: the loop reads it whenever it is readable (`add_reader`), and `drain()` reads
whatever has arrived right now, one `recv` (about a microsecond when nothing has) on every
request.

Liveness: the subscription counts only after Redis confirmed it, and it PINGs every
`ping_every` seconds; if nothing at all arrives for three of those, or the connection fails,
it is lost: `on_reset` runs (the owner forgets everything it trusted) and it reconnects.
`on_reset` runs again when a new subscription is confirmed, so nothing read while no
subscription was live is trusted after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio.connection import parse_url

from topsmile.core.resp import Incomplete, command, parse

log = logging.getLogger("topsmile.subscriber")

_RETRY_SECONDS = 0.5
_PING = command(b"PING")


class Subscriber:
    def __init__(
        self,
        url: str,
        channel: str,
        on_message: Callable[[bytes], None],
        on_reset: Callable[[], None],
        *,
        ping_every: float = 1.0,
        timeout: float = 2.0,
    ) -> None:
        self._url = url
        self._channel = channel.encode()
        self._on_message = on_message
        self._on_reset = on_reset
        self._ping_every = ping_every
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._subscribed = False
        self._seen = 0.0  # when anything last arrived (monotonic)
        self._task: asyncio.Task[None] | None = None
        self._warned = False  # the current outage has been logged

    def drain(self) -> bool:
        """Apply every message that has arrived; whether the subscription is live."""
        sock = self._sock
        if sock is None:
            return False
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError):
                break
            except OSError:
                self._lose("the connection failed")
                return False
            if not data:
                self._lose("Redis closed the connection")
                return False
            chunks.append(data)
        if chunks:
            self._seen = time.monotonic()
            self._feed(b"".join(chunks))
        return self._subscribed and time.monotonic() - self._seen < 3 * self._ping_every

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="redis-subscriber")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._close()

    async def _run(self) -> None:
        while True:
            try:
                await self._connect()
                await self._keep_alive()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any failure: trust nothing until subscribed again
                self._lose(f"{type(error).__name__}: {error}")
            await asyncio.sleep(_RETRY_SECONDS)

    async def _connect(self) -> None:
        sock = await asyncio.to_thread(self._open)
        sock.setblocking(False)
        self._sock, self._buffer, self._seen = sock, b"", time.monotonic()
        asyncio.get_running_loop().add_reader(sock.fileno(), self.drain)
        self.drain()  # the confirmation may be here already

    async def _keep_alive(self) -> None:
        while self._sock is not None:
            try:
                self._sock.sendall(_PING)  # a few bytes: fits any socket buffer at once
            except (OSError, ssl.SSLError):
                self._lose("cannot write to Redis")
                return
            await asyncio.sleep(self._ping_every)
            # Subscribed but silent for three pings, or never confirmed in time.
            waited = time.monotonic() - self._seen
            if (
                self._sock is not None
                and not self.drain()
                and (self._subscribed or waited > self._timeout)
            ):
                self._lose("Redis stopped answering")

    def _open(self) -> socket.socket:
        """Connect, authenticate and subscribe (blocking: runs in a thread)."""
        options = parse_url(self._url)
        if "path" in options:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self._timeout)
            sock.connect(options["path"])
        else:
            host = options.get("host", "localhost")
            sock = socket.create_connection((host, options.get("port", 6379)), self._timeout)
            if urlsplit(self._url).scheme == "rediss":
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        try:
            if options.get("password"):
                who = [options["username"].encode()] if options.get("username") else []
                _ask(sock, command(b"AUTH", *who, options["password"].encode()))
            if options.get("db"):
                _ask(sock, command(b"SELECT", str(options["db"]).encode()))
            sock.sendall(command(b"SUBSCRIBE", self._channel))
        except BaseException:
            sock.close()
            raise
        return sock

    def _feed(self, data: bytes) -> None:
        buffer, at = self._buffer + data, 0
        while at < len(buffer):
            try:
                reply, at = parse(buffer, at)
            except Incomplete:
                break
            kind = reply[0] if isinstance(reply, list) and reply else None
            if kind == b"message" and len(reply) == 3:
                self._on_message(reply[2])
            elif kind == b"subscribe" and not self._subscribed:
                self._subscribed, self._warned = True, False
                self._on_reset()
            elif kind != b"pong":
                self._lose(f"unexpected reply {reply!r:.80}")
                return
        self._buffer = buffer[at:]

    def _lose(self, why: str) -> None:
        if self._sock is not None or not self._warned:  # once per outage, not per retry
            log.warning("session invalidations unavailable (%s); reading every session row", why)
            self._warned = True
        self._close()
        self._on_reset()

    def _close(self) -> None:
        sock, self._sock, self._subscribed, self._buffer = self._sock, None, False, b""
        if sock is not None:
            with contextlib.suppress(RuntimeError):  # the loop may be closed at shutdown
                asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()


def _ask(sock: socket.socket, request: bytes) -> Any:
    """One command and its reply on a blocking socket; an error reply raises."""
    sock.sendall(request)
    buffer = b""
    while True:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("Redis closed the connection")
        buffer += data
        try:
            reply, _ = parse(buffer, 0)
        except Incomplete:
            continue
        if isinstance(reply, Exception):
            raise reply
        return reply
