"""Upload throughput for 5 MiB files against `topsmile serve` (one worker), and its memory.

    uv run python bench/uploads.py [--clients 1,4,16] [--seconds 10] [--size-mib 5]

Starts embedded PostgreSQL + Redis and a storage directory in a temp dir, seeds a clinic
with a receptionist and a patient, starts `topsmile serve` (one uvicorn worker, the usual
uvloop + httptools options), signs in, then for each client count runs that many concurrent
httpx clients in this process, each posting `POST /api/upload` back to back for `--seconds`
(after a 2 s warm-up). While they run it samples the server process's resident memory every
20 ms. Prints a markdown table: uploads/s, MiB/s, p50/p99 latency, peak RSS and its growth
over the idle server. Any non-201 answer fails the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from request_path import free_port, seed
from stores import fresh_stores, server_env

from topsmile.core.embedded import EmbeddedUrls

PASSWORD = "Correct-Horse-Battery-9"
EMAIL = "bench@bench.example.com"
MiB = 1024 * 1024


@dataclass(frozen=True)
class Result:
    clients: int
    uploads: int
    seconds: float
    p50_ms: float
    p99_ms: float
    peak_rss_mib: float
    idle_rss_mib: float


async def seed_with_patient(app_url: str) -> tuple[str, uuid.UUID]:
    patient_id = uuid.uuid4()
    return await seed(app_url, patient_id=patient_id), patient_id


def rss_mib(process: psutil.Process) -> float:
    total = 0
    for each in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += each.memory_info().rss
    return total / MiB


async def peak_rss(process: psutil.Process, stop: asyncio.Event) -> float:
    """The highest resident memory of the server seen until `stop` is set."""
    peak = rss_mib(process)
    while not stop.is_set():
        peak = max(peak, rss_mib(process))
        await asyncio.sleep(0.02)
    return peak


async def run_clients(
    base: str,
    cookies: httpx.Cookies,
    patient_id: uuid.UUID,
    data: bytes,
    clients: int,
    seconds: float,
) -> list[float]:
    """Latencies (s) of every upload the clients finished within `seconds`."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    form = {"category": "xray", "patientId": str(patient_id)}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=120) as http:
            headers = {"X-CSRF-Token": cookies["csrf_token"]}
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                files = {"file": ("scan.pdf", data, "application/pdf")}
                response = await http.post("/api/upload", files=files, data=form, headers=headers)
                if response.status_code != 201:
                    raise SystemExit(f"upload answered {response.status_code}: {response.text}")
                latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


async def measure(args: argparse.Namespace, urls: EmbeddedUrls, storage: Path) -> list[Result]:
    slug, patient_id = await seed_with_patient(urls.database_url)
    port = free_port()
    env = server_env(
        urls, TOPSMILE_RATE_API_PER_USER="100000000/1m", TOPSMILE_STORAGE_DIR=str(storage)
    )
    server = await asyncio.create_subprocess_exec(
        "topsmile", "serve", "--port", str(port), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    data = b"%PDF-1.7\n" + os.urandom(args.size_mib * MiB - 9)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for _ in range(600):
                try:
                    if (await http.get("/api/health/live")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            login = {"clinic": slug, "email": EMAIL, "password": PASSWORD}
            (await http.post("/api/auth/login", json=login)).raise_for_status()
            cookies = http.cookies
        process = psutil.Process(server.pid)
        idle = rss_mib(process)  # signed in, no upload yet
        results = []
        for clients in args.clients:
            await run_clients(base, cookies, patient_id, data, clients, 2)  # warm-up
            stop = asyncio.Event()
            sampler = asyncio.create_task(peak_rss(process, stop))
            started = time.perf_counter()
            latencies = await run_clients(base, cookies, patient_id, data, clients, args.seconds)
            elapsed = time.perf_counter() - started
            stop.set()
            peak = await sampler
            cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
            results.append(
                Result(
                    clients, len(latencies), elapsed, cuts[49] * 1000, cuts[98] * 1000, peak, idle
                )
            )
        return results
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGTERM)
            await server.wait()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--clients", default="1,4,16", type=lambda s: [int(n) for n in s.split(",")]
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--size-mib", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="topsmile-bench-files-") as storage:
        async with fresh_stores() as urls:
            results = await measure(args, urls, Path(storage))
    print(
        f"{args.size_mib} MiB PDFs, {args.seconds:.0f} s per row after a 2 s warm-up, one worker\n"
    )
    print("| clients | uploads/s | MiB/s | p50 ms | p99 ms | peak RSS MiB | RSS before, MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        rate = r.uploads / r.seconds
        print(
            f"| {r.clients} | {rate:.1f} | {rate * args.size_mib:.0f} | {r.p50_ms:.0f} |"
            f" {r.p99_ms:.0f} | {r.peak_rss_mib:.0f} | {r.idle_rss_mib:.0f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
