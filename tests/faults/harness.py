"""What every fault test starts from: its own embedded PostgreSQL + Redis (never the test
session's, which these tests stop), a clinic seeded through the CLI and the API, and a load
of concurrent HTTP clients that records every answer.

Nothing here touches the in-process pool (`core.db`): the session's app may hold it open on
the session's database, so the tests talk to their stores over HTTP, subprocesses and their
own asyncpg connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.api.auth_fixtures import PASSWORD, csrf
from tests.api.test_availability import ALL_DAY, SAO_PAULO, local_today, new_provider, new_service
from topsmile.core.embedded import EmbeddedStores, EmbeddedUrls

CLIENT_TIMEOUT = 5.0  # seconds; a request taking longer counts as a hang
PROBLEM_JSON = "application/problem+json"
APPOINTMENTS = "/api/scheduling/appointments"


@contextlib.contextmanager
def own_stores() -> Iterator[tuple[EmbeddedStores, EmbeddedUrls]]:
    """Stores in a temp dir of their own (not migrated yet: `create_clinic` does it), stopped
    and removed after."""
    warnings.filterwarnings("ignore", module="platformdirs")
    directory = Path(tempfile.mkdtemp(prefix="topsmile-faults-"))
    directory.chmod(0o755)  # PostgreSQL runs as its own user
    stores = EmbeddedStores(directory)
    try:
        yield stores, stores.start("faults")
    finally:
        # The data is thrown away: no shutdown checkpoint to wait for.
        with contextlib.suppress(subprocess.CalledProcessError):
            stores.postgres.stop_server("immediate")
        stores.release()
        shutil.rmtree(directory, ignore_errors=True)


def store_env(urls: EmbeddedUrls, directory: Path, **extra: str) -> dict[str, str]:
    """The environment of a `topsmile` child on these stores. Every client is 127.0.0.1 and
    one user: the per-IP and per-user limits get room (their own tests use the defaults)."""
    rates = {
        f"TOPSMILE_RATE_{name}": "1000000/1h"
        for name in ("LOGIN_PER_IP", "REGISTER_PER_IP", "SIGNUP_PER_IP", "PUBLIC_PER_IP")
    }
    return {
        **os.environ,
        "TOPSMILE_ENV": "test",
        "DATABASE_URL": urls.database_url,
        "DATABASE_MIGRATION_URL": urls.database_migration_url,
        "REDIS_URL": urls.redis_url,
        "TOPSMILE_STORAGE_DIR": str(directory / "uploads"),
        "TOPSMILE_RATE_API_PER_USER": "1000000/1m",
        **rates,
        **extra,
    }


_RUN_EACH = """
import json, sys
from topsmile.cli import main
for command in sys.argv[1:]:
    if code := main(json.loads(command)):
        sys.exit(code)
"""


def topsmile(env: dict[str, str], *commands: list[str]) -> str:
    """Run `topsmile` CLI commands in one child process (one interpreter start, not one per
    command: the fault tests keep to their time budget on a busy machine)."""
    done = subprocess.run(
        [sys.executable, "-c", _RUN_EACH, *(json.dumps(command) for command in commands)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@dataclass
class Clinic:
    id: uuid.UUID
    slug: str
    admin_email: str
    service_id: str = ""
    provider_id: str = ""
    patient_id: str = ""


def create_clinic(env: dict[str, str]) -> Clinic:
    """Migrate the stores and create a clinic with its admin, through the CLI."""
    slug = f"f-{uuid.uuid4().hex[:10]}"
    email = f"admin@{slug}.example.com"
    out = topsmile(
        env,
        ["migrate"],
        [
            "clinic",
            "create",
            "--name",
            "Faults",
            "--slug",
            slug,
            "--timezone",
            "America/Sao_Paulo",
            "--currency",
            "brl",
            "--admin-email",
            email,
            "--admin-password",
            PASSWORD,
        ],
    )
    clinic_id = out.split("clinic created: id=", 1)[1].split()[0]
    return Clinic(uuid.UUID(clinic_id), slug, email)


async def sign_in(client: httpx.AsyncClient, clinic: Clinic) -> None:
    body = {"clinic": clinic.slug, "email": clinic.admin_email, "password": PASSWORD}
    response = await client.post("/api/auth/login", json=body)
    assert response.status_code == 200, response.text


async def open_clinic(base_url: str, clinic: Clinic) -> None:
    """A provider open around the clock, a 30-minute service and a patient with an email."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as admin:
        await sign_in(admin, clinic)
        clinic.service_id = await new_service(admin)
        clinic.provider_id = await new_provider(admin, [clinic.service_id], ALL_DAY)
        patient = {"firstName": "Pia", "lastName": "Doe", "email": f"pia@{clinic.slug}.example"}
        made = await admin.post("/api/patients", json=patient, headers=csrf(admin))
        assert made.status_code == 201, made.text
        clinic.patient_id = str(made.json()["id"])


@dataclass(frozen=True)
class Outcome:
    kind: str  # "availability" or "booking"
    started: float  # monotonic
    ended: float
    status: int | None  # None: no HTTP answer (the error is in `error`)
    content_type: str = ""
    problem_type: str = ""
    appointment_id: str = ""
    error: str = ""


@dataclass
class Load:
    """`clients` concurrent signed-in clients, each alternating an availability read and a
    booking of a fresh slot, until `stop()`; every answer is kept in `outcomes`."""

    base_url: str
    clinic: Clinic
    clients: int = 8
    outcomes: list[Outcome] = field(default_factory=list)
    _slot: int = 0
    _stopping: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as admin:
            await sign_in(admin, self.clinic)
            cookies = dict(admin.cookies)
        for _ in range(self.clients):
            self._tasks.append(asyncio.create_task(self._client(cookies)))

    async def stop(self) -> list[Outcome]:
        self._stopping = True
        await asyncio.gather(*self._tasks)
        return self.outcomes

    def _next_start(self) -> datetime:
        """Slots in order from tomorrow, every 30 minutes: each booking asks a free one."""
        n, self._slot = self._slot, self._slot + 1
        day = local_today() + timedelta(days=1 + n // 48)
        local = datetime.combine(day, clock(n % 48 // 2, 30 * (n % 2)), SAO_PAULO)
        return local.astimezone(UTC)

    async def _client(self, cookies: dict[str, str]) -> None:
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=CLIENT_TIMEOUT, cookies=cookies
        ) as client:
            while not self._stopping:
                await self._call(client, "availability")
                await self._call(client, "booking")

    async def _call(self, client: httpx.AsyncClient, kind: str) -> None:
        started = time.monotonic()
        try:
            if kind == "availability":
                day = (local_today() + timedelta(days=1 + self._slot // 48)).isoformat()
                params = {"serviceId": self.clinic.service_id, "from": day, "to": day}
                response = await client.get("/api/scheduling/availability", params=params)
            else:
                body = {
                    "serviceId": self.clinic.service_id,
                    "providerId": self.clinic.provider_id,
                    "patientId": self.clinic.patient_id,
                    "start": self._next_start().isoformat(),
                }
                response = await client.post(APPOINTMENTS, json=body, headers=csrf(client))
        except httpx.HTTPError as exc:
            self.outcomes.append(Outcome(kind, started, time.monotonic(), None, error=repr(exc)))
            await asyncio.sleep(0.05)
            return
        ctype = response.headers.get("content-type", "")
        data: Any = response.json() if "json" in ctype else {}
        self.outcomes.append(
            Outcome(
                kind,
                started,
                time.monotonic(),
                response.status_code,
                ctype,
                str(data.get("type", "")) if response.status_code >= 400 else "",
                str(data.get("id", "")) if response.status_code == 201 else "",
            )
        )
        if response.status_code >= 500:
            await asyncio.sleep(0.05)  # an outage answers at once: don't spin


async def health(base_url: str) -> httpx.Response:
    """`GET /api/health` on a fresh client (the load's clients may be stuck in the outage)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=CLIENT_TIMEOUT) as probe:
        return await probe.get("/api/health")


def ok(outcome: Outcome) -> bool:
    return outcome.status in (200, 201)


def between(outcomes: list[Outcome], start: float, end: float) -> list[Outcome]:
    return [o for o in outcomes if start <= o.started and o.ended <= end]


def assert_clean(outcomes: list[Outcome]) -> None:
    """No 500, no 5xx but a problem-JSON 503, no request without an answer, and only the
    answers a healthy booking loop gives (200, 201) otherwise."""
    for o in outcomes:
        assert o.status is not None, f"no answer: {o}"
        assert o.ended - o.started < CLIENT_TIMEOUT, f"too slow: {o}"
        if o.status == 503:
            assert o.content_type.startswith(PROBLEM_JSON), o
            assert o.problem_type == "/problems/service-unavailable", o
        else:
            assert o.status in (200, 201), o


async def read(urls: EmbeddedUrls, clinic: Clinic, sql: str) -> list[asyncpg.Record]:
    """Rows of the clinic, read on a connection of our own (as the app does: the application
    role, inside the clinic's tenant setting)."""
    conn = await asyncpg.connect(urls.database_url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.clinic_id', $1, true)", str(clinic.id))
            return await conn.fetch(sql)
    finally:
        await conn.close()


async def booked_ids(urls: EmbeddedUrls, clinic: Clinic) -> set[str]:
    return {str(row["id"]) for row in await read(urls, clinic, "SELECT id FROM appointment")}


async def confirmations(urls: EmbeddedUrls, clinic: Clinic) -> dict[str, tuple[str, int]]:
    """Booked appointment id -> (status, attempts) of its confirmation email's delivery."""
    rows = await read(
        urls,
        clinic,
        "SELECT o.entity_id, d.status, d.attempts FROM event_delivery d"
        " JOIN event_outbox o ON o.id = d.event_id"
        " WHERE o.name = 'appointment.created' AND d.handler = 'email'",
    )
    return {str(r["entity_id"]): (str(r["status"]), int(r["attempts"])) for r in rows}


async def undelivered(
    urls: EmbeddedUrls, clinic: Clinic, booked: set[str], seconds: float
) -> tuple[list[str], dict[str, tuple[str, int]]]:
    """Waits up to `seconds` for every booking's confirmation to be delivered; returns the
    ones still not delivered, and every confirmation's (status, attempts)."""
    deadline = time.monotonic() + seconds
    while True:
        found = await confirmations(urls, clinic)
        pending = [a for a in booked if found.get(a, ("",))[0] != "delivered"]
        if not pending or time.monotonic() > deadline:
            return pending, found
        await asyncio.sleep(0.5)
