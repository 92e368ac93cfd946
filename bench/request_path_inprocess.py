"""CPU cost of the request path, in-process: µs per request through the ASGI app.

    uv run python bench/request_path_inprocess.py [--requests 3000] [--profile ROUTE]

No server, no sockets: N sequential requests are sent straight into the ASGI callable on
one event loop (uvloop), so the figure is the app's own work per request (plus the real
PostgreSQL and Redis round trips of `/api/auth/me`) and is far less sensitive to other load
on the machine than bench/request_path.py. Routes: the bare Litestar route of
bench/bare_app.py, `GET /api/health/live`, and `GET /api/auth/me` with the access cookie.
Wall and CPU time (of this process: PostgreSQL's and Redis's work is not in it) are
reported. The access log is written as in production, to a stderr pointed at /dev/null while timing.
`--profile live|me` prints a cProfile of that route instead of timing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from bare_app import app as bare_app
from request_path import EMAIL, PASSWORD, seed
from stores import app_settings, run_on_fresh_stores

from topsmile.app import create_app, lifespan
from topsmile.core.embedded import EmbeddedUrls

ROUNDS = 5


def scope_for(path: str, cookie: str | None) -> dict[str, Any]:
    headers = [(b"host", b"testserver"), (b"user-agent", b"bench")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def call(app: Any, scope: dict[str, Any], body: bytes = b"") -> int:
    """One request straight into the ASGI app: its status."""
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(scope), receive, send)
    return status


async def run(app: Any, scope: dict[str, Any], n: int) -> tuple[float, float]:
    """Wall and CPU (this process, all threads) µs per request over n sequential requests;
    any non-200 fails the run."""
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        status = await call(app, scope)
        if status != 200:
            raise SystemExit(f"{scope['path']} answered {status}")
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return wall / n * 1e6, cpu / n * 1e6


@contextmanager
def quiet_stderr() -> Iterator[None]:
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


async def sign_in(app: Any, slug: str) -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post(
            "/api/auth/login", json={"clinic": slug, "email": EMAIL, "password": PASSWORD}
        )
        response.raise_for_status()
        return f"access_token={client.cookies['access_token']}"


async def measure(args: argparse.Namespace, urls: EmbeddedUrls) -> None:
    slug = await seed(urls.database_url)
    settings = app_settings(urls, TOPSMILE_RATE_API_PER_USER="100000000/1m")
    app = create_app(settings, run_relay=False)
    async with lifespan(app.app):
        await asyncio.sleep(0.2)  # the session cache subscribes
        cookie = await sign_in(app, slug)
        routes = {
            "bare": (bare_app, scope_for("/bare", None)),
            "live": (app, scope_for("/api/health/live", None)),
            "me": (app, scope_for("/api/auth/me", cookie)),
        }
        if args.profile:
            target, scope = routes[args.profile]
            with quiet_stderr():
                await run(target, scope, 300)
                profiler = cProfile.Profile(time.process_time)  # CPU, not waiting
                profiler.enable()
                await run(target, scope, args.requests)
                profiler.disable()
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(45)
            return
        names = {
            "bare": "bare Litestar route `GET /bare`",
            "live": "`GET /api/health/live`",
            "me": "`GET /api/auth/me` (signed in)",
        }
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in routes}
        with quiet_stderr():
            for target, scope in routes.values():
                await run(target, scope, 300)
            # Interleaved rounds, so a burst of load elsewhere hits every route alike.
            for _ in range(ROUNDS):
                for name, (target, scope) in routes.items():
                    samples[name].append(await run(target, scope, args.requests))
    print(f"{args.requests} sequential requests x {ROUNDS} rounds, median µs per request")
    print("(CPU: this process only; PostgreSQL's and Redis's own work is not in it)\n")
    print("| route | wall µs | CPU µs | CPU of bare (bare µs / route µs) |")
    print("|---|---|---|---|")
    bare_cpu = statistics.median(cpu for _, cpu in samples["bare"])
    for name, values in samples.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(f"| {names[name]} | {wall:.0f} | {cpu:.0f} | {bare_cpu / cpu * 100:.0f} % |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--profile", choices=["bare", "live", "me"])
    parser.add_argument("--sort", default="tottime", help="pstats order for --profile")
    args = parser.parse_args()

    run_on_fresh_stores(measure, args)


if __name__ == "__main__":
    main()
