"""Issue 13: the staff routes on a million appointments, against the near-empty figure.

    uv run python bench/scale.py [--requests 200] [--clinics 100] [--providers 20]
        [--patients 2000] [--appointments 10000]

One run, on embedded PostgreSQL + Redis in a temp dir:
1. Near-empty: the clinic of bench/availability_seed.py (10 providers, ~100 appointments in
   the week asked) on an otherwise empty database; the public one-provider availability of
   that week, `--requests` sequential requests straight into the ASGI app (as
   bench/availability.py's in-process figures).
2. bench/scale_seed.py's data (COPY, then ANALYZE): 100 clinics x 20 providers, 200,000
   patients, 1,000,000 appointments. The seed time is printed.
3. The same small-clinic request again, then in the busy clinic (`scale-000`): availability
   of one provider for the busy week from tomorrow, a busy day's appointment list (every
   appointment of the day: pageSize=100), stats for the last whole month, and patient
   search by a name prefix and by a phone fragment. p50/p95/p99 of each; then
   `EXPLAIN (ANALYZE, BUFFERS)` of every statement each route ran (recorded from one real
   request, replayed with its arguments as the application role under row-level security).
Ends with issue 13's table: figure, target, measured, met?
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

import asyncpg
from availability import asgi_scope, signed_in_app
from availability_seed import seed_clinic
from request_path import seed
from request_path_inprocess import call
from scale_seed import Scale, Scaled, seed_scale
from stores import fresh_stores

from topsmile.core import db
from topsmile.core.embedded import EmbeddedUrls

AGAIN = "availability, small clinic, among 1M rows"
Timings = dict[str, tuple[float, float, float]]  # name -> p50, p95, p99 ms
Statements = dict[str, list[tuple[str, tuple[Any, ...]]]]


@contextmanager
def recording() -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """Every statement the app sends through `db.fetch` meanwhile, with its arguments."""
    seen: list[tuple[str, tuple[Any, ...]]] = []
    original = db._run

    async def run(connection: Any, query: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        seen.append((query, args))
        return await original(connection, query, args)

    db._run = run
    try:
        yield seen
    finally:
        db._run = original


async def timed(
    urls: EmbeddedUrls, slug: str, requests: list[tuple[str, str]], n: int
) -> tuple[Timings, Statements]:
    """p50/p95/p99 of `n` sequential in-process requests each (20 warm-ups first), signed
    in to `slug`; and the statements one more request of each ran."""
    timings: Timings = {}
    statements: Statements = {}
    async with signed_in_app(urls, slug) as (app, client, cookie):
        for name, path in requests:
            answer = (await client.get(path, headers={"cookie": cookie})).raise_for_status()
            body = answer.json()
            size = len(body["slots"]) if "slots" in body else body.get("total", "-")
            scope = asgi_scope(path, cookie)
            for _ in range(20):
                await call(app, scope)
            samples = []
            for _ in range(n):
                began = time.perf_counter()
                if await call(app, scope) != 200:
                    raise SystemExit(f"{path} failed")
                samples.append((time.perf_counter() - began) * 1000)
            cuts = statistics.quantiles(samples, n=100)
            timings[name] = (cuts[49], cuts[94], cuts[98])
            print(f"| {name} | {size} | {cuts[49]:.2f} | {cuts[94]:.2f} | {cuts[98]:.2f} |")
            with recording() as seen:
                await call(app, scope)
            statements[name] = seen
    return timings, statements


async def explain(app_url: str, clinic_id: str, statements: Statements) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of each recorded statement, as the app role in the clinic
    (row-level security on); the second of two runs, so the cache is as warm as the app's."""
    connection = await asyncpg.connect(app_url)
    try:
        for name, seen in statements.items():
            print(f"\n#### {name}\n")
            for query, args in seen:
                async with connection.transaction():
                    await connection.execute(
                        f"SELECT set_config('app.clinic_id', '{clinic_id}', true)"
                    )
                    for _ in range(2):
                        plan = await connection.fetch("EXPLAIN (ANALYZE, BUFFERS) " + query, *args)
                print("```\n" + query.strip() + "\n")
                print("\n".join(row[0] for row in plan) + "\n```\n")
    finally:
        await connection.close()


def table_header() -> None:
    print("\n| request | slots / total | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|")


def week_query(service: str, provider: str, first: date) -> str:
    last = first + timedelta(days=6)
    return f"serviceId={service}&providerId={provider}&from={first}&to={last}"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    defaults = Scale()
    for name in ("clinics", "providers", "patients", "appointments"):
        parser.add_argument(f"--{name}", type=int, default=getattr(defaults, name))
    args = parser.parse_args()
    scale = Scale(args.clinics, args.providers, args.patients, args.appointments)
    print(f"load average at start: {os.getloadavg()}")
    async with fresh_stores() as urls:
        small_slug = await seed(urls.database_url)
        small = await seed_clinic(urls.database_url, small_slug)
        small_week = week_query(small.cleaning, small.providers[0], small.first)
        small_path = f"/api/public/clinics/{small_slug}/availability?{small_week}"
        near_name = "availability, small clinic, empty database"
        table_header()
        near, _ = await timed(urls, small_slug, [(near_name, small_path)], args.requests)

        scaled: Scaled = await seed_scale(urls.database_migration_url, scale)
        print(f"\nSeeded {scaled.rows} in {scaled.seconds:.1f} s (COPY + ANALYZE),")
        print(f"load average after seeding: {os.getloadavg()}")
        busy = scaled.clinics[0]
        service, provider = str(busy.services[1]), str(busy.providers[0])
        day = next(d for d in (scaled.first + timedelta(n) for n in range(7)) if d.weekday() < 5)
        month_end = date.today().replace(day=1) - timedelta(days=1)
        month = f"from={month_end.replace(day=1)}&to={month_end}"
        phone = (await patient_phone(urls.database_url, busy.id))[:-3]
        requests = [
            (
                "availability, busy clinic, one provider, 7 days",
                f"/api/public/clinics/{busy.slug}/availability?"
                + week_query(service, provider, scaled.first),
            ),
            (
                "appointments of a busy day (pageSize=100)",
                f"/api/scheduling/appointments?from={day}&to={day}&pageSize=100",
            ),
            ("stats, last whole month", f"/api/scheduling/stats?{month}"),
            ("patient search, name prefix `mar`", "/api/patients?q=mar"),
            (f"patient search, phone fragment `{phone}`", f"/api/patients?q={quote(phone)}"),
        ]
        table_header()
        # The small clinic's request again, now among 1M rows, with the busy clinic's in one
        # app and moment: the public route takes no session, so the busy clinic's sign-in
        # does not change it.
        measured, statements = await timed(
            urls, busy.slug, [(AGAIN, small_path), *requests], args.requests
        )
        statements.pop(AGAIN)
        print(f"load average after timing: {os.getloadavg()}")
        print("\n### Plans (EXPLAIN (ANALYZE, BUFFERS), application role, busy clinic)")
        await explain(urls.database_url, str(busy.id), statements)
    summary(near[near_name][0], measured, requests)


async def patient_phone(app_url: str, clinic_id: uuid.UUID) -> str:
    """One patient's phone as a receptionist would type part of it."""
    connection = await asyncpg.connect(app_url)
    try:
        async with connection.transaction():
            await connection.execute(f"SELECT set_config('app.clinic_id', '{clinic_id}', true)")
            phone: str = await connection.fetchval(
                "SELECT phone FROM patient WHERE phone IS NOT NULL ORDER BY phone LIMIT 1 OFFSET 7"
            )
    finally:
        await connection.close()
    return f"{phone[:3]} {phone[3:5]} {phone[5:]}"


def summary(near: float, measured: Timings, requests: list[tuple[str, str]]) -> None:
    again = measured[AGAIN][0]
    names = [name for name, _ in requests]
    limits = [(near * 1.5, "≤ 1.5 x near-empty"), (10.0, "≤ 10 ms"), (100.0, "≤ 100 ms")]
    limits += [(20.0, "≤ 20 ms"), (20.0, "≤ 20 ms")]
    print(
        f"\nnear-empty availability p50 {near:.2f} ms; the same clinic among 1M rows {again:.2f} ms"
    )
    print("\n| figure | target | measured p50 | met? |\n|---|---|---|---|")
    same = again <= near * 1.5
    print(
        f"| availability, the small clinic among 1M rows | ≤ 1.5 x near-empty | {again:.2f} ms |",
        end="",
    )
    print(f" {'yes' if same else 'no'} |")
    for name, (limit, target) in zip(names, limits, strict=True):
        p50 = measured[name][0]
        shown = f"{target} ({limit:.2f} ms)" if "near" in target else target
        print(f"| {name} | {shown} | {p50:.2f} ms | {'yes' if p50 <= limit else 'no'} |")


if __name__ == "__main__":
    asyncio.run(main())
