"""Email and SMS go out once per (event, handler): leases that outlive a send, and a check
against the notifications log before talking to the provider (SPEC §7)."""

from __future__ import annotations

import asyncio
import contextvars
import time
import uuid
from collections import Counter
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from tests.events.conftest import FAST, SID, TOKEN, reminder
from tests.support.smtp import LocalSmtp
from tests.support.twilio import LocalTwilio
from topsmile.config import Settings
from topsmile.core import db
from topsmile.events.bus import Bus, Subscription
from topsmile.events.outbox import publish
from topsmile.events.relay import Claim, Relay, RelayConfig
from topsmile.events.types import Event
from topsmile.notifications import log
from topsmile.notifications.handlers import EMAIL_TEMPLATES
from topsmile.wiring import build_bus

pytestmark = pytest.mark.usefixtures("app")

T = TypeVar("T")


def real_handlers(smtp: LocalSmtp, twilio: LocalTwilio) -> tuple[Subscription, Subscription]:
    """The app's own email and SMS subscriptions (`build_bus`), over the local servers."""
    settings = Settings(
        env="test",
        email_backend="smtp",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_starttls=False,
        sms_backend="twilio",
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_from_number="+15005550006",
        twilio_api_base=twilio.base_url,
    )
    wired = build_bus(settings)
    return wired.subscription("email"), wired.subscription("sms")


def subscribe_notifier(bus: Bus, smtp: LocalSmtp, twilio: LocalTwilio) -> tuple[str, str]:
    """The real email and SMS handlers on `bus`, under names no other test's rows carry."""
    suffix = uuid.uuid4().hex[:8]
    names = f"email-{suffix}", f"sms-{suffix}"
    for name, real in zip(names, real_handlers(smtp, twilio), strict=True):
        bus.subscribe(name, real.events, real.handle, real.on_failure)
    return names


async def _publish(clinic: uuid.UUID, count: int) -> list[Event]:
    events = [reminder(clinic) for _ in range(count)]
    async with db.tenant_transaction(clinic):
        for event in events:
            await publish(event)
    return events


async def _statuses(events: list[Event]) -> Counter[str]:
    async with db.tenant_transaction(None):
        rows = await db.fetch(
            "SELECT status FROM event_delivery WHERE event_id = ANY({}::uuid[])",
            [event.id for event in events],
        )
    return Counter(row["status"] for row in rows)


async def _elsewhere(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` as another process would: on its own connection, outside our transaction."""
    return await asyncio.create_task(work, context=contextvars.Context())


async def _expire_lease(event_id: uuid.UUID, handler: str) -> None:
    async with db.tenant_transaction(None):
        await db.fetch(
            "UPDATE event_delivery SET claimed_until = clock_timestamp() - interval '1 second'"
            " WHERE event_id = {} AND handler = {}",
            event_id,
            handler,
        )


def _mails(smtp: LocalSmtp) -> Counter[str]:
    return Counter(str(mail.message["X-Event-ID"]) for mail in smtp.received)


async def test_two_relays_with_a_slow_smtp_server_send_each_email_once(
    private_bus: Bus, smtp: LocalSmtp, twilio: LocalTwilio
) -> None:
    subscribe_notifier(private_bus, smtp, twilio)
    smtp.slow_down(0.3)
    events = await _publish(uuid.uuid4(), 20)
    # One send at a time per relay: a relay that leased more than it runs would hold the
    # rest past their lease (20 sends of 0.3 s > 3 s) and the other relay would send them again.
    config = RelayConfig(
        concurrency=1,
        handler_timeout_seconds=2.5,
        send_timeout_seconds=0.4,  # the slowed SMTP server's 0.3 s
        lease_seconds=3,
        sweep_seconds=0.05,
    )
    relays = [Relay(private_bus, config) for _ in range(2)]
    for relay in relays:
        relay.start()
    try:
        deadline = time.monotonic() + 60
        while (await _statuses(events))["delivered"] < 2 * len(events):
            assert time.monotonic() < deadline, await _statuses(events)
            await asyncio.sleep(0.1)
    finally:
        for relay in relays:
            await relay.stop()

    assert _mails(smtp) == Counter({str(event.id): 1 for event in events})
    assert len([sms for sms in twilio.received if sms.to == "+5511987654321"]) == len(events)


async def test_a_relay_that_lost_its_lease_after_sending_is_not_followed_by_a_resend(
    private_bus: Bus, smtp: LocalSmtp, twilio: LocalTwilio
) -> None:
    email, _ = real_handlers(smtp, twilio)
    handler = f"email-{uuid.uuid4().hex[:8]}"
    late, next_relay = Relay(private_bus, FAST), Relay(private_bus, FAST)
    taken_over: list[Claim] = []

    async def send_then_lose_the_lease(event: Event, attempt: int) -> None:
        await email.handle(event, attempt)  # the SMTP server has the message now
        if attempt > 1:
            return
        # The lease runs out before this relay marks the delivery; another relay claims it.
        await _elsewhere(_expire_lease(event.id, handler))
        claims = await _elsewhere(next_relay.claim(100))
        taken_over.extend(c for c in claims if c.event.id == event.id)

    private_bus.subscribe(handler, EMAIL_TEMPLATES, send_then_lose_the_lease, email.on_failure)
    [event] = await _publish(uuid.uuid4(), 1)
    [claim] = [c for c in await late.claim(100) if c.event.id == event.id]
    assert await late.deliver(claim) is False  # sent, but it may not mark it delivered
    assert _mails(smtp) == Counter({str(event.id): 1})

    [again] = taken_over
    assert await next_relay.deliver(again) is True  # finds it sent: marks it, sends nothing
    assert _mails(smtp) == Counter({str(event.id): 1})
    async with db.tenant_transaction(None):
        [row] = await db.fetch(
            "SELECT status, attempts FROM event_delivery WHERE event_id = {} AND handler = {}",
            event.id,
            handler,
        )
    assert (row["status"], row["attempts"]) == ("delivered", 2)


async def test_a_message_logged_as_sent_is_not_sent_again(
    private_bus: Bus, smtp: LocalSmtp, twilio: LocalTwilio
) -> None:
    subscribe_notifier(private_bus, smtp, twilio)
    clinic = uuid.uuid4()
    [event] = await _publish(clinic, 1)
    async with db.tenant_transaction(clinic):  # the state a relay leaves when it lost its lease
        for channel in ("email", "sms"):
            await log.write(
                event,
                channel=channel,
                template="appointment_reminder",
                recipient="earlier",
                status="sent",
                attempts=1,
            )
    relay = Relay(private_bus, FAST)
    while await relay.run_once():
        pass

    assert (await _statuses([event]))["delivered"] == 2
    assert str(event.id) not in _mails(smtp)
    assert [sms for sms in twilio.received if sms.to == "+5511987654321"] == []


async def test_sent_is_final_in_the_notifications_log(private_bus: Bus) -> None:
    clinic = uuid.uuid4()
    event = reminder(clinic)
    statuses: tuple[log.Status, ...] = ("sent", "failed", "dead")
    async with db.tenant_transaction(clinic):
        for status in statuses:
            await log.write(
                event,
                channel="email",
                template="appointment_reminder",
                recipient="ana@example.com",
                status=status,
                attempts=1,
                error=None if status == "sent" else "late failure",
            )
        rows = await db.fetch(
            "SELECT status, error FROM notification WHERE event_id = {}", event.id
        )
    assert [(r["status"], r["error"]) for r in rows] == [("sent", None)]


async def test_sent_record_survives_a_rolled_back_delivery(private_bus: Bus) -> None:
    clinic = uuid.uuid4()
    event = reminder(clinic)

    async def send_then_fail() -> None:
        async with db.tenant_transaction(clinic):
            await log.write(
                event,
                channel="sms",
                template="appointment_reminder",
                recipient="+5511987654321",
                status="sent",
                attempts=1,
            )
            raise ConnectionError("database went away before the delivery was marked")

    with pytest.raises(ConnectionError):
        await send_then_fail()
    async with db.tenant_transaction(clinic):
        assert await log.already_sent(event, "sms")
        assert not await log.already_sent(event, "email")


async def test_a_send_that_outlives_the_handler_timeout_is_recorded_and_not_repeated(
    private_bus: Bus, smtp: LocalSmtp, twilio: LocalTwilio
) -> None:
    """Twilio's client runs in a thread, which a timeout cannot stop: the SMS goes out after
    the relay gave up on the attempt. The handler waits for it and records it as sent, so
    the retry only marks the delivery done instead of texting the patient again."""
    subscribe_notifier(private_bus, smtp, twilio)
    twilio.delay(1.0)
    smtp.slow_down(1.0)
    events = await _publish(uuid.uuid4(), 1)
    config = RelayConfig(
        handler_timeout_seconds=0.4,
        send_timeout_seconds=1.5,  # the delayed Twilio and SMTP servers' 1.0 s
        lease_seconds=5,
        base_delay_seconds=0.1,
        sweep_seconds=0.05,
    )
    relay = Relay(private_bus, config)
    relay.start()
    try:
        deadline = time.monotonic() + 30
        while (await _statuses(events))["delivered"] < 2:
            assert time.monotonic() < deadline, await _statuses(events)
            await asyncio.sleep(0.1)
    finally:
        await relay.stop()
    assert len([sms for sms in twilio.received if sms.to == "+5511987654321"]) == 1
    assert _mails(smtp) == Counter({str(events[0].id): 1})
