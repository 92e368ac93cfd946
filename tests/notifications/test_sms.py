"""The Twilio sender (the real SDK, over HTTP) against a local Twilio API, and the console one."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
from collections.abc import Iterator

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from tests.support.twilio import LocalTwilio
from topsmile.config import Settings
from topsmile.core.errors import ServiceUnavailable
from topsmile.notifications.messages import SmsMessage
from topsmile.notifications.sms import (
    ConsoleSmsSender,
    TwilioSmsSender,
    mask_phone,
    sms_sender,
)

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "local-twilio-token"
FROM_NUMBER = "+15005550006"
TEXT = SmsMessage(to="+5511987654321", body="Hi Ana, your Cleaning is confirmed.")


@pytest.fixture
def twilio() -> Iterator[LocalTwilio]:
    with LocalTwilio(ACCOUNT_SID, AUTH_TOKEN) as server:
        yield server


def twilio_settings(api_base: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "sms_backend": "twilio",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from_number": FROM_NUMBER,
        "twilio_api_base": api_base,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def test_the_sdk_posts_to_from_and_body(twilio: LocalTwilio) -> None:
    sid = await TwilioSmsSender(twilio_settings(twilio.base_url)).send(TEXT)

    assert re.fullmatch(r"SM[0-9a-f]{32}", sid)
    [received] = twilio.received
    assert received.sid == sid
    assert received.account_sid == ACCOUNT_SID
    assert (received.to, received.from_, received.body) == (TEXT.to, FROM_NUMBER, TEXT.body)
    assert received.user_agent.startswith("twilio-python/")


async def test_api_base_with_trailing_slash_still_reaches_the_server(twilio: LocalTwilio) -> None:
    await TwilioSmsSender(twilio_settings(twilio.base_url + "/")).send(TEXT)
    assert len(twilio.received) == 1


async def test_wrong_credentials_raise(twilio: LocalTwilio) -> None:
    sender = TwilioSmsSender(twilio_settings(twilio.base_url, twilio_auth_token="not-the-token"))
    with pytest.raises(TwilioRestException) as caught:
        await sender.send(TEXT)
    assert caught.value.status == 401
    assert caught.value.code == 20003
    assert twilio.received == []


@pytest.mark.parametrize("status", [500, 400])
async def test_server_failure_raises_and_a_retry_gets_through(
    twilio: LocalTwilio, status: int
) -> None:
    sender = TwilioSmsSender(twilio_settings(twilio.base_url))
    twilio.fail_next(1, status=status)
    with pytest.raises(TwilioRestException) as caught:
        await sender.send(TEXT)
    assert caught.value.status == status
    assert twilio.received == []

    await sender.send(TEXT)
    assert len(twilio.received) == 1
    assert twilio.requests == 2


async def test_unreachable_api_raises() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = TwilioSmsSender(twilio_settings(f"http://127.0.0.1:{port}"))
    with pytest.raises(requests.ConnectionError):
        await sender.send(TEXT)


async def test_a_slow_send_does_not_block_the_event_loop(twilio: LocalTwilio) -> None:
    twilio.delay(0.5)
    sender = TwilioSmsSender(twilio_settings(twilio.base_url))
    gaps: list[float] = []

    async def tick_until(done: asyncio.Event) -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            current = time.perf_counter()
            gaps.append(current - last)
            last = current

    done = asyncio.Event()
    ticker = asyncio.create_task(tick_until(done))
    started = time.perf_counter()
    await sender.send(TEXT)
    elapsed = time.perf_counter() - started
    done.set()
    await ticker

    assert elapsed >= 0.5
    assert len(gaps) >= 10
    assert max(gaps) < 0.25
    assert len(twilio.received) == 1


async def test_concurrent_sends_each_get_their_own_sid(twilio: LocalTwilio) -> None:
    sender = TwilioSmsSender(twilio_settings(twilio.base_url))
    texts = [SmsMessage(to=f"+55119876543{i:02d}", body=f"text {i}") for i in range(8)]
    sids = await asyncio.gather(*(sender.send(text) for text in texts))

    assert len(set(sids)) == 8
    assert sorted(r.body for r in twilio.received) == sorted(t.body for t in texts)


@pytest.mark.parametrize(
    ("missing", "variable"),
    [
        ("twilio_account_sid", "TWILIO_ACCOUNT_SID"),
        ("twilio_auth_token", "TWILIO_AUTH_TOKEN"),
        ("twilio_from_number", "TWILIO_FROM_NUMBER"),
    ],
)
def test_twilio_without_credentials_is_refused_at_construction(missing: str, variable: str) -> None:
    settings = twilio_settings("http://127.0.0.1:9", **{missing: None})
    with pytest.raises(ServiceUnavailable, match=variable):
        sms_sender(settings)


def test_backend_is_chosen_by_settings() -> None:
    assert isinstance(sms_sender(twilio_settings("http://127.0.0.1:9")), TwilioSmsSender)
    assert isinstance(sms_sender(Settings(sms_backend="console")), ConsoleSmsSender)


async def test_console_sender_masks_the_phone(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="topsmile.sms")
    sid = await ConsoleSmsSender().send(TEXT)

    assert re.fullmatch(r"SM[0-9a-f]{32}", sid)
    [record] = [r for r in caplog.records if r.name == "topsmile.sms"]
    summary = json.loads(record.getMessage())
    assert summary["to"] == "***21"
    assert summary["sid"] == sid
    assert "987654321" not in caplog.text
    assert "Cleaning" not in caplog.text


def test_mask_phone() -> None:
    assert mask_phone("+55 (11) 98765-4321") == "***21"
