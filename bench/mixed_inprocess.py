"""CPU per request of issue 13's three request kinds, in-process: ours and PostgreSQL's.

    uv run python bench/mixed_inprocess.py [--requests 300] [--rounds 5] [--profile KIND]

No server, no sockets, no wrk: on embedded PostgreSQL + Redis in a temp dir, one clinic
seeded like bench/mixed_load.py's (bench/availability_seed.py plus 200 patients) and its
receptionist signed in, `--requests` sequential requests of each kind go straight into the
ASGI app on one uvloop event loop:
- `avail`: a random line of bench/mixed_load.py's availability lines (one provider for 7
  days or every provider for one day; public route or staff);
- `list`: one day's appointment list (`pageSize=100`), staff;
- `book`: a booking POST (cookie + `X-CSRF-Token`) of a 15-minute check-up at a distinct
  (provider, start) from the second week on, each a 201 (the relay is off: its deliveries
  are not in the figure).
Per kind and round: this process's CPU (`time.process_time`) and PostgreSQL's (user +
system CPU of the postmaster's child processes, from /proc/<pid>/stat) per request; the
medians of `--rounds` interleaved rounds are printed. The access log is written as in
production, to a stderr pointed at /dev/null. `--profile avail|list|book` prints a cProfile
(CPU time) of that kind instead.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import random
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from availability import LIMITS
from mixed_load import BOOKING_FROM_DAY, Clinic, bookings, requests_file, seed_clinics
from procstat import postgres_cpu, postmaster_of
from request_path import EMAIL, PASSWORD
from request_path_inprocess import call, quiet_stderr, scope_for
from stores import app_settings, run_on_fresh_stores

import topsmile
from topsmile.app import create_app, lifespan
from topsmile.core.embedded import EmbeddedUrls


def scope(method: str, target: str, headers: dict[str, str]) -> dict[str, Any]:
    path, _, query = target.partition("?")
    base = scope_for(path, None)
    base["headers"] += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return {**base, "method": method, "query_string": query.encode()}


class Kinds:
    """The requests of each kind, as (ASGI scope, body, status expected)."""

    def __init__(self, clinic: Clinic, cookies: dict[str, str]) -> None:
        clinic.cookies = cookies
        jar = "; ".join(f"{k}={v}" for k, v in cookies.items())
        staff = {"cookie": jar}
        self.avail: list[dict[str, Any]] = []
        self.lists: list[dict[str, Any]] = []
        for line in requests_file([clinic]).splitlines():
            kind, who, target = line.split("\t")[:3]
            if kind == "A":
                self.avail.append(scope("GET", target, {} if who == "-" else staff))
            elif kind == "L":
                self.lists.append(scope("GET", target, staff))
        self.book_scope = scope(
            "POST",
            "/api/scheduling/appointments",
            {**staff, "content-type": "application/json", "x-csrf-token": cookies["csrf_token"]},
        )
        days = 28
        lines = bookings([clinic], BOOKING_FROM_DAY, days)
        self.bodies = iter(line.split("\t", 1)[1].encode() for line in lines)
        self.rng = random.Random(13)

    def next(self, kind: str) -> tuple[dict[str, Any], bytes, int]:
        if kind == "avail":
            return self.rng.choice(self.avail), b"", 200
        if kind == "list":
            return self.rng.choice(self.lists), b"", 200
        return self.book_scope, next(self.bodies), 201


async def run(app: Any, kinds: Kinds, kind: str, n: int, postmaster: int) -> tuple[float, float]:
    """(our CPU µs, PostgreSQL's CPU µs) per request over n sequential requests of a kind."""
    work = [kinds.next(kind) for _ in range(n)]
    pg, ours = postgres_cpu(postmaster), time.process_time()
    for scope_, body, expected in work:
        status = await call(app, scope_, body)
        if status != expected:
            raise SystemExit(f"{kind} {scope_['path']} answered {status}")
    ours, pg = time.process_time() - ours, postgres_cpu(postmaster) - pg
    return ours / n * 1e6, pg / n * 1e6


async def sign_in(app: Any, slug: str) -> dict[str, str]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post(
            "/api/auth/login", json={"clinic": slug, "email": EMAIL, "password": PASSWORD}
        )
        response.raise_for_status()
        return {k: v for k, v in client.cookies.items() if k in ("access_token", "csrf_token")}


async def measure(args: argparse.Namespace, urls: EmbeddedUrls) -> None:
    [clinic] = await seed_clinics(urls, 1)
    settings = app_settings(urls, **LIMITS)
    app = create_app(settings, run_relay=False)
    async with lifespan(app.app):
        await asyncio.sleep(0.2)  # the session cache subscribes
        kinds = Kinds(clinic, await sign_in(app, clinic.slug))
        postmaster = await postmaster_of(urls.database_url)
        names = args.kinds.split(",")
        with quiet_stderr():
            for kind in names:  # warm: plans, pools, imports
                await run(app, kinds, kind, 100, postmaster)
            if args.profile:
                profiler = cProfile.Profile(time.process_time)
                profiler.enable()
                await run(app, kinds, args.profile, args.requests, postmaster)
                profiler.disable()
            else:
                samples: dict[str, list[tuple[float, float]]] = {k: [] for k in names}
                # Interleaved rounds, so a burst of load elsewhere hits every kind alike.
                for _ in range(args.rounds):
                    for kind in names:
                        samples[kind].append(await run(app, kinds, kind, args.requests, postmaster))
    if args.profile:
        stats = pstats.Stats(profiler).sort_stats(args.sort)
        stats.print_stats(args.lines)
        if args.callers:
            stats.print_callers(args.callers)
        return
    print(f"{args.requests} sequential requests x {args.rounds} rounds, median CPU µs per request")
    print("| kind | ours µs (min) | PostgreSQL µs (min) | mix-weighted ours + PG µs |")
    print("|---|---|---|---|")
    weights = {"avail": 0.7, "list": 0.2, "book": 0.1}
    total = 0.0
    print(f"(topsmile from {Path(topsmile.__file__).parent})")
    for kind, values in samples.items():
        ours = statistics.median(o for o, _ in values)
        pg = statistics.median(p for _, p in values)
        total += weights[kind] * (ours + pg)
        least = f"{min(o for o, _ in values):.0f}) | {pg:.0f} ({min(p for _, p in values):.0f})"
        print(f"| {kind} | {ours:.0f} ({least} | {weights[kind] * (ours + pg):.0f} |")
    print(f"| mix (70/20/10) | | | {total:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", choices=["avail", "list", "book"])
    parser.add_argument("--kinds", default="avail,list,book", help="which kinds to time")
    parser.add_argument("--sort", default="tottime", help="pstats order for --profile")
    parser.add_argument("--lines", type=int, default=40, help="pstats lines for --profile")
    parser.add_argument("--callers", help="with --profile: also print the callers of these")
    args = parser.parse_args()
    booked = 100 + args.requests * (1 if args.profile else args.rounds)
    if booked > len(range(BOOKING_FROM_DAY, BOOKING_FROM_DAY + 28)) * 10 * 30:
        raise SystemExit("too many bookings for 28 days of distinct slots")

    run_on_fresh_stores(measure, args)


if __name__ == "__main__":
    main()
