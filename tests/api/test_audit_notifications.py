"""SPEC §7: the audit log (admin) and the notifications log (front desk), with filters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    Clinic,
    add_user,
    audit_pending_events,
    csrf,
    signed_in_as,
    signup,
)
from tests.conftest import client_for
from topsmile.audit.service import record
from topsmile.core import db
from topsmile.core.errors import ValidationError
from topsmile.core.middleware import EdgeMiddleware
from topsmile.core.ranges import parse_range

SAO_PAULO = "America/Sao_Paulo"


@pytest.fixture
async def clinic(client: httpx.AsyncClient) -> Clinic:
    """A new clinic in America/Sao_Paulo; `client` is its admin."""
    return await signup(client)


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{code}"
    return body


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --- The range parser -------------------------------------------------------------------------


def test_dates_are_clinic_local_and_inclusive() -> None:
    start, end = parse_range("2030-01-07", "2030-01-07", SAO_PAULO)
    assert start == _utc("2030-01-07T03:00:00Z")
    assert end == _utc("2030-01-08T03:00:00Z")


def test_instants_keep_their_offset_and_absent_bounds_are_open() -> None:
    start, end = parse_range("2030-01-07T10:00:00+02:00", None, SAO_PAULO)
    assert (start, end) == (_utc("2030-01-07T08:00:00Z"), None)
    # An unencoded "+" reaches us as a space.
    assert parse_range(None, "2030-01-07T10:00:00 02:00", SAO_PAULO)[1] == start


def test_a_skipped_midnight_starts_the_day_after_the_gap() -> None:
    # São Paulo jumped from 00:00 to 01:00 on 2018-11-04 (-03 to -02).
    start, end = parse_range("2018-11-04", "2018-11-04", SAO_PAULO)
    assert start == _utc("2018-11-04T03:00:00Z")
    assert end == _utc("2018-11-05T02:00:00Z")
    # Havana also skips 00:00-01:00 (-05 to -04).
    assert parse_range("2024-03-10", None, "America/Havana")[0] == _utc("2024-03-10T05:00:00Z")


@pytest.mark.parametrize(
    ("from_", "to", "field"),
    [
        ("2030-01-07T10:00:00", None, "from"),
        (None, "2030-01-07T10:00", "to"),
        ("yesterday", None, "from"),
        ("2030-02-30", None, "from"),
        ("2030-01-08", "2030-01-07", "to"),
        ("9999-12-31", "9999-12-31", "to"),
    ],
)
def test_bad_bounds_name_their_field(from_: str | None, to: str | None, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_range(from_, to, SAO_PAULO)
    assert raised.value.errors is not None
    assert raised.value.errors[0].field == field


# --- GET /api/audit ------------------------------------------------------------------------


async def test_events_become_audit_entries_newest_first(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    user = await add_user(client, clinic, "receptionist")
    response = await client.patch(
        f"/api/users/{user['id']}",
        json={"role": "manager"},
        headers={**csrf(client), "X-Request-ID": "role-change-1"},
    )
    assert response.status_code == 200, response.text
    assert await audit_pending_events(clinic.id) >= 3

    page = _ok(await client.get("/api/audit"))
    actions = [item["action"] for item in page["items"]]
    assert actions[0] == "user.role_changed"
    assert actions[-1] == "clinic.created"
    assert {"user.created"} <= set(actions)
    assert page["total"] == len(actions)
    newest = page["items"][0]
    assert newest["details"] == {"from": "receptionist", "to": "manager"}
    assert newest["actorId"] == str(clinic.admin_id)
    assert newest["actorRole"] == "admin"
    assert (newest["entityType"], newest["entityId"]) == ("user", user["id"])
    assert newest["requestId"] == "role-change-1"
    assert newest["at"].endswith("Z")
    assert set(newest) <= {
        "id",
        "at",
        "actorId",
        "actorRole",
        "action",
        "entityType",
        "entityId",
        "requestId",
        "ip",
        "details",
    }
    ats = [item["at"] for item in page["items"]]
    assert ats == sorted(ats, reverse=True)

    filtered = _ok(
        await client.get(
            "/api/audit",
            params={"action": "user.role_changed", "entityType": "user", "entityId": user["id"]},
        )
    )
    assert [i["id"] for i in filtered["items"]] == [newest["id"]]
    by_actor = _ok(await client.get("/api/audit", params={"actorId": str(clinic.admin_id)}))
    assert {i["actorId"] for i in by_actor["items"]} == {str(clinic.admin_id)}
    assert "user.role_changed" in [i["action"] for i in by_actor["items"]]
    nobody = _ok(await client.get("/api/audit", params={"actorId": str(uuid.uuid4())}))
    assert (nobody["items"], nobody["total"]) == ([], 0)


async def _mark(clinic_id: uuid.UUID, *instants: str) -> None:
    async with db.tenant_transaction(clinic_id):
        for instant in instants:
            await record(
                clinic_id=clinic_id,
                action="test.marker",
                entity_type="test",
                entity_id=instant,
                at=_utc(instant),
                details={"n": 1},
            )


async def test_date_and_instant_ranges(client: httpx.AsyncClient, clinic: Clinic) -> None:
    instants = [
        "2030-01-07T02:59:59Z",  # 23:59:59 on the 6th in São Paulo
        "2030-01-07T03:00:00Z",  # 00:00 on the 7th
        "2030-01-08T02:59:00Z",  # 23:59 on the 7th
        "2030-01-08T03:00:00Z",  # 00:00 on the 8th
    ]
    await _mark(clinic.id, *instants)

    async def entity_ids(**params: str) -> list[str]:
        page = _ok(await client.get("/api/audit", params={"action": "test.marker", **params}))
        return [item["entityId"] for item in page["items"]]

    assert await entity_ids() == instants[::-1]
    assert await entity_ids(**{"from": "2030-01-07", "to": "2030-01-07"}) == instants[2:0:-1]
    assert await entity_ids(**{"from": "2030-01-08"}) == [instants[3]]
    assert await entity_ids(to="2030-01-06") == [instants[0]]
    half_open = {"from": "2030-01-07T00:00:00-03:00", "to": "2030-01-08T02:59:00Z"}
    assert await entity_ids(**half_open) == [instants[1]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2030-01-07T10:00:00", "from"),
        ("to=2030-01-07T10:00", "to"),
        ("from=2030-13-01", "from"),
        ("from=2030-01-08&to=2030-01-07", "to"),
        ("actorId=not-a-uuid", "actorId"),
    ],
)
async def test_bad_audit_filters_are_400(
    client: httpx.AsyncClient, clinic: Clinic, query: str, field: str
) -> None:
    body = _problem(await client.get(f"/api/audit?{query}"), 400, "validation-error")
    assert field in [e["field"] for e in body["errors"]]


async def test_audit_is_per_clinic(client: httpx.AsyncClient, app: EdgeMiddleware) -> None:
    mine = await signup(client)
    await _mark(mine.id, "2031-05-05T12:00:00Z")
    async with client_for(app) as other:
        theirs = await signup(other)
        await _mark(theirs.id, "2031-05-05T12:00:00Z", "2031-05-06T12:00:00Z")
        page = _ok(await other.get("/api/audit", params={"action": "test.marker"}))
    assert page["total"] == 2
    assert _ok(await client.get("/api/audit", params={"action": "test.marker"}))["total"] == 1


@pytest.mark.parametrize("role", ["manager", "receptionist", "provider", "patient"])
async def test_audit_is_admin_only(
    client: httpx.AsyncClient, app: EdgeMiddleware, clinic: Clinic, role: str
) -> None:
    async with signed_in_as(app, client, clinic, role) as other:
        _problem(await other.get("/api/audit"), 403, "forbidden")
    async with client_for(app) as anonymous:
        _problem(await anonymous.get("/api/audit"), 401, "unauthenticated")


# --- GET /api/notifications ----------------------------------------------------------------


async def _notify(clinic_id: uuid.UUID, rows: list[dict[str, Any]]) -> list[uuid.UUID]:
    """Insert notification log rows, oldest first (one second apart)."""
    base = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
    ids = []
    async with db.tenant_transaction(clinic_id):
        for n, row in enumerate(rows):
            [inserted] = await db.fetch(
                "INSERT INTO notification (clinic_id, event_id, request_id, appointment_id,"
                " patient_id, channel, template, recipient, status, attempts, sent_at, error,"
                " created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})"
                " RETURNING id",
                clinic_id,
                uuid.uuid4(),
                f"req-{n}",
                row.get("appointment_id"),
                row.get("patient_id"),
                row["channel"],
                row.get("template", "appointment_confirmation"),
                row.get("recipient", "ana@example.com"),
                row["status"],
                row.get("attempts", 1),
                base if row["status"] == "sent" else None,
                row.get("error"),
                base + timedelta(seconds=n),
            )
            ids.append(inserted["id"])
    return ids


async def test_notifications_filters_and_shape(client: httpx.AsyncClient, clinic: Clinic) -> None:
    appointment, patient = uuid.uuid4(), uuid.uuid4()
    ids = await _notify(
        clinic.id,
        [
            {"channel": "email", "status": "sent", "appointment_id": appointment},
            {"channel": "sms", "status": "failed", "patient_id": patient, "error": "timeout"},
            {"channel": "email", "status": "dead", "appointment_id": appointment, "attempts": 5},
            {"channel": "email", "status": "skipped", "template": "verify_email"},
        ],
    )

    async def listed(**params: str) -> list[str]:
        page = _ok(await client.get("/api/notifications", params=params))
        assert page["total"] == len(page["items"])
        return [item["id"] for item in page["items"]]

    assert await listed() == [str(i) for i in ids[::-1]]
    assert await listed(appointmentId=str(appointment)) == [str(ids[2]), str(ids[0])]
    assert await listed(patientId=str(patient)) == [str(ids[1])]
    assert await listed(channel="sms") == [str(ids[1])]
    assert await listed(status="dead", channel="email") == [str(ids[2])]
    assert await listed(status="queued") == []

    paged = _ok(await client.get("/api/notifications", params={"pageSize": 1, "page": 2}))
    assert ([i["id"] for i in paged["items"]], paged["total"]) == ([str(ids[2])], 4)

    items = {i["id"]: i for i in _ok(await client.get("/api/notifications"))["items"]}
    sent = items[str(ids[0])]
    assert sent == {
        "id": str(ids[0]),
        "eventId": sent["eventId"],
        "requestId": "req-0",
        "appointmentId": str(appointment),
        "channel": "email",
        "template": "appointment_confirmation",
        "recipient": "ana@example.com",
        "status": "sent",
        "attempts": 1,
        "sentAt": "2030-03-01T12:00:00Z",
    }
    failed = items[str(ids[1])]
    assert (failed["error"], failed["patientId"]) == ("timeout", str(patient))
    assert "sentAt" not in failed
    assert "appointmentId" not in failed


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("channel=fax", "channel"),
        ("status=delivered", "status"),
        ("appointmentId=42", "appointmentId"),
        ("patientId=x", "patientId"),
        ("pageSize=500", "pageSize"),
    ],
)
async def test_bad_notification_filters_are_400(
    client: httpx.AsyncClient, clinic: Clinic, query: str, field: str
) -> None:
    body = _problem(await client.get(f"/api/notifications?{query}"), 400, "validation-error")
    assert field in [e["field"] for e in body["errors"]]


@pytest.mark.parametrize("role", ["manager", "receptionist"])
async def test_front_desk_reads_notifications(
    client: httpx.AsyncClient, app: EdgeMiddleware, clinic: Clinic, role: str
) -> None:
    [note] = await _notify(clinic.id, [{"channel": "email", "status": "queued"}])
    async with signed_in_as(app, client, clinic, role) as other:
        response = await other.get("/api/notifications")
    assert [i["id"] for i in _ok(response)["items"]] == [str(note)]


@pytest.mark.parametrize("role", ["provider", "patient"])
async def test_providers_and_patients_may_not_read_notifications(
    client: httpx.AsyncClient, app: EdgeMiddleware, clinic: Clinic, role: str
) -> None:
    async with signed_in_as(app, client, clinic, role) as other:
        _problem(await other.get("/api/notifications"), 403, "forbidden")


async def test_notifications_are_per_clinic(client: httpx.AsyncClient, app: EdgeMiddleware) -> None:
    mine = await signup(client)
    await _notify(mine.id, [{"channel": "email", "status": "sent"}])
    async with client_for(app) as other:
        theirs = await signup(other)
        await _notify(theirs.id, [{"channel": "sms", "status": "sent"}] * 2)
        assert _ok(await other.get("/api/notifications"))["total"] == 2
    assert _ok(await client.get("/api/notifications"))["total"] == 1
