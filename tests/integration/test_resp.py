"""The lean script connection of the session check (core/resp.py) against a real Redis:
answers reach their own callers, a flushed script is reloaded, and a killed, stalled or
unreachable server raises redis-py's errors and the next call reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest
import uvloop
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from topsmile.config import Settings
from topsmile.core.resp import Connection, ScriptCaller

ECHO = "return {tonumber(ARGV[1]), redis.call('INCR', KEYS[1]), ARGV[2]}"


async def test_answers_reach_their_callers_in_a_crowd(settings: Settings, redis: Redis) -> None:
    assert settings.redis_url is not None
    call = ScriptCaller(Connection(settings.redis_url), ECHO)
    await redis.delete("resp:counter")
    try:
        answers = await asyncio.gather(
            *(call(["resp:counter"], [n, f"tag-{n}"]) for n in range(300))
        )
        assert [a[0] for a in answers] == list(range(300))
        assert [a[2] for a in answers] == [f"tag-{n}".encode() for n in range(300)]
        assert sorted(a[1] for a in answers) == list(range(1, 301))
    finally:
        await call.connection.close()


async def test_two_scripts_share_one_connection(settings: Settings, redis: Redis) -> None:
    """As the throttle does: its counting and giving-back scripts on one connection."""
    assert settings.redis_url is not None
    connection = Connection(settings.redis_url)
    echo = ScriptCaller(connection, ECHO)
    double = ScriptCaller(connection, "return tonumber(ARGV[1]) * 2")
    await redis.delete("resp:counter")
    before = {c["id"] for c in await redis.client_list()}
    try:
        answers = await asyncio.gather(
            *(echo(["resp:counter"], [n, "e"]) if n % 2 else double([], [n]) for n in range(100))
        )
        assert [a[0] if n % 2 else a for n, a in enumerate(answers)] == [
            n if n % 2 else 2 * n for n in range(100)
        ]
        opened = [c for c in await redis.client_list() if c["id"] not in before]
        assert [c["cmd"] for c in opened if c["cmd"] != "client|list"] in (["evalsha"], ["eval"])
    finally:
        await connection.close()


async def test_a_flushed_script_is_loaded_again(settings: Settings, redis: Redis) -> None:
    assert settings.redis_url is not None
    call = ScriptCaller(Connection(settings.redis_url), ECHO)
    try:
        assert (await call(["resp:k"], [1, "a"]))[0] == 1
        await redis.script_flush()
        assert (await call(["resp:k"], [2, "b"]))[0] == 2
    finally:
        await call.connection.close()


async def test_a_script_error_fails_only_its_call(settings: Settings) -> None:
    assert settings.redis_url is not None
    broken = ScriptCaller(Connection(settings.redis_url), "return redis.call('NOSUCHCOMMAND')")
    try:
        with pytest.raises(ResponseError):
            await broken([], [])
        with pytest.raises(ResponseError):
            await broken([], [])  # the connection still works, answers stay in step
    finally:
        await broken.connection.close()


async def test_a_killed_connection_fails_its_callers_and_the_next_call_reconnects(
    settings: Settings, redis: Redis
) -> None:
    assert settings.redis_url is not None
    call = ScriptCaller(Connection(settings.redis_url), ECHO)
    try:
        assert (await call(["resp:k"], [1, "a"]))[0] == 1
        await redis.client_kill_filter(_type="normal", skipme=True)
        await asyncio.sleep(0.05)
        with contextlib.suppress(RedisConnectionError):  # noticed here or already closed
            await call(["resp:k"], [2, "b"])
        assert (await call(["resp:k"], [3, "c"]))[0] == 3
    finally:
        await call.connection.close()


async def test_a_stalled_server_times_out_and_later_answers_are_not_misdelivered(
    settings: Settings, redis: Redis
) -> None:
    assert settings.redis_url is not None
    call = ScriptCaller(Connection(settings.redis_url, timeout=0.2), ECHO)
    try:
        assert (await call(["resp:k"], [1, "a"]))[0] == 1
        stall = asyncio.create_task(redis.execute_command("DEBUG", "SLEEP", "0.6"))
        await asyncio.sleep(0.05)
        with pytest.raises(RedisTimeoutError):
            await call(["resp:k"], [2, "b"])
        await stall
        assert (await call(["resp:k"], [3, "c"]))[0] == 3
    finally:
        await call.connection.close()


async def test_an_unreachable_server_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    call = ScriptCaller(Connection(f"redis://127.0.0.1:{port}/0"), ECHO)
    with pytest.raises(RedisConnectionError):
        await call([], [1, "a"])


def test_the_server_loop_uvloop_works_too(settings: Settings) -> None:
    """`topsmile serve` runs on uvloop, whose transports are not asyncio's classes."""
    assert settings.redis_url is not None
    url = settings.redis_url

    async def calls() -> list[int]:
        call = ScriptCaller(Connection(url), ECHO)
        try:
            return [(await call(["resp:k"], [n, "x"]))[0] for n in range(3)]
        finally:
            await call.connection.close()

    assert uvloop.run(calls()) == [0, 1, 2]
