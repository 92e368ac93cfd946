"""In production the cookies are Secure and carry the __Host-/__Secure- prefixes."""

from __future__ import annotations

import msgspec

from tests.api.auth_fixtures import PASSWORD, seed_clinic
from tests.conftest import client_for
from topsmile.app import create_app, lifespan
from topsmile.config import Settings


async def test_production_cookie_names_and_flags(settings: Settings) -> None:
    production = msgspec.structs.replace(
        settings, env="production", secret_key="p" * 8 + "0123456789abcdefghijklmnopqrstuvwxyz"
    )
    app = create_app(production, run_relay=False)
    async with lifespan(app.app), client_for(app) as client:
        clinic = await seed_clinic(("admin",))
        response = await client.post(
            "/api/auth/login",
            json={"clinic": clinic.slug, "email": clinic.email("admin"), "password": PASSWORD},
        )
    assert response.status_code == 200
    cookies = {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}
    assert set(cookies) == {"__Host-access_token", "__Secure-refresh_token", "__Host-csrf_token"}
    assert all("Secure" in header for header in cookies.values())
    assert "Path=/;" in cookies["__Host-access_token"] + ";"
    assert "Domain" not in cookies["__Host-access_token"]
    assert "Path=/api/auth" in cookies["__Secure-refresh_token"]
