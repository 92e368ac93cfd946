"""One Stripe event delivered at the same moment to two app processes is applied once: the
payment row lock and the `stripe_event` id insert hold across processes, not only tasks."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import uuid
from pathlib import Path

import httpx

from tests.api.auth_fixtures import SeededClinic
from tests.api.payment_fixtures import (
    WEBHOOK_SECRET,
    create_intent,
    intent_object,
    outbox_events,
    own_appointment,
)
from tests.conftest import store_env
from tests.support.stripe import event_body, signed
from topsmile.config import Settings
from topsmile.core import db

# Each process verifies the signed body and applies it, as the webhook route does.
DELIVER = textwrap.dedent(
    """
    import asyncio, os, sys
    from topsmile.config import load_settings
    from topsmile.core import db
    from topsmile.events import bus
    from topsmile.payments import webhooks
    from topsmile.wiring import build_bus

    async def main():
        settings = load_settings()
        await db.open_pool(settings.database_url)
        bus.install(build_bus(settings))
        body = open(sys.argv[1], "rb").read()
        for _ in range(int(sys.argv[2])):
            event = webhooks.verified_event(settings, body, os.environ["SIGNATURE"])
            await webhooks.apply(event)
        await db.close_pool()

    asyncio.run(main())
    """
)


async def test_two_processes_apply_one_event_once(
    payers: dict[str, httpx.AsyncClient],
    clinic: SeededClinic,
    settings: Settings,
    tmp_path: Path,
) -> None:
    appointment_id = await own_appointment(clinic, payers)
    created = await create_intent(payers["patient"], appointment_id)
    payment_id = created.json()["paymentId"]
    intent_id = created.json()["clientSecret"].split("_secret_")[0]
    event_id = "evt_" + uuid.uuid4().hex[:20]
    body_file = tmp_path / "event.json"
    body = event_body(event_id, "payment_intent.succeeded", intent_object(intent_id))
    body_file.write_bytes(body)
    env = {
        **os.environ,
        **store_env(settings),
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SIGNATURE": signed(body, WEBHOOK_SECRET),
    }
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", DELIVER, str(body_file), "3", env=env
        )
        for _ in range(2)
    ]
    codes = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in processes)), 120)
    assert codes == [0, 0]
    assert len(await outbox_events(clinic.id, "payment.succeeded", payment_id)) == 1
    async with db.tenant_transaction(clinic.id):
        stored = await db.fetch("SELECT id FROM stripe_event WHERE payment_id = {}", payment_id)
    assert [r["id"] for r in stored] == [event_id]
    shown = await payers["admin"].get(f"/api/payments/{payment_id}")
    assert shown.json()["status"] == "succeeded"
