from __future__ import annotations

from pathlib import Path

import pytest

from topsmile.config import ConfigError, Rate, load_settings, read_dotenv

STRONG = "x7Kq9mP2vL4nR8tW1yZ5bC3dF6gH0jAsEeUu"


def test_defaults_for_development() -> None:
    settings = load_settings(environ={}, dotenv=None)
    assert settings.env == "development"
    assert settings.allow_signup is True
    assert settings.uses_embedded_database
    assert settings.rate_login_per_ip == Rate(100, 900)


def test_rates_and_lists_parse() -> None:
    settings = load_settings(
        environ={
            "TOPSMILE_RATE_PUBLIC_PER_IP": "30/1m",
            "TOPSMILE_RATE_LOGIN_PER_IP": "7/15m",
            "TOPSMILE_CORS_ORIGINS": "https://a.example, https://b.example",
            "TOPSMILE_LOGIN_MAX_FAILURES": "3",
        },
        dotenv=None,
    )
    assert settings.rate_public_per_ip == Rate(30, 60)
    assert settings.rate_login_per_ip == Rate(7, 900)
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.login_max_failures == 3


@pytest.mark.parametrize(
    "environ",
    [
        {"TOPSMILE_RATE_PUBLIC_PER_IP": "lots"},
        {"TOPSMILE_ENV": "staging"},
        {"EMAIL_BACKEND": "pigeon"},
        {"SMTP_PORT": "twenty-five"},
        {"TOPSMILE_ALLOW_SIGNUP": "maybe"},
        {"TOPSMILE_RELAY_LEASE_SECONDS": "soon"},
        {"TOPSMILE_RELAY_HANDLER_TIMEOUT_SECONDS": "0", "TOPSMILE_RELAY_LEASE_SECONDS": "30"},
        {"TOPSMILE_RELAY_LEASE_SECONDS": "75"},  # not more than the default 60 s + 15 s
        {"TOPSMILE_RELAY_LEASE_SECONDS": "20", "TOPSMILE_RELAY_HANDLER_TIMEOUT_SECONDS": "5"},
    ],
)
def test_bad_values_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_settings(environ=environ, dotenv=None)


@pytest.mark.parametrize(
    "secret", [None, "short", "a" * 40, "dev-insecure-secret-key-change-me-0123456789abcdef"]
)
def test_production_refuses_missing_or_weak_secret(secret: str | None) -> None:
    environ = {
        "TOPSMILE_ENV": "production",
        "DATABASE_URL": "postgresql://a@b/c",
        "REDIS_URL": "redis://r",
    }
    if secret is not None:
        environ["TOPSMILE_SECRET_KEY"] = secret
    with pytest.raises(ConfigError, match="TOPSMILE_SECRET_KEY"):
        load_settings(environ=environ, dotenv=None)


def test_production_requires_external_stores() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings(
            environ={"TOPSMILE_ENV": "production", "TOPSMILE_SECRET_KEY": STRONG}, dotenv=None
        )


def test_production_with_everything_starts_without_signup() -> None:
    settings = load_settings(
        environ={
            "TOPSMILE_ENV": "production",
            "TOPSMILE_SECRET_KEY": STRONG,
            "DATABASE_URL": "postgresql://app@db/topsmile",
            "REDIS_URL": "redis://cache:6379/0",
        },
        dotenv=None,
    )
    assert settings.is_production
    assert settings.allow_signup is False


def test_dotenv_is_read_and_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        '# comment\nSMTP_HOST="mail.example"\nexport SMTP_PORT=2525\nSMS_BACKEND=twilio\n'
    )
    assert read_dotenv(dotenv)["SMTP_HOST"] == "mail.example"
    settings = load_settings(environ={"SMS_BACKEND": "console"}, dotenv=dotenv)
    assert settings.smtp_host == "mail.example"
    assert settings.smtp_port == 2525
    assert settings.sms_backend == "console"


def test_env_example_lists_every_variable(project_root: Path) -> None:
    import re

    spec = (project_root.parent / "shared" / "SPEC.md").read_text()
    section = spec[spec.index("## 10. Operations") :]
    named = set(
        re.findall(r"`((?:TOPSMILE|DATABASE|REDIS|EMAIL|SMTP|SMS|TWILIO|STRIPE)_[A-Z_]+)`", spec)
    )
    named |= set(re.findall(r"`([A-Z_]{4,})`", section))
    example = (project_root / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z_]+)=", example, re.MULTILINE))
    assert named - listed == set()


def test_files_are_stored_beside_the_data_dir_unless_told_otherwise() -> None:
    assert load_settings(environ={}, dotenv=None).storage_dir == ".topsmile/uploads"
    moved = load_settings(environ={"TOPSMILE_DATA_DIR": "/srv/ts"}, dotenv=None)
    assert moved.storage_dir == "/srv/ts/uploads"
    both = {"TOPSMILE_DATA_DIR": "/srv/ts", "TOPSMILE_STORAGE_DIR": "/mnt/files"}
    assert load_settings(environ=both, dotenv=None).storage_dir == "/mnt/files"


@pytest.mark.parametrize(
    ("lease", "timeout"), [(75, 60), (76, 60), (180, 60), (20, 5), (21, 5), (16, 1), (17, 1)]
)
def test_settings_and_the_relay_hold_one_lease_rule(lease: int, timeout: int) -> None:
    """A lease the settings accept is one the relay accepts, and the other way round, with
    the transports' send timeout on top of the handler's (config.py `lease_outlives_handler`)."""
    from topsmile.events.relay import RelayConfig, relay_config

    environ = {
        "TOPSMILE_RELAY_LEASE_SECONDS": str(lease),
        "TOPSMILE_RELAY_HANDLER_TIMEOUT_SECONDS": str(timeout),
    }
    enough = lease > timeout + 15
    try:
        settings = load_settings(environ=environ, dotenv=None)
    except ConfigError:
        assert not enough
    else:
        assert enough
        assert relay_config(settings).lease_seconds == lease
    try:
        RelayConfig(lease_seconds=lease, handler_timeout_seconds=timeout)
    except ValueError:
        assert not enough
    else:
        assert enough


def test_relay_lease_and_handler_timeout_are_settable() -> None:
    from topsmile.events.relay import RelayConfig, relay_config

    assert relay_config(load_settings(environ={}, dotenv=None)) == RelayConfig()
    short = load_settings(
        environ={
            "TOPSMILE_RELAY_LEASE_SECONDS": "21",
            "TOPSMILE_RELAY_HANDLER_TIMEOUT_SECONDS": "5",
        },
        dotenv=None,
    )
    config = relay_config(short)
    assert (config.lease_seconds, config.handler_timeout_seconds) == (21, 5)
