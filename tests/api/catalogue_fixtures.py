"""Build a small catalogue over the API (as an admin client) and return its ids."""

from __future__ import annotations

import uuid

import httpx

from tests.api.auth_fixtures import csrf


async def seed_catalogue(admin: httpx.AsyncClient) -> dict[str, uuid.UUID]:
    async def post(path: str, body: object) -> dict[str, str]:
        response = await admin.post(path, json=body, headers=csrf(admin))
        assert response.status_code == 201, response.text
        result: dict[str, str] = response.json()
        return result

    service = await post(
        "/api/scheduling/services",
        {"name": "Cleaning", "durationMinutes": 45, "priceAmount": 15000},
    )
    provider = await post(
        "/api/scheduling/providers",
        {"firstName": "Ana", "lastName": "Lima", "serviceIds": [service["id"]]},
    )
    time_off = await post(
        f"/api/scheduling/providers/{provider['id']}/time-off",
        {"start": "2031-01-05T09:00:00-03:00", "end": "2031-01-05T12:00:00-03:00"},
    )
    closure = await post(
        "/api/scheduling/closures",
        {"start": "2031-12-25T00:00:00-03:00", "end": "2031-12-26T00:00:00-03:00"},
    )
    return {
        "service_id": uuid.UUID(service["id"]),
        "provider_id": uuid.UUID(provider["id"]),
        "time_off_id": uuid.UUID(time_off["id"]),
        "closure_id": uuid.UUID(closure["id"]),
    }
