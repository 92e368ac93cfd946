"""`topsmile clinic create` and `topsmile user create` for operators (SPEC §10)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

import httpx
import pytest

from tests.api.helpers import PASSWORD, new_slug
from tests.conftest import store_env
from topsmile.config import Settings
from topsmile.core import db

pytestmark = pytest.mark.usefixtures("app")

_ID = r"([0-9a-f-]{36})"


def _cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "topsmile", *args],
        env={**os.environ, **store_env(settings), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _clinic_args(slug: str, **overrides: str) -> list[str]:
    values = {
        "--name": "Sorriso Sul",
        "--slug": slug,
        "--timezone": "America/Sao_Paulo",
        "--currency": "BRL",
        "--admin-email": f"Dona.Maria@{slug}.example.com",
        "--admin-password": PASSWORD,
        **overrides,
    }
    return ["clinic", "create", *[part for pair in values.items() for part in pair]]


def _one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("topsmile: ")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


async def _login(client: httpx.AsyncClient, slug: str, email: str) -> httpx.Response:
    return await client.post(
        "/api/auth/login", json={"clinic": slug, "email": email, "password": PASSWORD}
    )


async def test_clinic_and_user_create(settings: Settings, client: httpx.AsyncClient) -> None:
    slug = new_slug()
    # The CLI is the operators' path: the sign-up switch does not apply to it.
    created = _cli(settings, *_clinic_args(slug), TOPSMILE_ALLOW_SIGNUP="false")
    assert created.returncode == 0, created.stderr
    clinic_match = re.search(rf"clinic created: id={_ID} slug={slug}", created.stdout)
    admin_match = re.search(rf"admin user: id={_ID} email=dona.maria@", created.stdout)
    assert clinic_match, created.stdout
    assert admin_match, created.stdout
    clinic_id = uuid.UUID(clinic_match.group(1))

    signed = await _login(client, slug, f"dona.maria@{slug}.example.com")
    assert signed.status_code == 200, signed.text
    user = signed.json()["user"]
    assert (user["id"], user["role"]) == (admin_match.group(1), "admin")
    assert (user["firstName"], user["lastName"]) == ("Dona", "Maria")
    assert signed.json()["clinic"]["currency"] == "brl"
    assert signed.json()["clinic"]["settings"]["slotIntervalMinutes"] == 15

    added = _cli(
        settings,
        *("user", "create", "--clinic", slug, "--email", f"rita@{slug}.example.com"),
        *("--role", "receptionist", "--password", PASSWORD, "--last-name", "Reis"),
    )
    assert added.returncode == 0, added.stderr
    user_match = re.search(
        rf"user created: id={_ID} email=rita@\S+ role=receptionist", added.stdout
    )
    assert user_match, added.stdout
    as_receptionist = await _login(client, slug, f"rita@{slug}.example.com")
    assert as_receptionist.status_code == 200, as_receptionist.text
    receptionist = as_receptionist.json()["user"]
    assert (receptionist["firstName"], receptionist["lastName"]) == ("Rita", "Reis")
    assert receptionist["id"] == user_match.group(1)

    async with db.tenant_transaction(clinic_id):
        events = await db.fetch(
            "SELECT e.name, e.actor_id, array_agg(d.handler) AS handlers FROM event_outbox e"
            " JOIN event_delivery d ON d.event_id = e.id WHERE e.name NOT LIKE 'auth.%'"
            " GROUP BY e.id ORDER BY e.occurred_at"
        )
    assert [e["name"] for e in events] == ["clinic.created", "user.created"]
    assert all("audit" in e["handlers"] and e["actor_id"] is None for e in events)


async def test_clinic_create_refusals(settings: Settings) -> None:
    slug = new_slug()
    assert _cli(settings, *_clinic_args(slug)).returncode == 0
    _one_line_error(_cli(settings, *_clinic_args(slug)), "slug")
    _one_line_error(
        _cli(settings, *_clinic_args(new_slug(), **{"--timezone": "Mars/Base"})), "timezone"
    )
    _one_line_error(
        _cli(settings, *_clinic_args(new_slug(), **{"--admin-password": "password123"})),
        "admin.password",
    )
    _one_line_error(_cli(settings, *_clinic_args(new_slug(), **{"--currency": "xyz"})), "currency")


async def test_user_create_refusals(settings: Settings) -> None:
    slug = new_slug()
    assert _cli(settings, *_clinic_args(slug)).returncode == 0

    def user(*args: str) -> subprocess.CompletedProcess[str]:
        return _cli(settings, "user", "create", *args)

    email = f"pat@{slug}.example.com"
    base = ("--email", email, "--password", PASSWORD)
    _one_line_error(user("--clinic", "no-such-clinic", "--role", "provider", *base), "clinic")
    _one_line_error(
        user("--clinic", slug, "--role", "provider", "--email", email, "--password", "short"),
        "password",
    )
    _one_line_error(
        user(
            *("--clinic", slug, "--role", "manager", "--email", f"dona.maria@{slug}.example.com"),
            *("--password", PASSWORD),
        ),
        "already exists",
    )
    patient = user("--clinic", slug, "--role", "patient", *base)
    assert patient.returncode == 2
    assert "invalid choice" in patient.stderr
