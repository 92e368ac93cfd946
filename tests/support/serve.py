"""Real `topsmile serve` processes for end-to-end tests: started on a free port against the
test session's stores, waited for until healthy, stopped with SIGTERM (exit code 0)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from tests.conftest import store_env
from topsmile.config import Settings


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


def serve_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a serve process on the test session's stores, with the session's
    per-IP limits: every test client is 127.0.0.1, and the counts live in the shared Redis."""
    env = {**os.environ, **store_env(settings)}
    for name in ("LOGIN", "REGISTER", "SIGNUP", "FORGOT", "PUBLIC"):
        rate = getattr(settings, f"rate_{name.lower()}_per_ip")
        env[f"TOPSMILE_RATE_{name}_PER_IP"] = f"{rate.limit}/{rate.window_seconds}s"
    return {**env, **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_healthy(base_url: str, proc: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:
        while True:
            assert proc.returncode is None, f"serve exited early:\n{_tail(log)}"
            try:
                if (await client.get("/api/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"serve never got healthy:\n{_tail(log)}"
            await asyncio.sleep(0.2)


@asynccontextmanager
async def serving(env: dict[str, str], log: Path) -> AsyncIterator[str]:
    """`async with serving(env, log) as base_url:` one `topsmile serve` process (its own
    relay included), its output in `log` (a pipe nobody reads could block it)."""
    async with serving_process(env, log) as (base_url, _):
        yield base_url


@asynccontextmanager
async def serving_process(
    env: dict[str, str], log: Path, *args: str
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """As `serving`, with extra `serve` arguments (e.g. `--workers 2`), yielding the process
    too (its uvicorn workers are its children)."""
    port = free_port()
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "topsmile",
            "serve",
            "--port",
            str(port),
            *args,
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        await _wait_healthy(base_url, proc, log)
        yield base_url, proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 60)
    assert proc.returncode == 0, _tail(log)


async def _wait_relaying(proc: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + 120
    while "relaying" not in await asyncio.to_thread(log.read_text):
        assert proc.returncode is None, f"worker exited early:\n{_tail(log)}"
        assert time.monotonic() < deadline, f"worker never started relaying:\n{_tail(log)}"
        await asyncio.sleep(0.2)


@asynccontextmanager
async def working(env: dict[str, str], log: Path) -> AsyncIterator[None]:
    """`async with working(env, log):` one `topsmile worker` process (a relay, no HTTP), ready
    once it says it is relaying, stopped with SIGTERM (exit code 0)."""
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "topsmile", "worker", env=env, stdout=out, stderr=out
        )
    try:
        await _wait_relaying(proc, log)
        yield
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 60)
    assert proc.returncode == 0, _tail(log)
