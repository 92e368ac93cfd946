"""Typed settings, read once from the environment and an optional `.env` file."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import msgspec

Environment = Literal["development", "test", "production"]

_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*([smh])\s*")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
_DEV_SECRET = "dev-insecure-secret-key-change-me-0123456789abcdef"  # noqa: S105


# The longest one email or SMS send may take (the SMTP and Twilio clients' timeouts). A relay
# handler that times out still waits for a send already handed over (notifications/handlers.py
# `_send_to_the_end`), so a delivery's lease must cover both.
SEND_TIMEOUT_SECONDS = 15.0


def lease_outlives_handler(
    lease_seconds: float,
    handler_timeout_seconds: float,
    send_timeout_seconds: float = SEND_TIMEOUT_SECONDS,
) -> bool:
    """The relay's one lease rule: a live relay never loses a delivery's lease, even to a
    handler that times out while its send finishes (events/relay.py `RelayConfig`)."""
    return lease_seconds > handler_timeout_seconds + send_timeout_seconds


class ConfigError(Exception):
    """The configuration is unusable; the message says which variable and why."""


class Rate(msgspec.Struct, frozen=True):
    """A throttle: at most `limit` events per `window_seconds`."""

    limit: int
    window_seconds: int

    @classmethod
    def parse(cls, name: str, text: str) -> Rate:
        match = _RATE.fullmatch(text)
        if match is None:
            raise ConfigError(f"{name} must look like N/15m, N/1h or N/1m, got {text!r}")
        count, amount, unit = match.groups()
        return cls(limit=int(count), window_seconds=int(amount) * _UNIT_SECONDS[unit])


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    env: Environment = "development"
    secret_key: str = _DEV_SECRET
    app_url: str = "http://localhost:3000"
    database_url: str | None = None
    database_migration_url: str | None = None
    redis_url: str | None = None
    cors_origins: tuple[str, ...] = ()
    allow_signup: bool = True
    trusted_proxies: tuple[str, ...] = ()
    storage_dir: str = ".topsmile/uploads"
    data_dir: str = ".topsmile"

    email_backend: Literal["console", "smtp"] = "console"
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "TopSmile <no-reply@topsmile.local>"
    smtp_starttls: bool = True

    sms_backend: Literal["console", "twilio"] = "console"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    twilio_api_base: str | None = None

    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None

    login_max_failures: int = 5
    login_lock_minutes: int = 15
    rate_login_per_ip: Rate = Rate(100, 900)
    rate_register_per_ip: Rate = Rate(10, 3600)
    rate_signup_per_ip: Rate = Rate(10, 3600)
    rate_forgot_per_account: Rate = Rate(5, 3600)
    rate_forgot_per_ip: Rate = Rate(30, 3600)
    rate_api_per_user: Rate = Rate(600, 60)
    rate_public_per_ip: Rate = Rate(120, 60)
    outbox_retention_days: int = 30
    # The relay's lease on a claimed delivery, and the longest one handler may run: a lease
    # must outlast a handler plus the send it may still wait for (`lease_outlives_handler`).
    relay_lease_seconds: int = 180
    relay_handler_timeout_seconds: int = 60

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def uses_embedded_redis(self) -> bool:
        return self.redis_url is None

    def with_urls(
        self, *, database_url: str, database_migration_url: str, redis_url: str
    ) -> Settings:
        return msgspec.structs.replace(
            self,
            database_url=database_url,
            database_migration_url=database_migration_url,
            redis_url=redis_url,
        )


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file: KEY=VALUE lines, `#` comments, optional quotes."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def _bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {text!r}")


def _int(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {text!r}") from None


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


_STRINGS = {
    "TOPSMILE_SECRET_KEY": "secret_key",
    "TOPSMILE_APP_URL": "app_url",
    "DATABASE_URL": "database_url",
    "DATABASE_MIGRATION_URL": "database_migration_url",
    "REDIS_URL": "redis_url",
    "TOPSMILE_STORAGE_DIR": "storage_dir",
    "TOPSMILE_DATA_DIR": "data_dir",
    "SMTP_HOST": "smtp_host",
    "SMTP_USERNAME": "smtp_username",
    "SMTP_PASSWORD": "smtp_password",
    "SMTP_FROM": "smtp_from",
    "TWILIO_ACCOUNT_SID": "twilio_account_sid",
    "TWILIO_AUTH_TOKEN": "twilio_auth_token",
    "TWILIO_FROM_NUMBER": "twilio_from_number",
    "TWILIO_API_BASE": "twilio_api_base",
    "STRIPE_SECRET_KEY": "stripe_secret_key",
    "STRIPE_WEBHOOK_SECRET": "stripe_webhook_secret",
    "STRIPE_API_BASE": "stripe_api_base",
}
_RATES = {
    "TOPSMILE_RATE_LOGIN_PER_IP": "rate_login_per_ip",
    "TOPSMILE_RATE_REGISTER_PER_IP": "rate_register_per_ip",
    "TOPSMILE_RATE_SIGNUP_PER_IP": "rate_signup_per_ip",
    "TOPSMILE_RATE_FORGOT_PER_ACCOUNT": "rate_forgot_per_account",
    "TOPSMILE_RATE_FORGOT_PER_IP": "rate_forgot_per_ip",
    "TOPSMILE_RATE_API_PER_USER": "rate_api_per_user",
    "TOPSMILE_RATE_PUBLIC_PER_IP": "rate_public_per_ip",
}


def load_settings(
    environ: dict[str, str] | None = None, dotenv: Path | None = Path(".env")
) -> Settings:
    """Build settings from `.env` (if present) overlaid by the process environment."""
    source = read_dotenv(dotenv) if dotenv is not None else {}
    source.update(os.environ if environ is None else environ)
    values: dict[str, object] = {}

    env = source.get("TOPSMILE_ENV", "development").strip().lower()
    if env not in ("development", "test", "production"):
        raise ConfigError(f"TOPSMILE_ENV must be development, test or production, got {env!r}")
    values["env"] = env
    values["allow_signup"] = env != "production"

    for var, field in _STRINGS.items():
        if source.get(var, "").strip():
            values[field] = source[var].strip()
    for var, field in _RATES.items():
        if source.get(var, "").strip():
            values[field] = Rate.parse(var, source[var])
    if "storage_dir" not in values and "data_dir" in values:
        # Files sit with the embedded stores unless told otherwise (`./.topsmile/uploads`).
        values["storage_dir"] = str(Path(str(values["data_dir"])) / "uploads")
    if source.get("TOPSMILE_CORS_ORIGINS"):
        values["cors_origins"] = _csv(source["TOPSMILE_CORS_ORIGINS"])
    if source.get("TOPSMILE_TRUSTED_PROXIES"):
        values["trusted_proxies"] = _csv(source["TOPSMILE_TRUSTED_PROXIES"])
    if source.get("TOPSMILE_ALLOW_SIGNUP"):
        values["allow_signup"] = _bool("TOPSMILE_ALLOW_SIGNUP", source["TOPSMILE_ALLOW_SIGNUP"])
    if source.get("SMTP_STARTTLS"):
        values["smtp_starttls"] = _bool("SMTP_STARTTLS", source["SMTP_STARTTLS"])
    for var, field in (
        ("SMTP_PORT", "smtp_port"),
        ("TOPSMILE_LOGIN_MAX_FAILURES", "login_max_failures"),
        ("TOPSMILE_LOGIN_LOCK_MINUTES", "login_lock_minutes"),
        ("TOPSMILE_OUTBOX_RETENTION_DAYS", "outbox_retention_days"),
        ("TOPSMILE_RELAY_LEASE_SECONDS", "relay_lease_seconds"),
        ("TOPSMILE_RELAY_HANDLER_TIMEOUT_SECONDS", "relay_handler_timeout_seconds"),
    ):
        if source.get(var, "").strip():
            values[field] = _int(var, source[var])
    for var, field, allowed in (
        ("EMAIL_BACKEND", "email_backend", ("console", "smtp")),
        ("SMS_BACKEND", "sms_backend", ("console", "twilio")),
    ):
        if source.get(var, "").strip():
            choice = source[var].strip().lower()
            if choice not in allowed:
                raise ConfigError(f"{var} must be one of {', '.join(allowed)}, got {choice!r}")
            values[field] = choice

    settings = msgspec.convert(values, Settings)
    if settings.outbox_retention_days < 1:
        raise ConfigError("TOPSMILE_OUTBOX_RETENTION_DAYS must be at least 1")
    if settings.relay_handler_timeout_seconds < 1:
        raise ConfigError("TOPSMILE_RELAY_HANDLER_TIMEOUT_SECONDS must be at least 1")
    if not lease_outlives_handler(
        settings.relay_lease_seconds, settings.relay_handler_timeout_seconds
    ):
        raise ConfigError(
            "TOPSMILE_RELAY_LEASE_SECONDS must exceed TOPSMILE_RELAY_HANDLER_TIMEOUT_SECONDS"
            f" + {SEND_TIMEOUT_SECONDS:g}"
        )
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    """Refuse configurations that would be unsafe to run."""
    if not settings.is_production:
        return
    problems = []
    key = settings.secret_key
    if key == _DEV_SECRET or len(key) < 32 or len(set(key)) < 10:
        problems.append(
            "TOPSMILE_SECRET_KEY must be set to a random value of at least 32 characters"
        )
    if settings.database_url is None:
        problems.append("DATABASE_URL is required in production")
    if settings.redis_url is None:
        problems.append("REDIS_URL is required in production")
    if problems:
        raise ConfigError("; ".join(problems))
