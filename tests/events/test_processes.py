"""Delivery across real processes: `topsmile worker` relays, crashes lose nothing,
two relays deliver each event exactly once per handler, over real SMTP and Twilio HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.conftest import store_env
from tests.events.conftest import SID, TOKEN, reminder
from tests.support.smtp import LocalSmtp
from tests.support.twilio import LocalTwilio
from topsmile.config import Settings
from topsmile.core import db
from topsmile.core.context import begin_request
from topsmile.events.outbox import publish

pytestmark = pytest.mark.usefixtures("app")

PHONE = "+5511912345678"  # only these tests' events text this number
Spawn = Callable[..., Awaitable[asyncio.subprocess.Process]]


@pytest.fixture
def worker_env(settings: Settings, smtp: LocalSmtp, twilio: LocalTwilio) -> dict[str, str]:
    return {
        **os.environ,
        **store_env(settings),
        **smtp.env(),
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM_NUMBER": "+15005550006",
        "TWILIO_API_BASE": twilio.base_url,
    }


@pytest.fixture
def spawn(tmp_path: Path) -> Spawn:
    """Start a process whose logs go to a file (a pipe nobody reads would block it)."""

    async def start(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
        log = (tmp_path / f"proc-{uuid.uuid4().hex[:8]}.log").open("wb")
        return await asyncio.create_subprocess_exec(
            sys.executable, *args, env=env, stdout=log, stderr=log
        )

    return start


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.wait(), 30)
    assert proc.returncode == 0


async def _pending(event_ids: list[uuid.UUID]) -> int:
    async with db.tenant_transaction(None):
        rows = await db.fetch(
            "SELECT count(*) AS n FROM event_delivery"
            " WHERE event_id = ANY({}::uuid[]) AND status <> 'delivered'",
            event_ids,
        )
    return int(rows[0]["n"])


async def _wait_delivered(event_ids: list[uuid.UUID], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while await _pending(event_ids):
        assert time.monotonic() < deadline, f"{await _pending(event_ids)} deliveries still open"
        await asyncio.sleep(0.1)


async def _audit_count(clinic: uuid.UUID) -> Counter[uuid.UUID]:
    async with db.tenant_transaction(clinic):
        rows = await db.fetch("SELECT event_id FROM audit_log")
    return Counter(row["event_id"] for row in rows)


async def test_committed_event_reaches_email_sms_and_audit_through_a_worker(
    worker_env: dict[str, str], smtp: LocalSmtp, twilio: LocalTwilio, spawn: Spawn
) -> None:
    clinic = uuid.uuid4()
    begin_request("req-events-e2e")
    event = reminder(clinic, phone=PHONE)
    async with db.tenant_transaction(clinic):
        await publish(event)
    worker = await spawn(worker_env, "-m", "topsmile", "worker")
    try:
        await _wait_delivered([event.id], 60)
    finally:
        await _stop(worker)

    [mail] = [m for m in smtp.received if m.message["X-Event-ID"] == str(event.id)]
    assert mail.recipients == ["ana@example.com"]
    assert mail.message["X-Event-ID"] == str(event.id)
    assert mail.message["X-Request-ID"] == "req-events-e2e"
    [sms] = [m for m in twilio.received if m.to == PHONE]
    assert sms.account_sid == SID
    assert (await _audit_count(clinic))[event.id] == 1
    async with db.tenant_transaction(clinic):
        rows = await db.fetch(
            "SELECT channel, status, request_id, template FROM notification WHERE event_id = {}",
            event.id,
        )
    assert {(r["channel"], r["status"]) for r in rows} == {("email", "sent"), ("sms", "sent")}
    assert {r["request_id"] for r in rows} == {"req-events-e2e"}
    assert {r["template"] for r in rows} == {"appointment_reminder"}


PUBLISH_THEN_DIE = textwrap.dedent(
    """
    import asyncio, os, signal, sys, uuid
    from tests.events.conftest import SID, TOKEN, reminder
    from topsmile.config import load_settings
    from topsmile.core import db
    from topsmile.events import bus
    from topsmile.events.outbox import publish
    from topsmile.events.relay import Relay, RelayConfig
    from topsmile.wiring import build_bus

    async def main():
        settings = load_settings()
        await db.open_pool(settings.database_url)
        event_bus = build_bus(settings)
        bus.install(event_bus)
        clinic = uuid.UUID(sys.argv[1])
        for _ in range(5):
            async with db.tenant_transaction(clinic):
                await publish(reminder(clinic, phone="+5511912345678"))
        # Claim some deliveries as if about to send them, then die before delivering.
        config = RelayConfig(lease_seconds=2, handler_timeout_seconds=1, send_timeout_seconds=0)
        await Relay(event_bus, config).claim(4)
        print("committed", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
    """
)


async def test_events_of_a_killed_process_are_delivered_by_the_next(
    worker_env: dict[str, str], smtp: LocalSmtp, twilio: LocalTwilio, spawn: Spawn
) -> None:
    clinic = uuid.uuid4()
    env = {**worker_env, "PYTHONPATH": os.getcwd()}
    doomed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PUBLISH_THEN_DIE,
        str(clinic),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(doomed.communicate(), 60)
    assert doomed.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert b"committed" in out
    async with db.tenant_transaction(clinic):
        rows = await db.fetch("SELECT id FROM event_outbox WHERE clinic_id = {}", clinic)
    event_ids = [row["id"] for row in rows]
    assert len(event_ids) == 5
    assert smtp.received == []

    worker = await spawn(worker_env, "-m", "topsmile", "worker")
    try:
        await _wait_delivered(event_ids, 60)
    finally:
        await _stop(worker)
    mine = {str(i) for i in event_ids}
    assert sorted(
        m.message["X-Event-ID"] for m in smtp.received if m.message["X-Event-ID"] in mine
    ) == sorted(mine)
    assert len([m for m in twilio.received if m.to == PHONE]) == 5
    assert set((await _audit_count(clinic)).values()) == {1}


async def test_two_relay_processes_deliver_each_of_1000_events_once_per_handler(
    worker_env: dict[str, str], smtp: LocalSmtp, twilio: LocalTwilio, spawn: Spawn
) -> None:
    clinic = uuid.uuid4()
    events = [reminder(clinic, phone=PHONE) for _ in range(1000)]
    for start in range(0, len(events), 100):
        async with db.tenant_transaction(clinic):
            for event in events[start : start + 100]:
                await publish(event)
    event_ids = [event.id for event in events]

    workers = [await spawn(worker_env, "-m", "topsmile", "worker") for _ in range(2)]
    try:
        await _wait_delivered(event_ids, 240)
    finally:
        for worker in workers:
            await _stop(worker)

    mine = {str(i) for i in event_ids}
    emails = Counter(
        m.message["X-Event-ID"] for m in smtp.received if m.message["X-Event-ID"] in mine
    )
    assert len(emails) == 1000
    assert set(emails.values()) == {1}
    assert set(emails) == {str(i) for i in event_ids}
    assert len([m for m in twilio.received if m.to == PHONE]) == 1000
    audit = await _audit_count(clinic)
    assert len(audit) == 1000
    assert set(audit.values()) == {1}
    async with db.tenant_transaction(None):
        rows = await db.fetch(
            "SELECT handler, max(attempts) AS most, count(*) AS n FROM event_delivery"
            " WHERE event_id = ANY({}::uuid[]) GROUP BY handler",
            event_ids,
        )
    assert {r["handler"]: (r["n"], r["most"]) for r in rows} == {
        "audit": (1000, 1),
        "email": (1000, 1),
        "sms": (1000, 1),
    }
