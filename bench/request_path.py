"""Throughput of the request path against a bare Litestar route on the same server.

    uv run python bench/request_path.py [--seconds 10] [--connections 16] [--threads 2]

In one run: starts embedded PostgreSQL + Redis in a temp dir, a bare Litestar JSON route
app (bench/bare_app.py) and `topsmile serve`, both one uvicorn worker with the same options
(`topsmile.cli.SERVER_OPTIONS`: uvloop + httptools); signs a user in; then drives each with
`wrk` over loopback and prints a markdown table of req/s, p50 and p99 with the ratio to
the bare route:
1. the bare route `GET /bare`;
2. `GET /api/health/live`;
3. `GET /api/auth/me` with the access cookie (session check, throttle, one transaction).
Any non-2xx answer fails the run (a 401 or 429 would measure the wrong thing).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import signal
import socket
import statistics
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
from stores import fresh_stores, server_env

from topsmile.auth.passwords import Hasher
from topsmile.clinics.schemas import ClinicSettings
from topsmile.core import db
from topsmile.core.embedded import EmbeddedUrls

PASSWORD = "Correct-Horse-Battery-9"
EMAIL = "bench@bench.example.com"
BENCH = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def seed(app_url: str, *, patient_id: uuid.UUID | None = None) -> str:
    """A clinic with the receptionist the benches sign in as (and a patient, when asked)."""
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    clinic_id = uuid.uuid4()
    await db.open_pool(app_url)
    try:
        async with db.tenant_transaction(clinic_id):
            await db.fetch(
                "INSERT INTO clinic (id, name, slug, timezone, currency, settings)"
                " VALUES ({}, 'Bench', {}, 'America/Sao_Paulo', 'brl', {}::jsonb)",
                clinic_id,
                slug,
                msgspec.json.encode(ClinicSettings()).decode(),
            )
            await db.fetch(
                "INSERT INTO app_user (clinic_id, email, password_hash, first_name, last_name,"
                " role) VALUES ({}, {}, {}, 'Ben', 'Ch', 'receptionist')",
                clinic_id,
                EMAIL,
                await Hasher().hash(PASSWORD),
            )
            if patient_id is not None:
                await db.fetch(
                    "INSERT INTO patient (id, clinic_id, first_name, last_name)"
                    " VALUES ({}, {}, 'Paula', 'Patient')",
                    patient_id,
                    clinic_id,
                )
    finally:
        await db.close_pool()
    return slug


async def start(
    *args: str, env: dict[str, str] | None = None, log: Path | None = None
) -> asyncio.subprocess.Process:
    """A Python child process; its stderr (where the access log goes) to `log`, if given."""
    sink = None if log is None else log.open("wb")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL if sink is None else sink,
        )
    finally:
        if sink is not None:
            sink.close()  # the child has its own descriptor


async def wait_ready(url: str, proc: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(600):
            if proc.returncode is not None:
                raise SystemExit(f"server for {url} exited with {proc.returncode}")
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


async def wrk(name: str, url: str, args: argparse.Namespace, *headers: str) -> Result:
    command = ["wrk", "--latency", f"-t{args.threads}", f"-c{args.connections}"]
    command += [f"-d{args.seconds}s", *(f"-H{header}" for header in headers), url]
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    out = (await proc.communicate())[0].decode()
    if proc.returncode != 0 or "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk on {name} was not clean:\n{out}")
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return Result(name, rps, _ms(percentiles["50"]), _ms(percentiles["99"]))


async def sign_in(base: str, slug: str) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        response = await client.post(
            "/api/auth/login", json={"clinic": slug, "email": EMAIL, "password": PASSWORD}
        )
        response.raise_for_status()
        access = client.cookies["access_token"]
        assert (await client.get("/api/auth/me")).status_code == 200
    return access


async def measure(args: argparse.Namespace, urls: EmbeddedUrls) -> list[list[Result]]:
    slug = await seed(urls.database_url)
    bare_port, app_port = free_port(), free_port()
    env = server_env(urls, TOPSMILE_RATE_API_PER_USER="100000000/1m")
    servers = [
        await start(str(BENCH / "bare_app.py"), str(bare_port)),
        await start("-m", "topsmile", "serve", "--port", str(app_port), env=env),
    ]
    try:
        bare, app = f"http://127.0.0.1:{bare_port}", f"http://127.0.0.1:{app_port}"
        await wait_ready(f"{bare}/bare", servers[0])
        await wait_ready(f"{app}/api/health", servers[1])
        cookie = f"Cookie: access_token={await sign_in(app, slug)}"
        routes = [
            ("bare Litestar route `GET /bare`", f"{bare}/bare", ()),
            ("`GET /api/health/live`", f"{app}/api/health/live", ()),
            ("`GET /api/auth/me` (signed in)", f"{app}/api/auth/me", (cookie,)),
        ]
        warm = argparse.Namespace(**{**vars(args), "seconds": 2})
        for name, url, headers in routes:
            await wrk(name, url, warm, *headers)
        # Rounds of the three routes back to back: this VM's speed drifts by tens of percent
        # over minutes, so each share compares routes measured seconds apart.
        rounds: list[list[Result]] = []
        for _ in range(args.rounds):
            rounds.append([await wrk(name, url, args, *headers) for name, url, headers in routes])
        return rounds
    finally:
        for server in servers:
            if server.returncode is None:
                server.send_signal(signal.SIGTERM)
                await server.wait()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the three routes")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("install wrk first (apt-get install -y wrk)")
    async with fresh_stores() as urls:
        rounds = await measure(args, urls)
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s over loopback after a 2 s"
        f" warm-up, {args.rounds} round(s) of the three routes back to back; one uvicorn"
        " worker each (uvloop + httptools)\n"
    )
    print("| round | route | req/s | p50 ms | p99 ms | of bare |")
    print("|---|---|---|---|---|---|")
    shares: list[list[float]] = [[] for _ in rounds[0]]
    for n, results in enumerate(rounds, 1):
        for i, r in enumerate(results):
            shares[i].append(r.rps / results[0].rps * 100)
            print(
                f"| {n} | {r.name} | {r.rps:.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} |"
                f" {shares[i][-1]:.0f} % |"
            )
    if len(rounds) > 1:
        print("\nMedian share of the bare route over the rounds (lowest, highest):")
        for results, route_shares in zip(rounds[0], shares, strict=True):
            print(
                f"- {results.name}: {statistics.median(route_shares):.0f} %"
                f" ({min(route_shares):.0f}-{max(route_shares):.0f} %)"
            )


if __name__ == "__main__":
    asyncio.run(main())
