"""The demo clinic is believable, complete, idempotent, and its logins work."""

from __future__ import annotations

import httpx

from topsmile.core import db
from topsmile.core.middleware import EdgeMiddleware
from topsmile.demo import seed as demo


async def test_demo_seed_is_complete_and_idempotent(
    app: EdgeMiddleware, client: httpx.AsyncClient
) -> None:
    hasher = app.app.state.runtime.hasher
    assert await demo.seed(hasher, storage=app.app.state.runtime.storage) is True
    assert await demo.seed(hasher) is False
    assert await demo.seed_if_empty(hasher) is False  # other clinics exist: nothing to do
    async with db.tenant_transaction(None):
        [clinic] = await db.fetch("SELECT * FROM clinic WHERE slug = {}", demo.SLUG)
    assert clinic["timezone"] == "America/Sao_Paulo"
    async with db.tenant_transaction(clinic["id"]):
        roles = await db.fetch("SELECT role, count(*) AS n FROM app_user GROUP BY role")
        services = await db.fetch("SELECT name, duration_minutes, price_amount FROM clinic_service")
        hours = await db.fetch(
            "SELECT provider_id, weekday, count(*) AS spans FROM working_hours"
            " GROUP BY provider_id, weekday"
        )
        patients = await db.fetch("SELECT user_id, phone FROM patient WHERE status = 'active'")
        uploads = await db.fetch("SELECT content_type, size, sha256 FROM upload")
    assert {r["role"]: r["n"] for r in roles} == {
        "admin": 1,
        "manager": 1,
        "receptionist": 1,
        "patient": 20,
    }
    assert {s["name"] for s in services} == {
        "Cleaning",
        "Check-up",
        "Filling",
        "Root canal",
        "Whitening",
        "Emergency",
    }
    assert all(s["price_amount"] > 0 and 30 <= s["duration_minutes"] <= 90 for s in services)
    assert len({h["provider_id"] for h in hours}) == 3
    assert any(h["spans"] == 2 for h in hours)  # a lunch break splits a day
    assert len(patients) == 20
    assert all(p["user_id"] is not None and p["phone"].startswith("+55") for p in patients)
    assert [(u["content_type"], u["size"]) for u in uploads] == [
        ("application/pdf", len(demo.CONSENT_PDF))
    ]

    for email in (demo.LOGINS.admin, demo.LOGINS.receptionist, demo.LOGINS.patient):
        response = await client.post(
            "/api/auth/login",
            json={"clinic": demo.LOGINS.clinic, "email": email, "password": demo.LOGINS.password},
        )
        assert response.status_code == 200, (email, response.text)
    assert "recepcao@" in demo.describe("http://127.0.0.1:8000")


def test_demo_command_is_idempotent(settings: object) -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import store_env

    env = {**os.environ, **store_env(settings)}  # type: ignore[arg-type]
    outputs = [
        subprocess.run(
            [sys.executable, "-m", "topsmile", "demo"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        for _ in range(2)
    ]
    assert "demo clinic already exists" in outputs[1]
    assert all(demo.LOGINS.patient in out for out in outputs)
