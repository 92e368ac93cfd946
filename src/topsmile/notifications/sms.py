"""SMS delivery: a console backend for development and a Twilio backend for real texts."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from typing import Protocol

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from topsmile.config import SEND_TIMEOUT_SECONDS, Settings
from topsmile.core.errors import ServiceUnavailable
from topsmile.notifications.messages import SmsMessage

log = logging.getLogger("topsmile.sms")


class SmsSender(Protocol):
    async def send(self, message: SmsMessage) -> str:
        """Deliver `message` and return the provider's message SID."""
        ...


def mask_phone(phone: str) -> str:
    """`+5511987654321` → `***21`."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return "***" + digits[-2:]


class ConsoleSmsSender:
    """Logs that a text would have gone out; the number only by its last two digits."""

    async def send(self, message: SmsMessage) -> str:
        sid = "SM" + uuid.uuid4().hex
        summary = {
            "channel": "sms",
            "to": mask_phone(message.to),
            "sid": sid,
            "characters": len(message.body),
        }
        log.info(json.dumps(summary))
        return sid


class TwilioSmsSender:
    """Sends through Twilio's REST API with the official SDK, off the event loop.

    The SDK is synchronous (its async client needs an aiohttp session tied to one loop), so
    each send runs in a worker thread. A `requests` session is not safe to share between
    threads, hence one SDK client per worker thread.
    """

    def __init__(self, settings: Settings) -> None:
        missing = [
            name
            for name, value in (
                ("TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
                ("TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
                ("TWILIO_FROM_NUMBER", settings.twilio_from_number),
            )
            if not value
        ]
        if missing:
            raise ServiceUnavailable(f"SMS_BACKEND=twilio needs {', '.join(missing)} to be set")
        self._account_sid = str(settings.twilio_account_sid)
        self._auth_token = str(settings.twilio_auth_token)
        self._from_number = str(settings.twilio_from_number)
        self._api_base = settings.twilio_api_base.rstrip("/") if settings.twilio_api_base else None
        self._clients = threading.local()

    def _client(self) -> Client:
        client: Client | None = getattr(self._clients, "client", None)
        if client is None:
            client = Client(
                self._account_sid,
                self._auth_token,
                http_client=TwilioHttpClient(timeout=SEND_TIMEOUT_SECONDS),
            )
            if self._api_base is not None:
                # Every Messages call goes through the `api` domain; pointing its base URL
                # elsewhere (a local Twilio-compatible server) redirects all of them.
                client.api.base_url = self._api_base
            self._clients.client = client
        return client

    def _send_blocking(self, message: SmsMessage) -> str:
        created = self._client().messages.create(
            to=message.to, from_=self._from_number, body=message.body
        )
        return str(created.sid)

    async def send(self, message: SmsMessage) -> str:
        return await asyncio.to_thread(self._send_blocking, message)


def sms_sender(settings: Settings) -> SmsSender:
    if settings.sms_backend == "twilio":
        return TwilioSmsSender(settings)
    return ConsoleSmsSender()
