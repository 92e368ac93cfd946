"""Issue 13's data: 100 clinics x 20 providers, 200,000 patients, 1,000,000 appointments.

    uv run python bench/scale_seed.py [--clinics 100] [--providers 20] [--patients 2000]
        [--appointments 10000]

Written with COPY (asyncpg `copy_records_to_table`), not the API, as the owner role: the
tables force row-level security even on their owner and COPY FROM refuses a table whose
policies apply, so the one seeding transaction lifts FORCE for its COPYs and puts it back
before it commits (nobody else ever sees it lifted). Every row satisfies every constraint
the app's writes do: composite `(clinic_id, …)` keys, the exclusion constraint on occupied
blocks, unique active emails and phones. The patients' search keys (`full_name_key`,
`phone_digits`, …) are stored generated columns, so PostgreSQL computes them exactly as for
the app's inserts. Ends with ANALYZE.

Per clinic (America/Sao_Paulo, 15-minute grid): three services (check-up 15 min with no
buffers, cleaning 30 and filling 45 with the provider's 0/5), `--providers` providers with
bench/availability_seed.py's hours (Mon-Fri 08-12 + 13-18, Sat 08-12), a receptionist to
sign in as, `--patients` patients (names of bench/patient_search.py, 90 % with an email, 87 %
with a mobile, 5 % inactive, created over three years) and `--appointments` appointments
from two years ago to 90 days ahead. Each appointment has a one-hour cell of its provider to
itself (start at :00 or :15, occupied block at most 50 minutes), so blocks never overlap. The
two weeks from tomorrow are busy (about half of every provider's hours booked), the rest is
spread evenly. Past ones are completed (84 %, most paid), cancelled (10 %) or no-shows;
future ones scheduled, confirmed, pending or cancelled.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
from availability_seed import HOURS, ZONE, first_day
from patient_search import DOMAINS, FIRST_NAMES, LAST_NAMES
from request_path import EMAIL, PASSWORD
from stores import fresh_stores

from topsmile.auth.passwords import Hasher
from topsmile.clinics.schemas import ClinicSettings
from topsmile.scheduling.availability import wall_instant

SERVICES = (("Check-up", 15, 0, 8000), ("Cleaning", 30, None, 15000), ("Filling", 45, None, 25000))
BUSY_DAYS = 14  # from tomorrow: about half of every provider's hours are booked
TABLES = (
    "clinic",
    "app_user",
    "clinic_service",
    "provider",
    "provider_service",
    "working_hours",
    "patient",
    "appointment",
)


@dataclass(frozen=True)
class Scale:
    clinics: int = 100
    providers: int = 20
    patients: int = 2000
    appointments: int = 10000
    past_days: int = 730
    future_days: int = 90
    slug_prefix: str = "scale"


@dataclass
class ScaleClinic:
    id: uuid.UUID
    slug: str
    services: list[uuid.UUID] = field(default_factory=list)
    providers: list[uuid.UUID] = field(default_factory=list)
    patients: list[uuid.UUID] = field(default_factory=list)


@dataclass(frozen=True)
class Scaled:
    clinics: list[ScaleClinic]
    first: date  # the first day of the busy fortnight
    rows: dict[str, int]
    seconds: float


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _cells(scale: Scale, first: date) -> tuple[list[datetime], list[datetime]]:
    """Every provider's one-hour working cells: (the busy fortnight's, all the others)."""
    busy, other = [], []
    for offset in range(-scale.past_days, scale.future_days):
        day = first + timedelta(days=offset)
        for start, end in HOURS.get(day.isoweekday(), []):
            for minute in range(start, end, 60):
                cell = wall_instant(day, minute, ZONE)
                (busy if 0 <= offset < BUSY_DAYS else other).append(cell)
    return busy, other


def _status(rng: random.Random, start: datetime, now: datetime) -> tuple[str, str]:
    """(status, payment status) as a clinic's history would have them."""
    roll = rng.random()
    if start < now:
        if roll < 0.84:
            return "completed", "paid" if rng.random() < 0.85 else "unpaid"
        return ("cancelled" if roll < 0.94 else "no_show"), "unpaid"
    if roll < 0.62:
        return "scheduled", "unpaid"
    if roll < 0.90:
        return "confirmed", "paid" if rng.random() < 0.3 else "unpaid"
    return ("pending" if roll < 0.94 else "cancelled"), "unpaid"


def _appointments(
    rng: random.Random,
    clinic: ScaleClinic,
    cells: tuple[list[datetime], list[datetime]],
    per_provider: int,
    now: datetime,
) -> list[tuple[object, ...]]:
    busy, other = cells
    records: list[tuple[object, ...]] = []
    for provider in clinic.providers:
        mine = [c for c in busy if rng.random() < 0.5][:per_provider]
        mine += rng.sample(other, per_provider - len(mine))
        for cell in mine:
            service = rng.randrange(len(SERVICES))
            _, minutes, buffers, price = SERVICES[service]
            start = cell + timedelta(minutes=15 * rng.randrange(2) if minutes <= 30 else 0)
            end = start + timedelta(minutes=minutes)
            occupied_end = end + timedelta(minutes=5 if buffers is None else 0)
            status, paid = _status(rng, start, now)
            created = min(start - timedelta(hours=rng.randrange(2, 24 * 40)), now)
            cancelled_at = late = None
            if status == "cancelled":
                cancelled_at = created + (min(start, now) - created) * rng.random()
                late = start - cancelled_at < timedelta(hours=24)
            records.append(
                (
                    uuid.uuid4(),
                    clinic.id,
                    rng.choice(clinic.patients),
                    provider,
                    clinic.services[service],
                    start,
                    end,
                    start,
                    occupied_end,
                    status,
                    price,
                    "brl",
                    paid,
                    "Patient asked" if cancelled_at else None,
                    cancelled_at,
                    bool(late),
                    created,
                    max(created, cancelled_at or created),
                )
            )
    return records


def _patients(clinic: ScaleClinic, count: int, now: datetime) -> list[tuple[object, ...]]:
    """Patient rows of bench/patient_search.py's shapes: every value a function of n."""
    records: list[tuple[object, ...]] = []
    for n in range(1, count + 1):
        first = FIRST_NAMES[(n * 31) % len(FIRST_NAMES)]
        last = LAST_NAMES[(n * 17 + n // 97) % len(LAST_NAMES)]
        email = f"{_ascii(first)}.{_ascii(last)}{n}@{DOMAINS[n % len(DOMAINS)]}"
        # 7919 is coprime with 10^8: the last eight digits never repeat within a clinic.
        phone = f"+55{11 + (n * 13) % 89}9{(n * 7919) % 100_000_000:08d}"
        created = now - timedelta(minutes=(n * 7727) % (3 * 365 * 1440))
        patient = uuid.uuid4()
        clinic.patients.append(patient)
        records.append(
            (
                patient,
                clinic.id,
                first,
                last,
                email if n % 10 else None,
                phone if n % 8 else None,
                date(1940, 1, 1) + timedelta(days=(n * 37) % 29000),
                n % 3 == 0,
                "inactive" if n % 20 == 0 else "active",
                created,
                created,
            )
        )
    return records


async def _copy(
    connection: asyncpg.Connection, table: str, columns: str, records: list[Any]
) -> None:
    await connection.copy_records_to_table(table, records=records, columns=columns.split())


async def _seed_clinic(
    connection: asyncpg.Connection,
    scale: Scale,
    number: int,
    cells: tuple[list[datetime], list[datetime]],
    password_hash: str,
    now: datetime,
) -> ScaleClinic:
    rng = random.Random(number)  # a run is reproducible, clinic by clinic
    clinic = ScaleClinic(uuid.uuid4(), f"{scale.slug_prefix}-{number:03d}")
    settings = msgspec.json.encode(ClinicSettings()).decode()
    await _copy(
        connection,
        "clinic",
        "id name slug timezone currency settings",
        [(clinic.id, f"Clinic {number}", clinic.slug, ZONE.key, "brl", settings)],
    )
    await _copy(
        connection,
        "app_user",
        "clinic_id email password_hash first_name last_name role",
        [(clinic.id, EMAIL, password_hash, "Ben", "Ch", "receptionist")],
    )
    services = []
    for name, minutes, buffers, price in SERVICES:
        clinic.services.append(uuid.uuid4())
        services.append((clinic.services[-1], clinic.id, name, minutes, price, buffers, buffers))
    await _copy(
        connection,
        "clinic_service",
        "id clinic_id name duration_minutes price_amount"
        " buffer_before_minutes buffer_after_minutes",
        services,
    )
    clinic.providers = [uuid.uuid4() for _ in range(scale.providers)]
    await _copy(
        connection,
        "provider",
        "id clinic_id first_name last_name buffer_before_minutes buffer_after_minutes",
        [(p, clinic.id, "Dr", f"No{n:02d}", 0, 5) for n, p in enumerate(clinic.providers)],
    )
    await _copy(
        connection,
        "provider_service",
        "clinic_id provider_id service_id",
        [(clinic.id, p, s) for p in clinic.providers for s in clinic.services],
    )
    await _copy(
        connection,
        "working_hours",
        "clinic_id provider_id weekday start_minute end_minute",
        [
            (clinic.id, p, weekday, start, end)
            for p in clinic.providers
            for weekday, spans in HOURS.items()
            for start, end in spans
        ],
    )
    await _copy(
        connection,
        "patient",
        "id clinic_id first_name last_name email phone date_of_birth sms_opt_in status"
        " created_at updated_at",
        _patients(clinic, scale.patients, now),
    )
    per_provider = scale.appointments // scale.providers
    await _copy(
        connection,
        "appointment",
        "id clinic_id patient_id provider_id service_id starts_at ends_at occupied_start"
        " occupied_end status price_amount currency payment_status cancellation_reason"
        " cancelled_at late_cancellation created_at updated_at",
        _appointments(rng, clinic, cells, per_provider, now),
    )
    return clinic


async def seed_scale(owner_url: str, scale: Scale) -> Scaled:
    """Seed `scale` with COPY as the owner (`owner_url`), then ANALYZE; time both."""
    began = time.perf_counter()
    password_hash = await Hasher().hash(PASSWORD)
    first, now = first_day(), datetime.now(UTC)
    cells = _cells(scale, first)
    connection = await asyncpg.connect(owner_url)
    try:
        async with connection.transaction():
            for table in TABLES:
                await connection.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            clinics = [
                await _seed_clinic(connection, scale, n, cells, password_hash, now)
                for n in range(scale.clinics)
            ]
            counts = {  # while the owner still sees every clinic
                table: await connection.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
                for table in ("patient", "appointment")
            }
            for table in TABLES:
                await connection.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        await connection.execute(f"ANALYZE {', '.join(TABLES)}")
    finally:
        await connection.close()
    return Scaled(clinics, first, counts, time.perf_counter() - began)


async def main() -> None:
    parser = argparse.ArgumentParser()
    defaults = Scale()
    for name in ("clinics", "providers", "patients", "appointments"):
        parser.add_argument(f"--{name}", type=int, default=getattr(defaults, name))
    args = parser.parse_args()
    scale = Scale(args.clinics, args.providers, args.patients, args.appointments)
    async with fresh_stores() as urls:
        scaled = await seed_scale(urls.database_migration_url, scale)
    print(f"Seeded {scaled.rows} in {scaled.seconds:.1f} s (COPY + ANALYZE)")


if __name__ == "__main__":
    asyncio.run(main())
