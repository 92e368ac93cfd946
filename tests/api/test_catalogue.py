"""SPEC §5 catalogue: providers, services, working hours, time off, closures; roles (§2)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.auth_fixtures import SeededClinic, csrf
from tests.conftest import client_for
from topsmile.core import db
from topsmile.core.middleware import EdgeMiddleware


async def _post(client: httpx.AsyncClient, path: str, body: object, status: int = 201) -> dict:  # type: ignore[type-arg]
    response = await client.post(path, json=body, headers=csrf(client))
    assert response.status_code == status, response.text
    return dict(response.json())


SERVICE = {"name": "Filling", "durationMinutes": 60, "priceAmount": 25000}


async def test_service_lifecycle_and_buffers(as_role: dict[str, httpx.AsyncClient]) -> None:
    admin = as_role["admin"]
    created = await _post(
        admin,
        "/api/scheduling/services",
        {
            **SERVICE,
            "description": "Composite",
            "bufferBeforeMinutes": 0,
            "color": "#a1b2c3",
            "category": "restorative",
            "requiresApproval": True,
        },
    )
    assert created["bufferBeforeMinutes"] == 0  # 0 is a real value
    assert created["bufferAfterMinutes"] is None  # null means "use the provider's"
    assert created["color"] == "#A1B2C3"
    assert created["currency"] == "brl"
    assert created["active"] is True
    sid = created["id"]
    patched = await admin.patch(
        f"/api/scheduling/services/{sid}",
        json={"bufferBeforeMinutes": None, "priceAmount": 0},
        headers=csrf(admin),
    )
    assert patched.status_code == 200
    assert patched.json()["bufferBeforeMinutes"] is None
    assert patched.json()["priceAmount"] == 0
    assert patched.json()["name"] == "Filling"
    assert (
        await admin.delete(f"/api/scheduling/services/{sid}", headers=csrf(admin))
    ).status_code == 204
    assert (await admin.get(f"/api/scheduling/services/{sid}")).json()["active"] is False


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"durationMinutes": 4}, "durationMinutes"),
        ({"durationMinutes": 481}, "durationMinutes"),
        ({"durationMinutes": "60"}, "durationMinutes"),
        ({"priceAmount": -1}, "priceAmount"),
        ({"bufferAfterMinutes": -5}, "bufferAfterMinutes"),
        ({"color": "red"}, "color"),
        ({"color": "#12345"}, "color"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"description": "x" * 1001}, "description"),
        ({"onlineBookable": "yes"}, "onlineBookable"),
        ({"sideEffect": 1}, "sideEffect"),
    ],
)
async def test_service_validation(
    as_role: dict[str, httpx.AsyncClient], change: dict[str, object], field: str
) -> None:
    response = await as_role["admin"].post(
        "/api/scheduling/services", json={**SERVICE, **change}, headers=csrf(as_role["admin"])
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == field


async def test_provider_lifecycle(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    manager = as_role["manager"]
    service = await _post(manager, "/api/scheduling/services", SERVICE)
    provider = await _post(
        manager,
        "/api/scheduling/providers",
        {
            "firstName": "Bruno",
            "lastName": "Costa",
            "email": "Bruno@Clinic.example",
            "specialty": "Orthodontics",
            "serviceIds": [service["id"]],
            "bufferAfterMinutes": 10,
            "userId": str(clinic.users["provider"]),
        },
    )
    assert provider["serviceIds"] == [service["id"]]
    assert provider["email"] == "bruno@clinic.example"
    assert provider["bufferBeforeMinutes"] == 0
    assert provider["bufferAfterMinutes"] == 10
    pid = provider["id"]
    patched = await manager.patch(
        f"/api/scheduling/providers/{pid}",
        json={"serviceIds": [], "specialty": None},
        headers=csrf(manager),
    )
    assert patched.status_code == 200
    assert patched.json()["serviceIds"] == []
    assert patched.json()["specialty"] is None
    assert patched.json()["lastName"] == "Costa"
    unknown = await manager.patch(
        f"/api/scheduling/providers/{pid}",
        json={"serviceIds": [str(uuid.uuid4())]},
        headers=csrf(manager),
    )
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["field"] == "serviceIds"
    patient_user = await manager.post(
        "/api/scheduling/providers",
        json={"firstName": "X", "lastName": "Y", "userId": str(clinic.users["patient"])},
        headers=csrf(manager),
    )
    assert patient_user.status_code == 400
    assert (
        await manager.delete(f"/api/scheduling/providers/{pid}", headers=csrf(manager))
    ).status_code == 204
    assert (await manager.get(f"/api/scheduling/providers/{pid}")).json()["active"] is False
    assert (await as_role["patient"].get(f"/api/scheduling/providers/{pid}")).status_code == 404
    assert pid not in [
        p["id"] for p in (await as_role["patient"].get("/api/scheduling/providers")).json()
    ]


async def test_working_hours_with_breaks_and_validation(
    as_role: dict[str, httpx.AsyncClient],
) -> None:
    admin = as_role["admin"]
    provider = await _post(admin, "/api/scheduling/providers", {"firstName": "C", "lastName": "D"})
    url = f"/api/scheduling/providers/{provider['id']}/working-hours"
    week = [
        {"weekday": 1, "start": "08:00", "end": "12:00"},
        {"weekday": 1, "start": "13:00", "end": "17:00"},
        {"weekday": 1, "start": "12:00", "end": "13:00"},  # touching is fine
        {"weekday": 7, "start": "09:00", "end": "24:00"},
    ]
    response = await admin.put(url, json=week, headers=csrf(admin))
    assert response.status_code == 200, response.text
    assert response.json()[0] == {"weekday": 1, "start": "08:00", "end": "12:00"}
    assert (await admin.get(url)).json()[-1] == {"weekday": 7, "start": "09:00", "end": "24:00"}
    bad_cases = [
        [
            {"weekday": 2, "start": "08:00", "end": "12:00"},
            {"weekday": 2, "start": "11:00", "end": "14:00"},
        ],
        [{"weekday": 0, "start": "08:00", "end": "12:00"}],
        [{"weekday": 8, "start": "08:00", "end": "12:00"}],
        [{"weekday": 3, "start": "12:00", "end": "08:00"}],
        [{"weekday": 3, "start": "8:00", "end": "12:00"}],
        [{"weekday": 3, "start": "08:60", "end": "12:00"}],
        [{"weekday": "3", "start": "08:00", "end": "12:00"}],
        [{"weekday": 3, "start": "08:00", "end": "12:00", "room": 2}],
    ]
    for bad in bad_cases:
        assert (await admin.put(url, json=bad, headers=csrf(admin))).status_code == 400, bad
    assert len((await admin.get(url)).json()) == 4  # nothing changed
    assert (await admin.put(url, json=[], headers=csrf(admin))).json() == []


async def test_time_off_rules_and_ownership(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin, provider_client = as_role["admin"], as_role["provider"]
    own = await _post(
        admin,
        "/api/scheduling/providers",
        {"firstName": "Own", "lastName": "P", "userId": str(clinic.users["provider"])},
    )
    other = await _post(admin, "/api/scheduling/providers", {"firstName": "Other", "lastName": "P"})
    body = {
        "start": "2030-03-10T09:00:00-03:00",
        "end": "2030-03-10T18:00:00-03:00",
        "reason": "Congress",
    }
    mine = await _post(provider_client, f"/api/scheduling/providers/{own['id']}/time-off", body)
    assert mine["start"] == "2030-03-10T12:00:00Z"
    assert mine["reason"] == "Congress"
    forbidden = await provider_client.post(
        f"/api/scheduling/providers/{other['id']}/time-off",
        json=body,
        headers=csrf(provider_client),
    )
    assert forbidden.status_code == 403
    receptionist = await as_role["receptionist"].post(
        f"/api/scheduling/providers/{own['id']}/time-off",
        json=body,
        headers=csrf(as_role["receptionist"]),
    )
    assert receptionist.status_code == 403
    naive = await admin.post(
        f"/api/scheduling/providers/{other['id']}/time-off",
        json={"start": "2030-03-10T09:00:00", "end": "2030-03-10T18:00:00"},
        headers=csrf(admin),
    )
    assert naive.status_code == 400
    backwards = await admin.post(
        f"/api/scheduling/providers/{other['id']}/time-off",
        json={"start": body["end"], "end": body["start"]},
        headers=csrf(admin),
    )
    assert backwards.status_code == 400
    seen_by_patient = (
        await as_role["patient"].get(f"/api/scheduling/providers/{own['id']}/time-off")
    ).json()
    assert seen_by_patient == [
        {"id": mine["id"], "start": mine["start"], "end": mine["end"], "providerId": own["id"]}
    ]
    url = f"/api/scheduling/providers/{own['id']}/time-off/{mine['id']}"
    assert (await provider_client.delete(url, headers=csrf(provider_client))).status_code == 204
    assert (await provider_client.delete(url, headers=csrf(provider_client))).status_code == 404


async def test_closures(as_role: dict[str, httpx.AsyncClient]) -> None:
    admin = as_role["admin"]
    closure = await _post(
        admin,
        "/api/scheduling/closures",
        {
            "start": "2030-12-24T12:00:00-03:00",
            "end": "2030-12-26T00:00:00-03:00",
            "reason": "Holidays",
        },
    )
    listed = (await as_role["receptionist"].get("/api/scheduling/closures")).json()
    assert [c["id"] for c in listed] == [closure["id"]]
    assert listed[0]["reason"] == "Holidays"
    assert "reason" not in (await as_role["patient"].get("/api/scheduling/closures")).json()[0]
    assert (
        await as_role["receptionist"].delete(
            f"/api/scheduling/closures/{closure['id']}", headers=csrf(as_role["receptionist"])
        )
    ).status_code == 403
    assert (
        await admin.delete(f"/api/scheduling/closures/{closure['id']}", headers=csrf(admin))
    ).status_code == 204
    assert (await admin.get("/api/scheduling/closures")).json() == []


async def test_patients_see_only_bookable_services_and_public_provider_fields(
    as_role: dict[str, httpx.AsyncClient],
) -> None:
    admin, patient = as_role["admin"], as_role["patient"]
    bookable = await _post(admin, "/api/scheduling/services", SERVICE)
    hidden = await _post(
        admin, "/api/scheduling/services", {**SERVICE, "name": "Sedation", "onlineBookable": False}
    )
    retired = await _post(admin, "/api/scheduling/services", {**SERVICE, "name": "Old"})
    await admin.delete(f"/api/scheduling/services/{retired['id']}", headers=csrf(admin))
    assert [s["id"] for s in (await patient.get("/api/scheduling/services")).json()] == [
        bookable["id"]
    ]
    for sid in (hidden["id"], retired["id"]):
        assert (await patient.get(f"/api/scheduling/services/{sid}")).status_code == 404
    assert len((await as_role["provider"].get("/api/scheduling/services")).json()) == 3
    await _post(
        admin,
        "/api/scheduling/providers",
        {"firstName": "E", "lastName": "F", "email": "e@x.example", "serviceIds": [bookable["id"]]},
    )
    [seen] = (await patient.get("/api/scheduling/providers")).json()
    assert set(seen) == {"id", "firstName", "lastName", "specialty", "serviceIds"}


@pytest.mark.parametrize("role", ["receptionist", "provider", "patient"])
async def test_catalogue_writes_are_forbidden_for(
    as_role: dict[str, httpx.AsyncClient], role: str
) -> None:
    client = as_role[role]
    some_id = uuid.uuid4()
    attempts = [
        client.post("/api/scheduling/services", json=SERVICE, headers=csrf(client)),
        client.patch(f"/api/scheduling/services/{some_id}", json={}, headers=csrf(client)),
        client.delete(f"/api/scheduling/services/{some_id}", headers=csrf(client)),
        client.post(
            "/api/scheduling/providers",
            json={"firstName": "a", "lastName": "b"},
            headers=csrf(client),
        ),
        client.patch(f"/api/scheduling/providers/{some_id}", json={}, headers=csrf(client)),
        client.delete(f"/api/scheduling/providers/{some_id}", headers=csrf(client)),
        client.put(
            f"/api/scheduling/providers/{some_id}/working-hours", json=[], headers=csrf(client)
        ),
        client.post(
            "/api/scheduling/closures",
            json={"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"},
            headers=csrf(client),
        ),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 403, response.request.url


async def test_catalogue_needs_a_session(app: EdgeMiddleware) -> None:
    async with client_for(app) as anonymous:
        for path in (
            "/api/scheduling/services",
            "/api/scheduling/providers",
            "/api/scheduling/closures",
        ):
            assert (await anonymous.get(path)).status_code == 401


async def test_deactivated_provider_rows_are_kept(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin = as_role["admin"]
    provider = await _post(admin, "/api/scheduling/providers", {"firstName": "G", "lastName": "H"})
    await admin.delete(f"/api/scheduling/providers/{provider['id']}", headers=csrf(admin))
    async with db.tenant_transaction(clinic.id):
        rows = await db.fetch(
            "SELECT active FROM provider WHERE id = {}", uuid.UUID(provider["id"])
        )
    assert [dict(r) for r in rows] == [{"active": False}]
