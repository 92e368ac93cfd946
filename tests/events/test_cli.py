"""`topsmile events dead` and `topsmile events retry ID` for operators."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from tests.conftest import store_env
from tests.events.conftest import FAST, reminder
from topsmile.config import Settings
from topsmile.core import db
from topsmile.events.bus import ALL_EVENTS, Bus
from topsmile.events.outbox import publish
from topsmile.events.relay import Relay
from topsmile.events.types import Event

pytestmark = pytest.mark.usefixtures("app")


async def _always_fails(event: Event, attempt: int) -> None:
    raise TimeoutError("smtp.example.com timed out")


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "topsmile", "events", *args],
        env={**os.environ, **store_env(settings)},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_dead_deliveries_are_listed_and_retried(private_bus: Bus, settings: Settings) -> None:
    private_bus.subscribe("broken", [ALL_EVENTS], _always_fails)
    clinic = uuid.uuid4()
    event = reminder(clinic)
    async with db.tenant_transaction(clinic):
        await publish(event)
    relay = Relay(private_bus, FAST)
    while await relay.run_once():
        pass

    listed = _cli(settings, "dead")
    assert listed.returncode == 0, listed.stderr
    line = next(row for row in listed.stdout.splitlines() if str(event.id) in row)
    assert "broken" in line
    assert "TimeoutError" in line

    retried = _cli(settings, "retry", str(event.id))
    assert retried.returncode == 0, retried.stderr
    assert "1 dead delivery scheduled again" in retried.stdout
    async with db.tenant_transaction(None):
        [row] = await db.fetch(
            "SELECT status, attempts FROM event_delivery WHERE event_id = {}", event.id
        )
    assert (row["status"], row["attempts"]) == ("pending", 0)

    assert _cli(settings, "retry", str(event.id)).returncode == 1  # nothing dead any more
    assert _cli(settings, "retry", "not-a-uuid").returncode == 2
