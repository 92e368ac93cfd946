"""SPEC §6 public browsing: the clinic's booking page and its availability, with no session,
unknown slugs 404, throttled per client IP."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import msgspec

from tests.api.auth_fixtures import SeededClinic, csrf, login, seed_clinic
from tests.api.openapi_routes import operations
from tests.api.test_availability import local_today, new_provider, new_service
from tests.conftest import client_for
from topsmile.app import create_app, lifespan
from topsmile.config import Rate, Settings
from topsmile.core.middleware import EdgeMiddleware


async def test_clinic_page_shows_only_what_patients_may_book(
    app: EdgeMiddleware, clinic: SeededClinic, as_role: dict[str, httpx.AsyncClient]
) -> None:
    admin = as_role["admin"]
    bookable = await new_service(admin, name="Cleaning")
    offline = await new_service(admin, name="Surgery", onlineBookable=False)
    retired = await new_service(admin, name="Old")
    assert (
        await admin.delete(f"/api/scheduling/services/{retired}", headers=csrf(admin))
    ).status_code == 204
    listed = await new_provider(admin, [bookable, offline])
    await new_provider(admin, [offline])  # offers nothing bookable online
    gone = await new_provider(admin, [bookable])
    assert (
        await admin.delete(f"/api/scheduling/providers/{gone}", headers=csrf(admin))
    ).status_code == 204
    async with client_for(app) as anonymous:
        response = await anonymous.get(f"/api/public/clinics/{clinic.slug}")
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["clinic"] == {
        "name": f"Clinic {clinic.slug}",
        "slug": clinic.slug,
        "timezone": "America/Sao_Paulo",
        "currency": "brl",
    }
    assert [s["id"] for s in page["services"]] == [bookable]
    assert page["providers"] == [
        {
            "id": listed,
            "firstName": "Dora",
            "lastName": "Dent",
            "specialty": None,
            "serviceIds": [bookable],
        }
    ]


async def test_public_availability_is_the_patients(
    app: EdgeMiddleware, clinic: SeededClinic, as_role: dict[str, httpx.AsyncClient]
) -> None:
    admin = as_role["admin"]
    sid = await new_service(admin)
    offline = await new_service(admin, onlineBookable=False)
    pid = await new_provider(admin, [sid, offline])
    day = (local_today() + timedelta(days=2)).isoformat()
    params = {"serviceId": sid, "providerId": pid, "from": day, "to": day}
    patients = await as_role["patient"].get("/api/scheduling/availability", params=params)
    url = f"/api/public/clinics/{clinic.slug}/availability"
    async with client_for(app) as anonymous:
        public = await anonymous.get(url, params=params)
        assert public.status_code == 200, public.text
        assert public.json() == patients.json()
        assert len(public.json()["slots"]) == 15
        hidden = await anonymous.get(url, params={"serviceId": offline})
        assert hidden.status_code == 404
        too_long = await anonymous.get(url, params={**params, "to": "2999-01-01"})
        assert too_long.status_code == 400


async def test_unknown_slugs_and_other_clinics_ids_are_404(
    app: EdgeMiddleware, clinic: SeededClinic
) -> None:
    other = await seed_clinic(("admin",))
    async with client_for(app) as stranger, client_for(app) as anonymous:
        await login(stranger, other, "admin")
        their_sid = await new_service(stranger)
        their_pid = await new_provider(stranger, [their_sid])
        for path in (
            "/api/public/clinics/no-such-clinic",
            "/api/public/clinics/no-such/availability",
        ):
            response = await anonymous.get(path, params={"serviceId": their_sid})
            assert response.status_code == 404, response.text
            assert response.json()["type"] == "/problems/not-found"
        url = f"/api/public/clinics/{clinic.slug}/availability"
        assert (await anonymous.get(url, params={"serviceId": their_sid})).status_code == 404
        mine = await anonymous.get(
            f"/api/public/clinics/{other.slug}/availability",
            params={"serviceId": their_sid, "providerId": their_pid},
        )
        assert mine.status_code == 200  # the same ids under their own clinic's slug
        assert (await anonymous.post(f"/api/public/clinics/{clinic.slug}")).status_code == 405


async def test_public_browsing_is_throttled_per_ip(
    settings: Settings, clinic: SeededClinic
) -> None:
    tight = msgspec.structs.replace(
        settings, trusted_proxies=("127.0.0.0/8",), rate_public_per_ip=Rate(3, 60)
    )
    app = create_app(tight, run_relay=False)
    me = {"X-Forwarded-For": f"203.0.113.{uuid.uuid4().int % 250 + 1}"}
    neighbour = {"X-Forwarded-For": f"2001:db8:{uuid.uuid4().int % 9999}::1"}
    async with lifespan(app.app), client_for(app) as client:
        page = f"/api/public/clinics/{clinic.slug}"
        statuses = [
            (await client.get(page, headers=me)).status_code,
            (await client.get("/api/public/clinics/no-such", headers=me)).status_code,
            (await client.get(page + "/availability", headers=me)).status_code,
        ]
        refused = await client.get(page, headers=me)
        other = await client.get(page, headers=neighbour)
    assert statuses == [200, 404, 400]  # every request counts, whatever its answer
    assert refused.status_code == 429
    assert refused.json()["type"] == "/problems/rate-limited"
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert other.status_code == 200


async def test_nothing_else_is_public(app: EdgeMiddleware) -> None:
    """Every GET route of the OpenAPI document needs a session, but health and public."""
    async with client_for(app) as anonymous:
        opened = []
        for op in await operations(anonymous):
            if op.method != "GET":
                continue  # tests/api/test_login_csrf.py sweeps the POST routes
            response = await anonymous.get(op.path)
            if response.status_code != 401:
                opened.append(op.operation_id)
    assert sorted(opened) == [
        "getPublicAvailability",  # 400: no serviceId
        "getPublicClinic",  # 404: no such slug
        "health",
        "healthLive",
    ]


async def test_a_slug_unknown_a_moment_ago_is_found_once_its_clinic_exists(
    app: EdgeMiddleware,
) -> None:
    """Slugs are remembered per process once found (a slug never changes); a miss is not."""
    slug = f"later-{uuid.uuid4().hex[:10]}"
    async with client_for(app) as visitor:
        assert (await visitor.get(f"/api/public/clinics/{slug}")).status_code == 404
        clinic = await seed_clinic((), slug=slug)
        page = await visitor.get(f"/api/public/clinics/{slug}")
        assert page.status_code == 200, page.text
        assert page.json()["clinic"]["slug"] == clinic.slug
        again = await visitor.get(f"/api/public/clinics/{slug}")  # from the process's memory
        assert again.json() == page.json()
