"""Typed rows: Piccolo `Table` classes against raw SQL decoded into row structs.

    uv run python bench/row_access.py [--users 2000] [--runs 3000]

Issue 9 asked us to decide between Piccolo `Table` classes for every table and raw SQL that
returns typed row structs, with measurements. This starts its own embedded PostgreSQL,
seeds one clinic with `--users` users and then, as the application role inside
`db.tenant_transaction` (row-level security on, as the app runs), times one primary-key read
and one single-row update of `app_user` each way, `--runs` times after warm-up, printing a
Markdown table of the median and p99 in microseconds. Everything runs on one event loop, so
the figures are CPU cost per query plus one loopback round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
from piccolo.columns import UUID, Boolean, Text, Timestamptz
from piccolo.table import Table
from stores import fresh_stores

from topsmile.core import db, rows
from topsmile.users.tables import UserRow


class AppUserTable(Table, tablename="app_user"):
    """What a Piccolo table for `app_user` would be (this benchmark only)."""

    id = UUID(primary_key=True)
    clinic_id = UUID()
    email = Text()
    password_hash = Text()
    first_name = Text()
    last_name = Text()
    role = Text()
    email_verified = Boolean()
    active = Boolean()
    created_at = Timestamptz()
    updated_at = Timestamptz()


async def seed(owner_url: str, users: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    conn = await asyncpg.connect(owner_url)
    clinic_id = uuid.uuid4()
    try:
        transaction = conn.transaction()
        await transaction.start()
        # Row-level security is forced on the owner too: the seed names its clinic.
        await conn.execute("SELECT set_config('app.clinic_id', $1, true)", str(clinic_id))
        await conn.execute(
            "INSERT INTO clinic (id, name, slug, timezone, currency, settings)"
            " VALUES ($1, 'Bench', 'bench', 'UTC', 'usd', '{}')",
            clinic_id,
        )
        ids = await conn.fetch(
            "INSERT INTO app_user (clinic_id, email, password_hash, first_name, last_name, role)"
            " SELECT $1, 'u' || g || '@bench.example.com', 'x', 'First', 'Last', 'receptionist'"
            " FROM generate_series(1, $2) AS g RETURNING id",
            clinic_id,
            users,
        )
        await transaction.commit()
    finally:
        await conn.close()
    return clinic_id, [row["id"] for row in ids]


async def timed(
    clinic_id: uuid.UUID,
    ids: list[uuid.UUID],
    runs: int,
    work: Callable[[uuid.UUID], Awaitable[object]],
) -> tuple[float, float]:
    samples = []
    for n in range(runs + 200):
        user_id = ids[n % len(ids)]
        async with db.tenant_transaction(clinic_id):
            started = time.perf_counter()
            await work(user_id)
            elapsed = time.perf_counter() - started
        if n >= 200:
            samples.append(elapsed * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99)]


async def main(users: int, runs: int) -> None:
    async with fresh_stores() as urls:
        clinic_id, ids = await seed(urls.database_migration_url, users)
        await db.open_pool(urls.database_url)
        AppUserTable._meta.db = db.DB
        try:

            async def piccolo_read(user_id: uuid.UUID) -> object:
                return await AppUserTable.select().where(AppUserTable.id == user_id).first()

            async def piccolo_object(user_id: uuid.UUID) -> object:
                return await AppUserTable.objects().where(AppUserTable.id == user_id).first()

            async def raw_dict(user_id: uuid.UUID) -> object:
                return (await db.fetch("SELECT * FROM app_user WHERE id = {}", user_id))[0]

            async def raw_struct(user_id: uuid.UUID) -> object:
                return await rows.fetch_only(
                    UserRow, "SELECT * FROM app_user WHERE id = {}", user_id
                )

            async def piccolo_update(user_id: uuid.UUID) -> object:
                return await AppUserTable.update({AppUserTable.first_name: "Renamed"}).where(
                    AppUserTable.id == user_id
                )

            async def raw_update(user_id: uuid.UUID) -> object:
                return await rows.update_one(UserRow, user_id, {"first_name": "Renamed"})

            cases = [
                ("read by id: Piccolo `select().first()` (dict)", piccolo_read),
                ("read by id: Piccolo `objects().first()` (Table instance)", piccolo_object),
                ("read by id: raw SQL (dict)", raw_dict),
                ("read by id: raw SQL → `UserRow` (`rows.fetch_only`)", raw_struct),
                ("update one row: Piccolo `update().where()`", piccolo_update),
                ("update one row: raw SQL → `UserRow` (`rows.update_one`)", raw_update),
            ]
            print("| query | median µs | p99 µs |\n|---|---|---|")
            for name, work in cases:
                median, p99 = await timed(clinic_id, ids, runs, work)
                print(f"| {name} | {median:.0f} | {p99:.0f} |")
        finally:
            await db.close_pool()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3000)
    options = parser.parse_args()
    asyncio.run(main(options.users, options.runs))
