"""Login latency, and event-loop health while 20 logins hash at once.

    uv run python bench/login_latency.py [--logins 60] [--storms 5]

Starts embedded PostgreSQL + Redis in a temp dir, seeds a clinic and 20 users, starts
`topsmile serve` as a separate process, and drives it over loopback from this process:
1. sequential logins → p50/p99 latency;
2. `/api/health/live` alone → p50/p99 (the floor);
3. storms of 20 concurrent logins while `/api/health/live` is polled → its p50/p99.
The per-IP login limit is raised for the server (every request here comes from one IP).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import statistics
import sys
import time
import uuid

import httpx
import msgspec
from stores import fresh_stores, server_env

from topsmile.auth.passwords import Hasher
from topsmile.clinics.schemas import ClinicSettings
from topsmile.core import db
from topsmile.core.embedded import EmbeddedUrls

PASSWORD = "Correct-Horse-Battery-9"
USERS = 20


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


async def seed(app_url: str) -> str:
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    clinic_id = uuid.uuid4()
    password_hash = await Hasher().hash(PASSWORD)
    await db.open_pool(app_url)
    async with db.tenant_transaction(clinic_id):
        await db.fetch(
            "INSERT INTO clinic (id, name, slug, timezone, currency, settings)"
            " VALUES ({}, 'Bench', {}, 'America/Sao_Paulo', 'brl', {}::jsonb)",
            clinic_id,
            slug,
            msgspec.json.encode(ClinicSettings()).decode(),
        )
        for i in range(USERS):
            await db.fetch(
                "INSERT INTO app_user (clinic_id, email, password_hash, first_name, last_name,"
                " role) VALUES ({}, {}, {}, 'U', 'Ser', 'receptionist')",
                clinic_id,
                f"u{i}@bench.example.com",
                password_hash,
            )
    await db.close_pool()
    return slug


async def login(client: httpx.AsyncClient, slug: str, i: int) -> float:
    started = time.perf_counter()
    response = await client.post(
        "/api/auth/login",
        json={"clinic": slug, "email": f"u{i % USERS}@bench.example.com", "password": PASSWORD},
    )
    assert response.status_code == 200, response.text
    return time.perf_counter() - started


async def failed_login(client: httpx.AsyncClient, body: dict[str, str]) -> float:
    started = time.perf_counter()
    response = await client.post("/api/auth/login", json=body)
    assert response.status_code == 401, response.text
    return time.perf_counter() - started


async def live(client: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    response = await client.get("/api/health/live")
    assert response.status_code == 200
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=60)
    parser.add_argument("--storms", type=int, default=5)
    args = parser.parse_args()
    async with fresh_stores() as urls:
        await measure(args, urls)


async def measure(args: argparse.Namespace, urls: EmbeddedUrls) -> None:
    server = None
    try:
        slug = await seed(urls.database_url)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = server_env(
            urls,
            TOPSMILE_RATE_LOGIN_PER_IP="1000000/15m",
            TOPSMILE_RATE_API_PER_USER="1000000/1m",
            TOPSMILE_LOGIN_MAX_FAILURES="1000000",
        )
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "topsmile",
            "serve",
            "--port",
            str(port),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for _ in range(200):
                try:
                    if (await client.get("/api/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            await login(client, slug, 0)  # warm-up
            sequential = [await login(client, slug, i) for i in range(args.logins)]
            floor = [await live(client) for _ in range(300)]
            known = {"clinic": slug, "email": "u1@bench.example.com"}
            failures = {
                "401 wrong password": {**known, "password": "Not-The-Password-1"},
                "401 unknown email": {
                    **known,
                    "email": "ghost@bench.example.com",
                    "password": PASSWORD,
                },
                "401 unknown clinic": {**known, "clinic": "no-such-clinic", "password": PASSWORD},
            }
            refused = {
                name: [await failed_login(client, body) for _ in range(30)]
                for name, body in failures.items()
            }
            during: list[float] = []
            storm_logins: list[float] = []
            for _ in range(args.storms):
                stop = asyncio.Event()

                async def poll(stop: asyncio.Event = stop) -> None:
                    while not stop.is_set():
                        during.append(await live(client))

                poller = asyncio.create_task(poll())
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{port}", timeout=60
                ) as burst:
                    storm_logins += await asyncio.gather(
                        *(login(burst, slug, i) for i in range(20))
                    )
                stop.set()
                await poller
        print(f"logins: {args.logins} sequential, {args.storms} storms of 20 concurrent\n")
        print("| measurement | p50 ms | p99 ms | samples |")
        print("|---|---|---|---|")
        rows = [
            ("login, sequential", sequential),
            *((f"login, {name}", samples) for name, samples in refused.items()),
            ("login, inside a storm of 20", storm_logins),
            ("/api/health/live, idle (floor)", floor),
            ("/api/health/live, during storms", during),
        ]
        for name, samples in rows:
            print(f"| {name} | {pct(samples, 50):.2f} | {pct(samples, 99):.2f} | {len(samples)} |")
        print(f"\nmedian sequential login: {statistics.median(sequential) * 1000:.1f} ms")
    finally:
        if server is not None and server.returncode is None:
            server.send_signal(signal.SIGTERM)
            await server.wait()


if __name__ == "__main__":
    asyncio.run(main())
