"""The clinic bench/availability.py measures: catalogue, hours, blocks and ~100 appointments.

One clinic (America/Sao_Paulo, 15-minute slot interval) with a 30-minute cleaning (provider
buffers 0/5 apply) and a 15-minute check-up (buffers 0/0), 10 providers offering both
(Mon-Fri 08:00-12:00 + 13:00-18:00, Sat 08:00-12:00), four one-hour time offs each and one
closure in the week from tomorrow (clinic time). Live appointments in that week, written as
booking writes them (occupied blocks included): provider 0 has a check-up at every working
hour's :00 outside its time off (46: each hour keeps one 30-minute slot), the others six each; 10
cancelled ones (not live) sit at provider 0's :30s. A 30-minute cleaning plus its 5-minute
buffer fits at most ~65 times into one provider's 49-hour week, so ~100 live appointments
in one provider's week would leave nothing to list: the ~100 are the clinic's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from topsmile.core import db
from topsmile.scheduling.availability import wall_instant

ZONE = ZoneInfo("America/Sao_Paulo")
PROVIDERS = 10
HOURS = {weekday: [(480, 720)] + ([(780, 1080)] if weekday <= 5 else []) for weekday in range(1, 7)}


@dataclass(frozen=True)
class Seeded:
    clinic_id: str
    cleaning: str
    checkup: str
    providers: list[str]
    patient: str
    first: date
    live: int
    live_of_first_provider: int


def first_day() -> date:
    return datetime.now(UTC).astimezone(ZONE).date() + timedelta(days=1)


def working_starts(day: date, step: int) -> list[datetime]:
    """Every `step`-minute start of a provider's working hours on local `day`."""
    return [
        wall_instant(day, minute, ZONE)
        for start, end in HOURS.get(day.isoweekday(), [])
        for minute in range(start, end, step)
    ]


async def _insert_appointment(
    seeded: dict[str, object],
    provider: str,
    service: str,
    start: datetime,
    minutes: int,
    status: str,
) -> None:
    end = start + timedelta(minutes=minutes)
    await db.fetch(
        "INSERT INTO appointment (clinic_id, patient_id, provider_id, service_id, starts_at,"
        " ends_at, occupied_start, occupied_end, status, price_amount, currency)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, 5000, 'brl')",
        seeded["clinic_id"],
        seeded["patient"],
        provider,
        service,
        start,
        end,
        start,
        end,
        status,
    )


async def seed_clinic(app_url: str, slug: str) -> Seeded:
    await db.open_pool(app_url)
    try:
        [clinic] = await db.fetch("SELECT id FROM clinic WHERE slug = {}", slug)
        clinic_id = clinic["id"]
        first = first_day()
        async with db.tenant_transaction(clinic_id):
            services = []
            # The cleaning takes the provider's buffers (None), the check-up has none (0).
            for name, minutes, buffers in (("Cleaning", 30, None), ("Check-up", 15, 0)):
                [row] = await db.fetch(
                    "INSERT INTO clinic_service (clinic_id, name, duration_minutes, price_amount,"
                    " buffer_before_minutes, buffer_after_minutes)"
                    " VALUES ({}, {}, {}, 5000, {}, {}) RETURNING id",
                    clinic_id,
                    name,
                    minutes,
                    buffers,
                    buffers,
                )
                services.append(row["id"])
            [patient] = await db.fetch(
                "INSERT INTO patient (clinic_id, first_name, last_name)"
                " VALUES ({}, 'Pat', 'Bench') RETURNING id",
                clinic_id,
            )
            seeded: dict[str, object] = {"clinic_id": clinic_id, "patient": patient["id"]}
            providers = []
            time_off: dict[object, list[tuple[datetime, datetime]]] = {}
            for n in range(PROVIDERS):
                [row] = await db.fetch(
                    "INSERT INTO provider (clinic_id, first_name, last_name,"
                    " buffer_before_minutes, buffer_after_minutes)"
                    " VALUES ({}, 'Dr', {}, 0, 5) RETURNING id",
                    clinic_id,
                    f"No{n}",
                )
                pid = row["id"]
                providers.append(pid)
                for service in services:
                    await db.fetch(
                        "INSERT INTO provider_service (clinic_id, provider_id, service_id)"
                        " VALUES ({}, {}, {})",
                        clinic_id,
                        pid,
                        service,
                    )
                for weekday, spans in HOURS.items():
                    for start_minute, end_minute in spans:
                        await db.fetch(
                            "INSERT INTO working_hours (clinic_id, provider_id, weekday,"
                            " start_minute, end_minute) VALUES ({}, {}, {}, {}, {})",
                            clinic_id,
                            pid,
                            weekday,
                            start_minute,
                            end_minute,
                        )
                time_off[pid] = []
                for day in range(0, 7, 2):
                    starts = wall_instant(first + timedelta(days=day), 660 + 60 * (n % 4), ZONE)
                    time_off[pid].append((starts, starts + timedelta(hours=1)))
                    await db.fetch(
                        "INSERT INTO time_off (clinic_id, provider_id, starts_at, ends_at)"
                        " VALUES ({}, {}, {}, {})",
                        clinic_id,
                        pid,
                        starts,
                        starts + timedelta(hours=1),
                    )
            closed = wall_instant(first + timedelta(days=3), 900, ZONE)
            await db.fetch(
                "INSERT INTO closure (clinic_id, starts_at, ends_at) VALUES ({}, {}, {})",
                clinic_id,
                closed,
                closed + timedelta(hours=2),
            )
            live = {pid: 0 for pid in providers}
            for offset in range(7):
                day = first + timedelta(days=offset)
                for n, pid in enumerate(providers):
                    hourly = working_starts(day, 60)
                    chosen = hourly if n == 0 else hourly[(n + offset) % 3 :: 9][:1]
                    for start in chosen:
                        end = start + timedelta(minutes=15)
                        if any(a < end and start < b for a, b in time_off[pid]):
                            continue
                        await _insert_appointment(seeded, pid, services[1], start, 15, "scheduled")
                        live[pid] += 1
            for start in (
                working_starts(first, 60)[:5] + working_starts(first + timedelta(1), 60)[:5]
            ):
                half = start + timedelta(minutes=30)
                await _insert_appointment(seeded, providers[0], services[0], half, 30, "cancelled")
    finally:
        await db.close_pool()
    return Seeded(
        str(clinic_id),
        str(services[0]),
        str(services[1]),
        [str(p) for p in providers],
        str(patient["id"]),
        first,
        sum(live.values()),
        live[providers[0]],
    )
