"""Availability and booking (issue 10): every figure of the issue in one command.

    uv run python bench/availability.py [--seconds 10] [--connections 16] [--threads 2]
        [--requests 300] [--booking-seconds 5] [--booking-weeks 3]

Needs `wrk` (apt-get install -y wrk). In one run, on embedded PostgreSQL + Redis in a temp
dir, with the clinic of bench/availability_seed.py (10 providers, ~100 live appointments in
the week asked, time off, a closure):
1. In-process (httpx ASGI transport, no socket), `--requests` sequential requests for each
   availability request: p50/p99; the plan (EXPLAIN ANALYZE) of the one query a
   one-provider request makes, as the application role under row-level security; and a
   cProfile (CPU time) of the one-provider public request: where the time goes.
2. `topsmile serve` (one worker) driven by `wrk -c16` after a 2 s warm-up: `/api/health/live`,
   then the public (patient-rules) availability of one provider and of all 10.
3. `topsmile serve --workers 2`: bookings/s on distinct slots and a 100-way race for one
   slot (bench/booking_load.py).
Then a markdown table of issue 10's figures: target, measured, met.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import logging
import pstats
import shutil
import signal
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from availability_seed import Seeded, seed_clinic
from booking_load import RACERS, Bookings, Race, bookings_per_second, race
from request_path import EMAIL, PASSWORD, Result, free_port, seed, start, wait_ready, wrk
from request_path_inprocess import call, scope_for
from stores import fresh_stores, server_env

from topsmile.app import create_app, lifespan
from topsmile.config import load_settings
from topsmile.core import db
from topsmile.core.embedded import EmbeddedUrls
from topsmile.core.middleware import EdgeMiddleware
from topsmile.scheduling import availability_service
from topsmile.scheduling.availability_service import AvailabilityQuery

UNLIMITED = "100000000/1m"
LIMITS = {"TOPSMILE_RATE_API_PER_USER": UNLIMITED, "TOPSMILE_RATE_PUBLIC_PER_IP": UNLIMITED}


def targets(slug: str, seeded: Seeded) -> list[tuple[str, str]]:
    first, last = seeded.first, seeded.first.toordinal() + 6
    days = f"from={first.isoformat()}&to={first.fromordinal(last).isoformat()}"
    service, provider = seeded.cleaning, seeded.providers[0]
    public = f"/api/public/clinics/{slug}/availability?serviceId={service}&{days}"
    staff = f"/api/scheduling/availability?serviceId={service}&{days}"
    return [
        ("public (patient rules), one provider", f"{public}&providerId={provider}"),
        ("public (patient rules), 10 providers", public),
        ("signed-in staff (5-min grid), one provider", f"{staff}&providerId={provider}"),
        ("signed-in staff (5-min grid), 10 providers", staff),
    ]


async def explain(seeded: Seeded) -> str:
    """EXPLAIN ANALYZE of the one-provider read, as the app runs it (its role, RLS on)."""
    query = AvailabilityQuery(
        uuid.UUID(seeded.cleaning),
        uuid.UUID(seeded.providers[0]),
        seeded.first.isoformat(),
        seeded.first.fromordinal(seeded.first.toordinal() + 6).isoformat(),
    )
    args = availability_service.read_arguments(query)
    async with db.tenant_transaction(uuid.UUID(seeded.clinic_id)):
        for _ in range(3):  # warm: the plan of a prepared statement settles after a few runs
            plan = await db.fetch(
                "EXPLAIN (ANALYZE, COSTS OFF) " + availability_service._READ, *args
            )
    return "\n".join(row["QUERY PLAN"] for row in plan)


def asgi_scope(target: str, cookie: str | None) -> dict[str, Any]:
    path, _, query = target.partition("?")
    return {**scope_for(path, cookie), "query_string": query.encode()}


@asynccontextmanager
async def signed_in_app(
    urls: EmbeddedUrls, slug: str
) -> AsyncIterator[tuple[EdgeMiddleware, httpx.AsyncClient, str]]:
    """The app in this process on these stores, started, and a client signed in to `slug`'s
    receptionist: (app, client, the access cookie as a `cookie` header value)."""
    environ = {"TOPSMILE_ENV": "test", **LIMITS}
    settings = load_settings(environ=environ, dotenv=None).with_urls(
        database_url=urls.database_url,
        database_migration_url=urls.database_migration_url,
        redis_url=urls.redis_url,
    )
    app = create_app(settings, run_relay=False)
    logging.disable(logging.INFO)  # the JSON access lines would be timed with the requests
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with (
        lifespan(app.app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        signed = await client.post(
            "/api/auth/login", json={"clinic": slug, "email": EMAIL, "password": PASSWORD}
        )
        signed.raise_for_status()
        yield app, client, f"access_token={client.cookies['access_token']}"


async def in_process(
    urls: EmbeddedUrls, paths: list[tuple[str, str]], slug: str, n: int
) -> dict[str, float]:
    """Requests straight into the ASGI app (no client library, no socket), sequential:
    p50 ms per request name; prints the table and a CPU profile of the first request."""
    p50s = {}
    async with signed_in_app(urls, slug) as (app, client, cookie):
        print("In-process (straight into the ASGI app, sequential):\n")
        print("| request | slots | p50 ms | p99 ms | CPU ms (this process) |")
        print("|---|---|---|---|---|")
        for name, path in paths:
            count = len((await client.get(path)).raise_for_status().json()["slots"])
            scope = asgi_scope(path, cookie)
            timings = []
            cpu = time.process_time()
            for _ in range(n):
                began = time.perf_counter()
                if await call(app, scope) != 200:
                    raise SystemExit(f"{path} failed")
                timings.append((time.perf_counter() - began) * 1000)
            cpu_ms = (time.process_time() - cpu) / n * 1000
            cuts = statistics.quantiles(timings, n=100)
            p50s[name] = cuts[49]
            print(f"| {name} | {count} | {cuts[49]:.2f} | {cuts[98]:.2f} | {cpu_ms:.2f} |")
        scope = asgi_scope(paths[0][1], cookie)
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for _ in range(n):
            await call(app, scope)
        profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(20)
    body = out.getvalue()
    print(f"\ncProfile of {n} `{paths[0][0]}` requests in-process (CPU time, by own time):\n")
    print("```\n" + body[body.index("   ncalls") :].rstrip() + "\n```")
    return p50s


async def serving(
    urls: EmbeddedUrls, workers: int, log: Path | None = None
) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    env = server_env(urls, **LIMITS)
    command = ["-m", "topsmile", "serve", "--port", str(port), "--workers", str(workers)]
    server = await start(*command, env=env, log=log)
    base = f"http://127.0.0.1:{port}"
    await wait_ready(f"{base}/api/health", server)
    return server, base


async def stop(server: asyncio.subprocess.Process) -> None:
    if server.returncode is None:
        server.send_signal(signal.SIGTERM)
        await server.wait()


async def sign_in(base: str, slug: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        signed = await client.post(
            "/api/auth/login", json={"clinic": slug, "email": EMAIL, "password": PASSWORD}
        )
        signed.raise_for_status()
        return {k: v for k, v in client.cookies.items() if k in ("access_token", "csrf_token")}


async def over_http(
    urls: EmbeddedUrls, paths: list[tuple[str, str]], args: argparse.Namespace
) -> list[Result]:
    server, base = await serving(urls, 1)
    try:
        warm = argparse.Namespace(**{**vars(args), "seconds": 2})
        print(f"\nwrk -t{args.threads} -c{args.connections} -d{args.seconds}s, one worker:\n")
        print("| route | req/s | p50 ms | p99 ms | of health/live |")
        print("|---|---|---|---|---|")
        results: list[Result] = []
        for name, path in [("`GET /api/health/live`", "/api/health/live"), *paths[:2]]:
            await wrk(name, base + path, warm)
            result = await wrk(name, base + path, args)
            results.append(result)
            share = result.rps / results[0].rps * 100
            print(
                f"| {name} | {result.rps:.0f} | {result.p50_ms:.2f} | {result.p99_ms:.2f} |"
                f" {share:.0f} % |"
            )
        return results
    finally:
        await stop(server)


async def booking(
    urls: EmbeddedUrls, slug: str, seeded: Seeded, args: argparse.Namespace
) -> tuple[Bookings, Race]:
    server, base = await serving(urls, 2)
    try:
        cookies = await sign_in(base, slug)
        jar = "; ".join(f"{k}={v}" for k, v in cookies.items())
        headers = [f"Cookie: {jar}", f"X-CSRF-Token: {cookies['csrf_token']}"]
        # The race first, on a quiet server: after the throughput run the relay is still
        # delivering the bookings' events for seconds, and that is not what the race measures.
        raced = await race(base, cookies, seeded)
        booked = await bookings_per_second(base, headers, urls.database_url, seeded, args)
        print(f"\nBookings, `serve --workers 2`, wrk -t{args.threads} -c{args.connections}", end="")
        print(f" -d{args.booking_seconds}s, distinct slots:\n")
        print("| booked | requests | refused | bookings/s | p50 ms | p99 ms |")
        print("|---|---|---|---|---|---|")
        print(
            f"| {booked.booked} | {booked.requests} | {booked.refused} |"
            f" {booked.per_second:.0f} | {booked.p50_ms:.2f} | {booked.p99_ms:.2f} |"
        )
        answers = ", ".join(f"{n} x {code}" for code, n in sorted(raced.answers.items()))
        print(
            f"\n{RACERS}-way race for one slot: every answer in {raced.seconds:.2f} s (the 201"
            f" at {raced.winner_seconds:.2f} s, half at {raced.median_seconds:.2f} s),"
            f" answers {answers}"
        )
        return booked, raced
    finally:
        await stop(server)


def summary(p50s: dict[str, float], http: list[Result], booked: Bookings, raced: Race) -> None:
    live, one, ten = http
    share = one.rps / live.rps * 100
    fair = raced.answers == {201: 1, 409: RACERS - 1}
    rows = [
        ("one provider, 7 days, wrk -c16: p50", "≤ 5 ms", f"{one.p50_ms:.2f} ms", one.p50_ms <= 5),
        (
            "one provider, 7 days, wrk -c16: p99",
            "≤ 20 ms",
            f"{one.p99_ms:.2f} ms",
            one.p99_ms <= 20,
        ),
        ("one provider: req/s of health/live", "≥ 40 %", f"{share:.0f} %", share >= 40),
        (
            "10 providers, 7 days: p50 in-process (sequential)",
            "≤ 15 ms",
            f"{p50s[PUBLIC_TEN]:.2f} ms",
            p50s[PUBLIC_TEN] <= 15,
        ),
        ("10 providers, 7 days, wrk -c16: p50", "-", f"{ten.p50_ms:.2f} ms", None),
        (
            "bookings/s, distinct slots, 2 workers",
            "≥ 300",
            f"{booked.per_second:.0f}",
            booked.per_second >= 300,
        ),
        (
            f"{RACERS}-way race for one slot, all answered",
            "< 2 s",
            f"{raced.seconds:.2f} s ({'one 201, the rest 409' if fair else 'UNFAIR'})",
            raced.seconds < 2 and fair,
        ),
    ]
    print("\n| figure | target | measured | met? |\n|---|---|---|---|")
    for figure, target, measured, met in rows:
        verdict = "-" if met is None else "yes" if met else "no"
        print(f"| {figure} | {target} | {measured} | {verdict} |")


PUBLIC_TEN = "public (patient rules), 10 providers"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--booking-seconds", type=int, default=5)
    parser.add_argument("--booking-weeks", type=int, default=3)
    parser.add_argument("--in-process-only", action="store_true", help="skip wrk and booking")
    parser.add_argument("--booking-only", action="store_true", help="only bookings and race")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("install wrk first (apt-get install -y wrk)")
    async with fresh_stores() as urls:
        slug = await seed(urls.database_url)
        seeded = await seed_clinic(urls.database_url, slug)
        print(
            f"Seeded: {seeded.live} live appointments in the week from {seeded.first}"
            f" ({seeded.live_of_first_provider} of the provider asked for alone)\n"
        )
        await db.open_pool(urls.database_url)
        try:
            plan = await explain(seeded)
        finally:
            await db.close_pool()
        print("The one query of a one-provider request (EXPLAIN ANALYZE, app role):\n")
        print("```\n" + plan + "\n```\n")
        paths = targets(slug, seeded)
        if args.booking_only:
            await booking(urls, slug, seeded, args)
            return
        p50s = await in_process(urls, paths, slug, args.requests)
        if args.in_process_only:
            return
        http = await over_http(urls, paths, args)
        booked, raced = await booking(urls, slug, seeded, args)
    summary(p50s, http, booked, raced)


if __name__ == "__main__":
    asyncio.run(main())
