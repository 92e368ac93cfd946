"""What the mixed load's server could answer if a request did nothing of its own: the floor
under docs/PERFORMANCE.md "Mixed load".

    uv run python bench/floor.py [--seconds 15] [--connections 64] [--threads 2]

On fresh embedded PostgreSQL + Redis, bench/floor_app.py on two uvicorn workers (as
`topsmile serve --workers 2`), driven by `wrk` with bench/mixed_load.py's connections and
threads: `GET /bare` (Litestar alone), `GET /one-read` (one pooled `SELECT 1`) and
`GET /tenant-read` (the pool and one tenant transaction around one indexed read). Prints
req/s, p50 and p99 of each, and the mean latency a closed loop of that many connections
implies (connections / throughput). `--rounds N` measures the three routes N times.
"""

from __future__ import annotations

import argparse
import asyncio

from availability import stop
from request_path import BENCH, free_port, start, wait_ready, wrk
from stores import fresh_stores, server_env

from topsmile.core.embedded import EmbeddedUrls


async def measure(args: argparse.Namespace, urls: EmbeddedUrls) -> None:
    port = free_port()
    app = await start(str(BENCH / "floor_app.py"), str(port), "2", env=server_env(urls))
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(f"{base}/tenant-read", app)
        paths = ("/bare", "/one-read", "/tenant-read") * args.rounds
        results = [await wrk(path, f"{base}{path}", args) for path in paths]
    finally:
        await stop(app)
    print(f"\n`wrk -t{args.threads} -c{args.connections} -d{args.seconds}s`, two workers:\n")
    print("| route | req/s | p50 ms | p99 ms | closed-loop mean ms |\n|---|---|---|---|---|")
    for r in results:
        mean = args.connections / r.rps * 1000
        print(f"| `{r.name}` | {r.rps:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {mean:.1f} |")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="measure the routes N times")
    args = parser.parse_args()
    async with fresh_stores() as urls:
        await measure(args, urls)


if __name__ == "__main__":
    asyncio.run(main())
