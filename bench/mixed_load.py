"""Issue 13: a mixed workload on `topsmile serve --workers 2`, driven by wrk over loopback.

    uv run python bench/mixed_load.py [--duration 60] [--connections 64] [--threads 2]
        [--clinics 3] [--warmup 5] [--mix 70,20,10] [--think-ms N] [--serve-log PATH]
        [--out PATH]

Needs `wrk` (apt-get install -y wrk). In one run, on embedded PostgreSQL + Redis in a temp
dir: seeds `--clinics` clinics like bench/availability_seed.py (each 10 providers offering a
30-minute cleaning and a 15-minute check-up, Mon-Sat hours, time off, a closure, ~100
appointments in the first week) plus 200 patients each, signs a receptionist of each clinic
in, starts `topsmile serve --workers 2` (throttles roomy, as the other benches), warms up
with the same mix for `--warmup` s, then runs
`wrk -t2 -c64 -d60s --latency --timeout 10s -s bench/mixed.lua`. Per request the Lua script picks:
- 70 % availability (a random clinic, day and service): one provider for 7 days, or every
  provider for one day, on the public route (patient rules, no session) or as staff;
- 20 % one day's appointment list (`pageSize=100`) as the clinic's signed-in receptionist;
- 10 % a booking POST (cookie + `X-CSRF-Token`) of a 15-minute check-up for a random
  patient, each at a distinct (clinic, provider, start) from the second week on, through
  the real route and its provider lock; taken starts answer 409, counted.
During the run the RSS of the serve process's two worker processes is sampled from
/proc/<pid>/status (VmRSS every 200 ms, VmHWM at the end). After it, the outbox deliveries
due but not yet made are counted, and the bench waits for the relays (in the workers) to make
them. Prints a markdown table (throughput, p50/p90/p99, answers by kind and status, peak RSS
per worker, the CPU the workers, PostgreSQL and wrk used during the run, load average before
and after, the relays' backlog and catch-up, and the disk's `fdatasync` latency during the
run from bench/disk.py) and writes it to `--out`. `--serve-log` keeps the server's log. Any
5xx answer or socket error fails the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import msgspec
from availability import serving, sign_in, stop
from availability_seed import PROVIDERS, Seeded, seed_clinic, working_starts
from disk import FsyncProbe
from procstat import children_of, cpu_of, postgres_cpu, postmaster_of, status_kib
from request_path import BENCH, seed
from stores import fresh_stores

from topsmile.core import db
from topsmile.core.embedded import EmbeddedUrls

LUA = BENCH / "mixed.lua"
PATIENTS = 200
BOOKING_FROM_DAY = 7  # the seeded week (days 0-6) stays as availability_seed wrote it
DAYS = 35  # availability and lists ask about days 0..DAYS-1


@dataclass
class Clinic:
    slug: str
    seeded: Seeded
    patients: list[str]
    cookies: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    rps: float
    requests: int
    latency_ms: dict[str, float]
    answers: Counter[tuple[str, int]]
    errors: str | None


async def seed_clinics(urls: EmbeddedUrls, n: int) -> list[Clinic]:
    clinics = []
    for _ in range(n):
        slug = await seed(urls.database_url)
        seeded = await seed_clinic(urls.database_url, slug)
        await db.open_pool(urls.database_url)
        try:
            async with db.tenant_transaction(uuid.UUID(seeded.clinic_id)):
                rows = await db.fetch(
                    "INSERT INTO patient (clinic_id, first_name, last_name)"
                    " SELECT {}, 'Load', 'Patient ' || g FROM generate_series(1, {}) g"
                    " RETURNING id",
                    uuid.UUID(seeded.clinic_id),
                    PATIENTS,
                )
        finally:
            await db.close_pool()
        clinics.append(Clinic(slug, seeded, [str(r["id"]) for r in rows]))
    return clinics


def requests_file(clinics: list[Clinic]) -> str:
    """The `C`, `A` and `L` lines of bench/mixed.lua."""
    lines = []
    for n, clinic in enumerate(clinics):
        jar = "; ".join(f"{k}={v}" for k, v in clinic.cookies.items())
        lines.append(f"C\t{n}\t{jar}\t{clinic.cookies['csrf_token']}")
        seeded = clinic.seeded
        public = f"/api/public/clinics/{clinic.slug}/availability"
        for offset in range(DAYS):
            first = seeded.first + timedelta(days=offset)
            week = f"from={first}&to={first + timedelta(days=6)}"
            day = f"from={first}&to={first}"
            for who, path in (("-", public), (str(n), "/api/scheduling/availability")):
                for p, provider in enumerate(seeded.providers):
                    service = (seeded.cleaning, seeded.checkup)[p % 2]
                    query = f"serviceId={service}&providerId={provider}&{week}"
                    lines.append(f"A\t{who}\t{path}?{query}")
                lines.append(f"A\t{who}\t{path}?serviceId={seeded.cleaning}&{day}")
            lines.append(f"L\t{n}\t/api/scheduling/appointments?{day}&pageSize=100")
    return "\n".join(lines) + "\n"


def bookings(clinics: list[Clinic], first_day: int, days: int) -> list[str]:
    """Distinct (clinic, provider, start) bookings, day by day, spread across providers."""
    rng = random.Random(13)
    lines = []
    for offset in range(first_day, first_day + days):
        day = clinics[0].seeded.first + timedelta(days=offset)
        for start in working_starts(day, 15):
            for p in range(PROVIDERS):
                for n, clinic in enumerate(clinics):
                    body = {
                        "serviceId": clinic.seeded.checkup,
                        "providerId": clinic.seeded.providers[p],
                        "patientId": rng.choice(clinic.patients),
                        "start": start.isoformat(),
                    }
                    lines.append(f"{n}\t{msgspec.json.encode(body).decode()}")
    return lines


def workers_of(pid: int) -> list[int]:
    """The uvicorn worker processes: children of the serve process (not mp's tracker)."""
    return [
        child
        for child in children_of(pid)
        if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


async def sample_rss(pids: list[int], peaks: dict[int, int], stop_at: asyncio.Event) -> None:
    while not stop_at.is_set():
        for pid in pids:
            peaks[pid] = max(peaks.get(pid, 0), status_kib(pid, "VmRSS"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop_at.wait(), 0.2)


def script(think_ms: int, beside: str) -> Path:
    """mixed.lua, or with `--think-ms` a copy that also has each connection wait that long
    between its requests (wrk's `delay()`): a paced load instead of a saturating one."""
    if not think_ms:
        return LUA
    paced = Path(beside).with_name("paced.lua")
    paced.write_text(f'dofile("{LUA}")\nfunction delay()\n  return {think_ms}\nend\n')
    return paced


async def run_wrk(base: str, files: tuple[str, str], seconds: int, args: argparse.Namespace) -> Run:
    command = ["wrk", "--latency", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s"]
    # A 10 s timeout (wrk's default is 2 s) so that slow answers are measured, not dropped.
    command += ["--timeout", "10s", "-s", str(script(args.think_ms, files[1])), base]
    command += ["--", *files, str(args.threads), args.mix]
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    out = (await proc.communicate())[0].decode()
    if proc.returncode != 0 or "Requests/sec" not in out:
        raise SystemExit(f"wrk failed:\n{out}")
    answers: Counter[tuple[str, int]] = Counter()
    for kind, status, n in re.findall(r"^count (\S+) (\d+) (\d+)$", out, re.MULTILINE):
        answers[kind, int(status)] += int(n)
    latency = {p: int(us) / 1000 for p, us in re.findall(r"^latency (\S+) (\d+)$", out, re.M)}
    errors = re.search(r"^\s+Socket errors:.*$", out, re.MULTILINE)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    if "FAIL" in out:
        print(out)
    return Run(rps, requests, latency, answers, errors.group(0).strip() if errors else None)


def table(
    run: Run,
    peaks: dict[int, int],
    hwm: dict[int, int],
    cpu: dict[str, float],
    loads: list[str],
) -> str:
    kinds = {"avail": "availability GET", "list": "appointment list GET", "book": "booking POST"}
    rows = [
        ("throughput", f"{run.rps:.0f} req/s ({run.requests} requests)"),
        (
            "latency p50 / p90 / p99",
            " / ".join(f"{run.latency_ms[p]:.1f}" for p in ("50", "90", "99")) + " ms",
        ),
        ("latency p99.9 / max", f"{run.latency_ms['99.9']:.1f} / {run.latency_ms['max']:.1f} ms"),
    ]
    for kind, name in kinds.items():
        mine = {s: n for (k, s), n in sorted(run.answers.items()) if k == kind}
        share = sum(mine.values()) / max(1, run.requests) * 100
        statuses = ", ".join(f"{n} x {s}" for s, n in mine.items()) or "none"
        rows.append((f"{name} ({share:.0f} %)", statuses))
    unknown = {s: n for (k, s), n in run.answers.items() if k not in kinds}
    if unknown:
        rows.append(("answers without a kind", str(unknown)))
    classes = Counter(f"{s // 100}xx" for (_, s), n in run.answers.items() for _ in range(n))
    rows.append(("by status class", ", ".join(f"{c}: {n}" for c, n in sorted(classes.items()))))
    rows.append(("socket errors", run.errors or "none"))
    for n, pid in enumerate(sorted(peaks), 1):
        rows.append(
            (
                f"worker {n} (pid {pid}) RSS",
                f"peak {peaks[pid] / 1024:.0f} MiB sampled, VmHWM {hwm[pid] / 1024:.0f} MiB",
            )
        )
    for name, used in cpu.items():
        per_request = used / max(1, run.requests) * 1000
        figure = f"{used:.1f} s, {per_request:.2f} ms per request"
        rows.append((f"CPU (user + system): {name}", figure))
    rows.append(("load average (1, 5, 15 min) before / after", f"{loads[0]} / {loads[1]}"))
    return "| figure | value |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)


async def relay_catch_up(database_url: str, limit_seconds: float = 300.0) -> tuple[int, float]:
    """The deliveries due but not yet made when the run ends (the relays run in the workers,
    beside the requests), and how many seconds after that the last of them was made."""
    due = (
        "SELECT count(*) AS n FROM event_delivery"
        " WHERE status = 'pending' AND next_attempt_at <= now()"
    )
    started = time.monotonic()
    await db.open_pool(database_url)
    try:
        backlog = -1
        while time.monotonic() - started < limit_seconds:
            async with db.tenant_transaction(None):
                [row] = await db.fetch(due)
            if backlog < 0:
                backlog = int(row["n"])
            if not row["n"]:
                return backlog, time.monotonic() - started
            await asyncio.sleep(0.25)
    finally:
        await db.close_pool()
    raise SystemExit(f"the relays had not caught up {limit_seconds:.0f} s after the run")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


async def measure(args: argparse.Namespace, urls: EmbeddedUrls, workdir: Path) -> str:
    clinics = await seed_clinics(urls, args.clinics)
    server, base = await serving(urls, 2, args.serve_log)
    try:
        for clinic in clinics:
            clinic.cookies = await sign_in(base, clinic.slug)
        requests = workdir / "requests.tsv"
        requests.write_text(requests_file(clinics))
        # Day by day from the second week; the warm-up books days after the run's.
        main_days = 7 * args.booking_weeks
        files = {}
        for name, first, days in (
            ("main", BOOKING_FROM_DAY, main_days),
            ("warm", BOOKING_FROM_DAY + main_days, 7),
        ):
            files[name] = workdir / f"bookings-{name}.tsv"
            files[name].write_text("\n".join(bookings(clinics, first, days)) + "\n")
        pids = workers_of(server.pid)
        if len(pids) != 2:
            raise SystemExit(f"expected 2 worker processes under {server.pid}, found {pids}")
        postmaster = await postmaster_of(urls.database_url)
        loads = [load_average()]
        warm = await run_wrk(base, (str(requests), str(files["warm"])), args.warmup, args)
        if any(s >= 500 for _, s in warm.answers):
            raise SystemExit(f"5xx during the warm-up: {warm.answers}")
        peaks: dict[int, int] = {}
        stop_at = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(pids, peaks, stop_at))
        # Workers, PostgreSQL and wrk (the one child this process reaps during the run).
        before = (sum(map(cpu_of, pids)), postgres_cpu(postmaster), children_cpu())
        with FsyncProbe(workdir) as disk:  # same file system as the database (a temp dir)
            run = await run_wrk(base, (str(requests), str(files["main"])), args.duration, args)
        stop_at.set()
        await sampler
        after = (sum(map(cpu_of, pids)), postgres_cpu(postmaster), children_cpu())
        names = ("both workers", "PostgreSQL (postmaster and children)", "wrk")
        cpu = {name: b - a for name, a, b in zip(names, before, after, strict=True)}
        hwm = {pid: status_kib(pid, "VmHWM") for pid in pids}
        loads.append(load_average())
        backlog, caught_up = await relay_catch_up(urls.database_url)
    finally:
        await stop(server)
    paced = (
        f" each connection pausing {args.think_ms} ms between requests," if args.think_ms else ""
    )
    head = (
        f"`wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency -s"
        f" bench/mixed.lua` on `topsmile serve --workers 2`, {args.clinics} clinics,"
        f" mix {args.mix},{paced}"
        f" after a {args.warmup} s warm-up; {os.cpu_count()} CPUs, Python"
        f" {'.'.join(map(str, sys.version_info[:3]))},"
        f" {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
    )
    text = head + table(run, peaks, hwm, cpu, loads)
    text += (
        f"\n| outbox deliveries due, not yet made, at the end | {backlog}, all made"
        f" {caught_up:.1f} s later |"
        f"\n| disk: 8 KiB write + fdatasync every 20 ms during the run | {disk.summary()} |"
    )
    args.out.write_text(text + "\n")
    fives = sum(n for (_, s), n in run.answers.items() if s >= 500)
    if fives or run.errors:
        print(text + f"\n\n(written to {args.out})")
        raise SystemExit(f"FAILED: {fives} answers were 5xx; socket errors: {run.errors}")
    return text


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=60, help="seconds of the measured run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mix", default="70,20,10", help="percent availability,lists,bookings")
    parser.add_argument("--clinics", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=5, help="seconds of warm-up load")
    parser.add_argument(
        "--think-ms", type=int, default=0, help="pause per connection between requests (paced)"
    )
    parser.add_argument("--booking-weeks", type=int, default=4, help="distinct slots to book")
    parser.add_argument(
        "--serve-log", type=Path, help="keep the server's log (access lines with durationMs) here"
    )
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "topsmile-mixed-load.md"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("install wrk first (apt-get install -y wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="topsmile-mixed-"))
    try:
        async with fresh_stores() as urls:
            text = await measure(args, urls, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(text)
    print(f"\n(written to {args.out})")


if __name__ == "__main__":
    asyncio.run(main())
