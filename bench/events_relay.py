"""Events relayed per second by 1 and 2 `topsmile worker` processes.

    uv run python bench/events_relay.py [--events 3000] [--runs 3]

Starts its own embedded PostgreSQL + Redis in a temp dir, publishes `appointment.reminder_due`
events (each goes to three handlers: audit, email, sms — console backends), then times how
long N worker processes take to deliver them all. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from stores import fresh_stores, server_env

from topsmile.config import load_settings
from topsmile.core import db, rows
from topsmile.core.actor import Actor
from topsmile.core.rows import Row
from topsmile.events import bus
from topsmile.events.outbox import publish
from topsmile.events.types import AppointmentNotice, Recipient, new_event
from topsmile.scheduling.events import APPOINTMENT_REMINDER_DUE
from topsmile.wiring import build_bus


def _event(clinic: uuid.UUID) -> object:
    start = datetime.now(UTC) + timedelta(days=1)
    notice = AppointmentNotice(
        appointment_id=uuid.uuid4(),
        recipient=Recipient(
            first_name="Ana", email="ana@example.com", phone="+5511987654321", sms_opt_in=True
        ),
        clinic_name="Bench",
        timezone="America/Sao_Paulo",
        service_name="Cleaning",
        provider_name="Dr. Lima",
        start=start,
        end=start + timedelta(minutes=30),
    )
    return new_event(
        APPOINTMENT_REMINDER_DUE,
        notice,
        actor=Actor.system(clinic),
        entity_id=notice.appointment_id,
    )


class _Pending(Row, frozen=True):
    n: int


class _Delivered(Row, frozen=True):
    n: int
    seconds: float


async def _pending() -> int:
    async with db.tenant_transaction(None):
        pending = await rows.fetch_only(
            _Pending, "SELECT count(*) AS n FROM event_delivery WHERE status = 'pending'"
        )
    return pending.n


async def one_run(env: dict[str, str], events: int, processes: int) -> float:
    clinic = uuid.uuid4()
    for start in range(0, events, 200):
        async with db.tenant_transaction(clinic):
            for _ in range(min(200, events - start)):
                await publish(_event(clinic))  # type: ignore[arg-type]
    deliveries = await _pending()
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "topsmile",
            "worker",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(processes)
    ]
    deadline = time.monotonic() + 600
    while await _pending() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
        await worker.wait()
    # From the first delivery to the last: process start-up is not relaying.
    async with db.tenant_transaction(None):
        delivered = await rows.fetch_only(
            _Delivered,
            "SELECT count(*) AS n, extract(epoch FROM max(d.delivered_at) - min(d.delivered_at))"
            "::float8 AS seconds FROM event_delivery d JOIN event_outbox e ON e.id = d.event_id"
            " WHERE e.clinic_id = {} AND d.status = 'delivered'",
            clinic,
        )
    assert delivered.n == deliveries, "not every delivery was made"
    return deliveries / delivered.seconds


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    async with fresh_stores() as urls:
        env = server_env(urls, TOPSMILE_ENV="test")
        settings = load_settings(environ=env, dotenv=None)
        await db.open_pool(urls.database_url)
        bus.install(build_bus(settings))
        print(f"{args.events} events x 3 handlers, {args.runs} runs each\n")
        print("| worker processes | deliveries/s (median) | runs |")
        print("|---|---|---|")
        for processes in (1, 2):
            rates = [await one_run(env, args.events, processes) for _ in range(args.runs)]
            runs = ", ".join(f"{r:.0f}" for r in rates)
            print(f"| {processes} | {statistics.median(rates):.0f} | {runs} |")
        await db.close_pool()


if __name__ == "__main__":
    asyncio.run(main())
