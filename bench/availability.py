"""Availability (SPEC §6): one provider and every provider of a 10-provider clinic, 7 days.

    uv run python bench/availability.py [--seconds 10] [--connections 16] [--threads 2]
                                        [--requests 300]

In one run: embedded PostgreSQL + Redis in a temp dir, a clinic (15-minute slot interval,
America/Sao_Paulo) with one 30-minute service, 10 providers offering it (Mon-Fri
08:00-12:00 and 13:00-18:00, Sat 08:00-12:00), a few time offs and a closure in the week.
1. In-process: `--requests` sequential requests through the ASGI app (httpx, no socket),
   p50/p99 per request, for the patient-rules public route and the signed-in staff route.
2. `topsmile serve` (one worker, uvloop + httptools) driven by `wrk` at `--connections`
   over loopback after a 2 s warm-up, with `/api/health/live` measured in the same run
   (not the staff view of all 10 providers: in-process only).
Appointments do not exist yet: the only blocks are time off and closures.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import signal
import statistics
import time
from datetime import UTC, datetime, timedelta

import httpx
from request_path import EMAIL, PASSWORD, free_port, seed, start, wait_ready, wrk
from stores import fresh_stores, server_env

from topsmile.app import create_app, lifespan
from topsmile.config import load_settings
from topsmile.core import db
from topsmile.core.embedded import EmbeddedUrls

PROVIDERS = 10
UNLIMITED = "100000000/1m"


async def seed_catalogue(app_url: str, slug: str) -> tuple[str, str]:
    """The service and 10 providers with hours, time off and a closure; (service, provider)."""
    await db.open_pool(app_url)
    try:
        [clinic] = await db.fetch("SELECT id FROM clinic WHERE slug = {}", slug)
        clinic_id = clinic["id"]
        first = datetime.now(UTC).date() + timedelta(days=1)
        async with db.tenant_transaction(clinic_id):
            [service] = await db.fetch(
                "INSERT INTO clinic_service (clinic_id, name, duration_minutes, price_amount)"
                " VALUES ({}, 'Cleaning', 30, 10000) RETURNING id",
                clinic_id,
            )
            providers = []
            for n in range(PROVIDERS):
                [row] = await db.fetch(
                    "INSERT INTO provider (clinic_id, first_name, last_name,"
                    " buffer_before_minutes, buffer_after_minutes)"
                    " VALUES ({}, 'Dr', {}, 0, 5) RETURNING id",
                    clinic_id,
                    f"No{n}",
                )
                providers.append(row["id"])
                await db.fetch(
                    "INSERT INTO provider_service (clinic_id, provider_id, service_id)"
                    " VALUES ({}, {}, {})",
                    clinic_id,
                    row["id"],
                    service["id"],
                )
                for weekday in range(1, 7):
                    spans = [(480, 720)] + ([(780, 1080)] if weekday <= 5 else [])
                    for start_minute, end_minute in spans:
                        await db.fetch(
                            "INSERT INTO working_hours (clinic_id, provider_id, weekday,"
                            " start_minute, end_minute) VALUES ({}, {}, {}, {}, {})",
                            clinic_id,
                            row["id"],
                            weekday,
                            start_minute,
                            end_minute,
                        )
                for day in range(0, 7, 2):
                    starts = datetime.combine(first, datetime.min.time(), UTC) + timedelta(
                        days=day, hours=14 + n % 4
                    )
                    await db.fetch(
                        "INSERT INTO time_off (clinic_id, provider_id, starts_at, ends_at)"
                        " VALUES ({}, {}, {}, {})",
                        clinic_id,
                        row["id"],
                        starts,
                        starts + timedelta(hours=1),
                    )
            closed = datetime.combine(first, datetime.min.time(), UTC) + timedelta(days=3)
            await db.fetch(
                "INSERT INTO closure (clinic_id, starts_at, ends_at) VALUES ({}, {}, {})",
                clinic_id,
                closed + timedelta(hours=18),
                closed + timedelta(hours=20),
            )
    finally:
        await db.close_pool()
    return str(service["id"]), str(providers[0])


def targets(slug: str, service: str, provider: str) -> list[tuple[str, str]]:
    first = datetime.now(UTC).date() + timedelta(days=1)
    days = f"from={first.isoformat()}&to={(first + timedelta(days=6)).isoformat()}"
    public = f"/api/public/clinics/{slug}/availability?serviceId={service}&{days}"
    staff = f"/api/scheduling/availability?serviceId={service}&{days}"
    return [
        ("public (patient rules), one provider", f"{public}&providerId={provider}"),
        ("public (patient rules), 10 providers", public),
        ("signed-in staff (5-min grid), one provider", f"{staff}&providerId={provider}"),
        ("signed-in staff (5-min grid), 10 providers", staff),
    ]


async def in_process(urls: EmbeddedUrls, paths: list[tuple[str, str]], slug: str, n: int) -> None:
    environ = {"TOPSMILE_ENV": "test", "TOPSMILE_RATE_PUBLIC_PER_IP": UNLIMITED}
    environ["TOPSMILE_RATE_API_PER_USER"] = UNLIMITED
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
        print("In-process (httpx ASGI transport, sequential):\n")
        print("| request | slots | p50 ms | p99 ms |")
        print("|---|---|---|---|")
        for name, path in paths:
            timings = []
            count = 0
            for _ in range(n):
                began = time.perf_counter()
                response = await client.get(path)
                timings.append((time.perf_counter() - began) * 1000)
                response.raise_for_status()
                count = len(response.json()["slots"])
            cuts = statistics.quantiles(timings, n=100)
            print(f"| {name} | {count} | {cuts[49]:.2f} | {cuts[98]:.2f} |")


async def over_http(
    urls: EmbeddedUrls, paths: list[tuple[str, str]], slug: str, args: argparse.Namespace
) -> None:
    port = free_port()
    env = server_env(
        urls, TOPSMILE_RATE_API_PER_USER=UNLIMITED, TOPSMILE_RATE_PUBLIC_PER_IP=UNLIMITED
    )
    server = await start("-m", "topsmile", "serve", "--port", str(port), env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_ready(f"{base}/api/health", server)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            signed = await client.post(
                "/api/auth/login", json={"clinic": slug, "email": EMAIL, "password": PASSWORD}
            )
            signed.raise_for_status()
            cookie = f"Cookie: access_token={client.cookies['access_token']}"
        warm = argparse.Namespace(**{**vars(args), "seconds": 2})
        print(f"\nwrk -t{args.threads} -c{args.connections} -d{args.seconds}s, one worker:\n")
        print("| route | req/s | p50 ms | p99 ms | of health/live |")
        print("|---|---|---|---|---|")
        floor = None
        # The staff view of 10 providers (5,000 slots on a 5-minute grid) is measured
        # in-process only: at 16 connections it is too slow for wrk's 2 s timeout here.
        for name, path in [("`GET /api/health/live`", "/api/health/live"), *paths[:3]]:
            await wrk(name, base + path, warm, cookie)
            result = await wrk(name, base + path, args, cookie)
            floor = floor or result.rps
            print(
                f"| {name} | {result.rps:.0f} | {result.p50_ms:.2f} | {result.p99_ms:.2f} |"
                f" {result.rps / floor * 100:.0f} % |"
            )
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGTERM)
            await server.wait()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    async with fresh_stores() as urls:
        slug = await seed(urls.database_url)
        service, provider = await seed_catalogue(urls.database_url, slug)
        paths = targets(slug, service, provider)
        await in_process(urls, paths, slug, args.requests)
        if shutil.which("wrk") is None:
            print("\n(wrk not installed: apt-get install -y wrk)")
            return
        await over_http(urls, paths, slug, args)


if __name__ == "__main__":
    asyncio.run(main())
