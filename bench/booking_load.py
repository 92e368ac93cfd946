"""Booking under load for bench/availability.py: bookings/s on distinct slots, and a race.

Both run against `topsmile serve --workers 2` over loopback, signed in as a receptionist
(staff rules), booking the 15-minute check-up for the seeded patient.
- Throughput: `wrk` with a Lua script (bench/booking.lua) POSTs a different
  (provider, start) on every request: the 15-minute starts of every provider's working hours
  from the third week on, so no two requests want the same slot. The figure is the
  appointments the database holds afterwards divided by wrk's duration; any answer but
  201 is counted and reported (the list of distinct slots is bounded: wrk repeats the last
  one of a thread when it runs out, and those 409s show up as refused).
- Race: 100 concurrent POSTs for one slot on 100 connections warmed beforehand (sessions,
  pools and prepared statements too, by a round of 100 concurrent not-bookable POSTs); the
  time from the first send to the last answer, and how many got 201 / 409.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import httpx
import msgspec
from availability_seed import PROVIDERS, Seeded, working_starts
from request_path import BENCH

from topsmile.core import db

LUA = BENCH / "booking.lua"
RACERS = 100


@dataclass(frozen=True)
class Bookings:
    per_second: float
    booked: int
    requests: int
    refused: int
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class Race:
    seconds: float
    answers: Counter[int]
    winner_seconds: float  # when the 201 arrived
    median_seconds: float  # when half the answers had arrived


def _bodies(seeded: Seeded, weeks: int) -> list[bytes]:
    """One booking per distinct slot, days interleaved across providers."""
    bodies = []
    for offset in range(14, 14 + 7 * weeks):
        day = seeded.first + timedelta(days=offset)
        for start in working_starts(day, 15):
            for provider in seeded.providers[:PROVIDERS]:
                body = {
                    "serviceId": seeded.checkup,
                    "providerId": provider,
                    "patientId": seeded.patient,
                    "start": start.isoformat(),
                }
                bodies.append(msgspec.json.encode(body))
    return bodies


async def _booked(app_url: str, seeded: Seeded) -> int:
    await db.open_pool(app_url)
    try:
        async with db.tenant_transaction(uuid.UUID(seeded.clinic_id)):
            [row] = await db.fetch(
                "SELECT count(*) AS n FROM appointment WHERE starts_at >= {}",
                working_starts(seeded.first + timedelta(days=14), 15)[0],
            )
    finally:
        await db.close_pool()
    return int(row["n"])


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


async def bookings_per_second(
    base: str, headers: list[str], app_url: str, seeded: Seeded, args: argparse.Namespace
) -> Bookings:
    with tempfile.NamedTemporaryFile("wb", suffix=".jsonl") as file:
        file.write(b"\n".join(_bodies(seeded, args.booking_weeks)) + b"\n")
        file.flush()
        command = ["wrk", "--latency", f"-t{args.threads}", f"-c{args.connections}"]
        command += [f"-d{args.booking_seconds}s", "-s", str(LUA)]
        command += [f"-H{header}" for header in headers]
        command += [f"{base}/api/scheduling/appointments", "--", file.name, str(args.threads)]
        proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
        out = (await proc.communicate())[0].decode()
    if proc.returncode != 0 or "Socket errors" in out or "99%" not in out:
        raise SystemExit(f"wrk on bookings was not clean:\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    booked = await _booked(app_url, seeded)
    return Bookings(
        booked / args.booking_seconds,
        booked,
        requests,
        int(refused.group(1)) if refused else 0,
        _ms(percentiles["50"]),
        _ms(percentiles["99"]),
    )


async def race(base: str, cookies: dict[str, str], seeded: Seeded) -> Race:
    """RACERS staff requests for one free slot at once, each on its own warm connection."""
    start = working_starts(seeded.first + timedelta(days=13), 15)[0]
    body = {
        "serviceId": seeded.checkup,
        "providerId": seeded.providers[0],
        "patientId": seeded.patient,
        "start": start.isoformat(),
    }
    limits = httpx.Limits(max_connections=RACERS, max_keepalive_connections=RACERS)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        client.cookies.update(cookies)
        headers = {"X-CSRF-Token": cookies["csrf_token"]}
        # Warm like a running server: the 100 connections open, both workers' session
        # caches filled, and their database pools grown with the booking statements prepared
        # (a round of 100 concurrent bookings at 03:00, outside working hours: 422).
        warm = await asyncio.gather(*(client.get("/api/auth/me") for _ in range(RACERS)))
        assert all(r.status_code == 200 for r in warm)
        night = {**body, "start": (start - timedelta(hours=5)).isoformat()}
        warm = await asyncio.gather(
            *(
                client.post("/api/scheduling/appointments", json=night, headers=headers)
                for _ in range(RACERS)
            )
        )
        assert all(r.status_code == 422 for r in warm), {r.status_code for r in warm}
        began = time.perf_counter()

        async def one() -> tuple[int, float]:
            response = await client.post("/api/scheduling/appointments", json=body, headers=headers)
            return response.status_code, time.perf_counter() - began

        answers = await asyncio.gather(*(one() for _ in range(RACERS)))
        seconds = time.perf_counter() - began
    times = sorted(t for _, t in answers)
    winner = next(t for code, t in answers if code == 201)
    return Race(seconds, Counter(code for code, _ in answers), winner, times[RACERS // 2])
