"""The invalidation subscription (core/subscriber.py) against a real Redis: what Redis sent
before `drain()` is applied by `drain()` itself, and a stopped, restarted or silent server
makes it not live (and resets its owner) until it has subscribed again."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import parse_url

from topsmile.config import Settings
from topsmile.core.embedded import EmbeddedRedis
from topsmile.core.resp import command
from topsmile.core.subscriber import Subscriber

CHANNEL = "test:subscriber"


class Recorder:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.resets = 0

    def message(self, data: bytes) -> None:
        self.messages.append(data)

    def reset(self) -> None:
        self.resets += 1


async def until(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def publish_blocking(url: str, data: bytes) -> None:
    """PUBLISH as `Denylist._publish` does, without letting the event loop run."""
    options = parse_url(url)
    if "path" in options:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(options["path"])
    else:
        sock = socket.create_connection((options["host"], options.get("port", 6379)))
    with sock:
        sock.settimeout(5)
        if options.get("db"):
            sock.sendall(command(b"SELECT", str(options["db"]).encode()))
            assert sock.recv(64).startswith(b"+OK")
        sock.sendall(command(b"PUBLISH", CHANNEL.encode(), data))
        assert sock.recv(64).startswith(b":")
        # As Denylist._publish: once a later command is answered, every message is written.
        sock.sendall(command(b"PING"))
        assert sock.recv(64) == b"+PONG\r\n"


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[EmbeddedRedis]:
    redis = EmbeddedRedis(tmp_path / "redis")
    redis.start()
    try:
        yield redis
    finally:
        redis.release()


async def test_drain_applies_what_was_published_before_it_without_the_loop(
    settings: Settings,
) -> None:
    assert settings.redis_url is not None
    seen = Recorder()
    subscriber = Subscriber(settings.redis_url, CHANNEL, seen.message, seen.reset)
    subscriber.start()
    try:
        await until(subscriber.drain, "the subscription")
        assert seen.resets == 1  # confirmed: the owner starts from nothing
        for n in range(50):
            publish_blocking(settings.redis_url, b"m%d" % n)
            # No await since the PUBLISH was answered: only drain() can have read it.
            assert subscriber.drain()
            assert seen.messages[-1] == b"m%d" % n
        assert seen.messages == [b"m%d" % n for n in range(50)]
    finally:
        await subscriber.stop()
    assert not subscriber.drain()


async def test_a_stopped_redis_resets_and_a_restarted_one_is_subscribed_again(
    own_redis: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    seen = Recorder()
    subscriber = Subscriber(own_redis.url, CHANNEL, seen.message, seen.reset, ping_every=0.1)
    subscriber.start()
    try:
        await until(subscriber.drain, "the subscription")
        own_redis.stop()
        await until(lambda: not subscriber.drain(), "the outage to be noticed")
        resets = seen.resets
        assert resets >= 2  # confirmed, then lost
        await asyncio.sleep(1.2)  # a few reconnection attempts fail meanwhile
        warnings = [r for r in caplog.records if r.name == "topsmile.subscriber"]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]  # once per outage
        own_redis.start()
        await until(subscriber.drain, "a new subscription")
        assert seen.resets > resets  # the new subscription starts from nothing again
        client = Redis.from_url(own_redis.url)
        try:
            await client.publish(CHANNEL, b"after")
        finally:
            await client.aclose()
        await until(lambda: seen.messages == [b"after"], "the message after the restart")
    finally:
        await subscriber.stop()


async def test_a_silent_redis_is_not_trusted_and_is_followed_again_when_it_answers(
    own_redis: EmbeddedRedis,
) -> None:
    """Redis accepts the bytes but answers nothing (CLIENT PAUSE): no reply to three PINGs
    is a lost subscription, though the socket never closed."""
    seen = Recorder()
    subscriber = Subscriber(own_redis.url, CHANNEL, seen.message, seen.reset, ping_every=0.1)
    subscriber.start()
    client = Redis.from_url(own_redis.url)
    try:
        await until(subscriber.drain, "the subscription")
        await client.execute_command("CLIENT", "PAUSE", "3000", "ALL")
        # Noticed while Redis is still paused (three PINGs make 0.3 s).
        await until(lambda: not subscriber.drain(), "the silence to be noticed", seconds=2.5)
        await until(subscriber.drain, "the subscription after the pause")
    finally:
        await client.aclose()
        await subscriber.stop()


async def test_an_unreachable_redis_is_reported_once_not_per_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    seen = Recorder()
    subscriber = Subscriber(f"redis://127.0.0.1:{port}/0", CHANNEL, seen.message, seen.reset)
    subscriber.start()
    try:
        await asyncio.sleep(1.3)  # three attempts, 0.5 s apart
        assert not subscriber.drain()
        warnings = [r for r in caplog.records if r.name == "topsmile.subscriber"]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert seen.resets >= 2  # every failed attempt leaves the owner trusting nothing
    finally:
        await subscriber.stop()
